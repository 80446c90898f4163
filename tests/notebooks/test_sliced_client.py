"""The book's executor waits for kernel messages in slices (tools/sliced_client.py).

The stall it removes: a poll whose wake-up is missed ends only at its timer, and then returns the
message that had long arrived (pyzmq's asyncio poller polls once more when its timer fires). The
fake channel below behaves that way: a message that arrives while a poll is pending is seen only
when that poll's timer fires; a poll that starts after it arrived sees it at once. The control is
the same fake without slices, which must lose the whole timeout: the test would be meaningless if
the fake did not stall.
"""

import asyncio
import sys
from pathlib import Path
from queue import Empty
from time import monotonic

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from sliced_client import (  # noqa: E402
    SlicedChannel,
    SlicedKernelClient,
    SlicedKernelManager,
    SlicedWaitMixin,
)


class MissedWakeupChannel:
    """A channel whose poll never wakes for a message that arrives while it waits."""

    def __init__(self, arrives_after: float | None):
        self.arrives_at = None if arrives_after is None else monotonic() + arrives_after
        self.polls = 0

    def _arrived(self) -> bool:
        return self.arrives_at is not None and monotonic() >= self.arrives_at

    async def get_msg(self, timeout=None):
        self.polls += 1
        if self._arrived():
            return {"msg": "reply"}
        # The wake-up is missed: only the timer ends the wait, then one non-blocking look.
        if timeout is None:
            await asyncio.sleep(3600)
        await asyncio.sleep(timeout)
        if self._arrived():
            return {"msg": "reply"}
        raise Empty


class Sliced(SlicedWaitMixin, MissedWakeupChannel):
    slice_s = 0.1


def timed(channel, timeout):
    async def go():
        begin = monotonic()
        try:
            msg = await channel.get_msg(timeout=timeout)
        except Empty:
            msg = None
        return msg, monotonic() - begin

    return asyncio.run(go())


def test_control_a_missed_wakeup_loses_the_whole_timeout():
    msg, waited = timed(MissedWakeupChannel(arrives_after=0.05), timeout=1.5)
    assert msg == {"msg": "reply"}, "the fake must deliver the message at its timer"
    assert waited >= 1.4, f"the fake should stall for the whole timeout, waited {waited:.2f} s"


def test_slices_bound_a_missed_wakeup_to_one_slice():
    channel = Sliced(arrives_after=0.05)
    msg, waited = timed(channel, timeout=1.5)
    assert msg == {"msg": "reply"}
    assert waited < 0.75, f"waited {waited:.2f} s, more than a few 0.1 s slices"
    assert channel.polls >= 1


def test_a_real_timeout_still_raises_at_the_deadline():
    channel = Sliced(arrives_after=None)
    msg, waited = timed(channel, timeout=0.55)
    assert msg is None, "no message arrived: Empty must reach the caller"
    assert 0.5 <= waited < 1.4, f"Empty came after {waited:.2f} s, not at the 0.55 s deadline"
    assert channel.polls >= 5, f"{channel.polls} polls for 0.55 s in 0.1 s slices"


def test_no_timeout_keeps_waiting_in_slices_until_the_message():
    channel = Sliced(arrives_after=0.35)
    msg, waited = timed(channel, timeout=None)
    assert msg == {"msg": "reply"}
    assert 0.3 <= waited < 1.4, f"waited {waited:.2f} s for a message due at 0.35 s"


@pytest.mark.parametrize("bad", [-1, -0.5, True])
def test_bad_timeout_is_refused(bad):
    with pytest.raises(ValueError, match="timeout"):
        timed(Sliced(arrives_after=0.0), timeout=bad)


def test_the_executor_uses_the_sliced_client():
    import execute_chapters

    source = Path(execute_chapters.__file__).read_text()
    assert "kernel_manager_class=_pausable_manager(lock)" in source
    assert execute_chapters._pausable_manager(None) is SlicedKernelManager
    assert issubclass(execute_chapters._pausable_manager(object()), SlicedKernelManager)
    km = SlicedKernelManager()
    client = km.client()
    assert isinstance(client, SlicedKernelClient)
    assert issubclass(client.shell_channel_class, SlicedChannel)
    assert issubclass(client.iopub_channel_class, SlicedChannel)


def test_a_message_caught_by_a_slice_timer_is_counted_and_a_prompt_one_is_not():
    from sliced_client import late_messages

    late_messages(reset=True)
    timed(Sliced(arrives_after=0.0), timeout=1.0)  # there before the poll: seen at once
    assert late_messages() == 0
    timed(Sliced(arrives_after=0.05), timeout=1.0)  # missed wake-up, caught at 0.1 s
    assert late_messages(reset=True) == 1
    assert late_messages() == 0


def test_the_log_line_reports_late_messages():
    from execute_chapters import describe_timing

    timing = {"slowest": [(3, 1.0)], "in_cells": 1.0}
    assert "wait slice" not in describe_timing({**timing, "late_messages": 0})
    assert "2 message(s) came only as" in describe_timing({**timing, "late_messages": 2})
