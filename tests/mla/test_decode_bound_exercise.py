"""Exercise 3.3's check (`decode_bound`): the reference passes, and each slip fails where its own
message names it."""

from dataclasses import replace

import pytest

from labs.mla import attention_flops_and_bytes
from labs.mla.exercises import check_decode_bound
from tests.grading.solutions.mla import decode_bound as reference


def _bound(
    *, absorbed=True, tp="split", shortcut=False, split_kv=True, whole_kv=True, inverted=False
):
    """decode_bound, right by default; each keyword plants one slip."""

    def decode_bound(config, tensor_parallel, peak_flops_per_s, peak_bytes_per_s):
        devices = 1 if tp == "ignored" else tensor_parallel
        heads = config.n_heads // devices
        if config.kind == "mla" and shortcut:
            intensity = 2 * heads  # FlashMLA's rounded 2 h_q s_q
        elif config.kind == "mla":
            local = replace(config, n_heads=heads, n_kv_heads=None)
            flops, nbytes = attention_flops_and_bytes(local, "decode", 1024, absorbed=absorbed)
            if tp == "bytes split too":
                nbytes /= tensor_parallel  # as if each device read its share of the latent
            intensity = flops / nbytes
        else:
            kv = config.n_kv_heads / devices if split_kv else config.n_kv_heads
            intensity = heads / (max(1, kv) if whole_kv else kv)
        ridge = peak_flops_per_s / peak_bytes_per_s
        if inverted:
            ridge = peak_bytes_per_s / peak_flops_per_s  # the ridge point upside down
        return "compute" if intensity > ridge else "memory"

    return decode_bound


def test_the_reference_and_the_slip_free_solution_pass():
    assert check_decode_bound(reference).passed
    assert check_decode_bound(_bound()).passed


@pytest.mark.parametrize(
    ("wrong", "passed", "says"),
    [
        (_bound(inverted=True), 0, "your ridge point is upside down"),
        (_bound(absorbed=False), 4, "The naive path (absorbed=False)"),
        (_bound(tp="ignored"), 5, "Divide the heads by tensor_parallel, not the bytes"),
        (_bound(tp="bytes split too"), 5, "every device still reads the whole latent"),
        (_bound(shortcut=True), 6, "FlashMLA's rounded 2 n_h = 256"),
        (_bound(split_kv=False), 9, "tensor parallelism splits the KV heads too"),
        (_bound(whole_kv=False), 10, "max(1, n_kv_heads / tensor_parallel)"),
    ],
)
def test_each_slip_fails_with_its_own_message(wrong, passed, says):
    report = check_decode_bound(wrong)
    assert report.status == "failed" and report.passed_cases == passed, str(report)
    assert says in str(report), str(report)
    # the naive path is not told that tensor parallelism is its mistake
    if passed == 4:
        assert "tensor_parallel" not in str(report).split("what is wrong:")[1]
