"""A kernel client whose waits for a message are cut into short slices.

Why: about one clean `make test` in three, one chapter waited exactly 180.0 s (the `execute.timeout`
in _config.yml) between two cells and then went on as if nothing had happened. The timestamps put
the wait on the client's side: the kernel had sent the cell's reply, and the next cell reached the
kernel 180 s later. That is what a missed wake-up in pyzmq's asyncio poller looks like. nbclient
waits for a cell's reply with one `shell_channel.get_msg(timeout=<cell timeout>)`; pyzmq's
`_AsyncPoller.poll` waits for the socket's (edge-triggered) file descriptor or for its timer, and
when the timer fires it polls once more without blocking and returns whatever is ready. If the
wake-up for a reply that has arrived is missed, the poll therefore ends at the timer, finds the
reply and returns it: the whole cell timeout is lost, and nothing is raised or logged.

Here every wait is a series of polls of at most `SLICE_S` seconds each, up to the same deadline, so
a missed wake-up costs at most one slice, and a real timeout still raises `queue.Empty` at the
deadline, as before. The iopub channel gets the same treatment: nbclient waits on it with no
timeout at all, and a missed wake-up there would cut a cell's output short after the reply came.

    from sliced_client import SlicedKernelManager
    NotebookClient(nb, kernel_manager_class=SlicedKernelManager, ...)
"""

from __future__ import annotations

from queue import Empty
from time import monotonic

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from traitlets import Type, default

SLICE_S = 1.0

# One entry per message that arrived only as its slice's timer fired (see `late_messages`).
LATE: list[float] = []


def late_messages(reset: bool = False) -> int:
    """How many messages this process received only when a slice's timer fired: each is a
    wake-up that was probably missed (a message arriving just then is the other, rarer, cause)."""
    count = len(LATE)
    if reset:
        LATE.clear()
    return count


class SlicedWaitMixin:
    """`get_msg(timeout)` as a series of `get_msg(<= slice_s)` calls up to the same deadline."""

    slice_s: float = SLICE_S

    async def get_msg(self, timeout: float | None = None):
        if timeout is not None and (isinstance(timeout, bool) or timeout < 0):
            raise ValueError(f"timeout: expected None or seconds >= 0, got {timeout!r}")
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            step = self.slice_s
            if deadline is not None:
                step = max(0.0, min(step, deadline - monotonic()))
            began = monotonic()
            try:
                msg = await super().get_msg(timeout=step)
            except Empty:
                if deadline is not None and monotonic() >= deadline:
                    raise
            else:
                # A message that came only as the slice's timer fired was most likely there before:
                # a missed wake-up, which would have cost the whole timeout without slices.
                if step > 0 and monotonic() - began >= step - 0.002:
                    LATE.append(step)
                return msg


class SlicedChannel(SlicedWaitMixin, AsyncZMQSocketChannel):
    """jupyter_client's asyncio channel with sliced waits."""


class SlicedKernelClient(AsyncKernelClient):
    """An asyncio kernel client whose shell and iopub channels wait in slices."""

    shell_channel_class = Type(SlicedChannel)
    iopub_channel_class = Type(SlicedChannel)


class SlicedKernelManager(AsyncKernelManager):
    """The asyncio kernel manager nbclient uses, handing out `SlicedKernelClient`s."""

    @default("client_factory")
    def _sliced_client_factory(self):
        return SlicedKernelClient
