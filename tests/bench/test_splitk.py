"""labs.bench.splitk: the split-K merge's bytes, the modelled step time, the softmax's exps."""

from __future__ import annotations

import numpy as np
import pytest

from labs.bench.cases import attention_numpy
from labs.bench.splitk import (
    _decode_partials,
    _merge_partials,
    best_splits,
    cache_read_waves,
    softmax_exps,
    split_decode_seconds,
    split_merge_bytes,
)

H100 = {"sms": 132, "peak_tflops": 989.5, "memory_gbs": 3350.0}


def test_merge_bytes_by_hand():
    # B=2, S=10, K=5, H=3, d_c=4, d_h^R=2, BF16 cache, FP32 partials:
    # merge 2 * 2 * 5 * 3 * (4 + 2) * 4 = 1440 bytes; cache 2 * 10 * 6 * 2 = 240;
    # decode (R3): 240 + queries 2*3*6*2 = 72 + output 2*3*4*4 = 96 -> 408
    got = split_merge_bytes(2, 10, 5, heads=3, latent=4, rope=2)
    assert got["merge_bytes"] == 1440 and got["cache_bytes"] == 240
    assert got["decode_bytes"] == 408
    assert got["merge_fraction"] == pytest.approx(1440 / 1848)
    assert got["merge_to_cache"] == pytest.approx(6.0)
    # one split: nothing to merge
    assert split_merge_bytes(2, 10, 1, heads=3, latent=4, rope=2)["merge_bytes"] == 0


def test_v3_merge_equals_the_cache_at_457_tokens_per_split():
    # 2 * 128 * 514 * 4 / (576 * 2) = 526336 / 1152 = 456.9 tokens per split
    per_split = 2 * 128 * 514 * 4 / 1152
    just_above = split_merge_bytes(3, 457 * 8, 8)["merge_to_cache"]
    just_below = split_merge_bytes(3, 456 * 8, 8)["merge_to_cache"]
    assert just_above < 1 < just_below
    assert split_merge_bytes(1, 4096, 8)["merge_to_cache"] == pytest.approx(8 * per_split / 4096)
    # the batch does not move the ratio
    assert split_merge_bytes(64, 4096, 8)["merge_to_cache"] == pytest.approx(8 * per_split / 4096)


def test_step_time_by_hand():
    # B=1, S=32768, H=128 in one program, K=66 on 132 SMs: half the SMs busy, so twice the
    # memory-bound time of (R3) (the decode is memory-bound on an H100), plus the merge's bytes
    cache = 32768 * 576 * 2
    r3 = cache + 128 * 576 * 2 + 128 * 512 * 4
    merge = 2 * 66 * 128 * 514 * 4
    want = 2 * r3 / 3350e9 + merge / 3350e9
    assert split_decode_seconds(1, 32768, 66, **H100) == pytest.approx(want)
    # 264 programs: two full waves, no idle SM
    want_264 = r3 / 3350e9 + 2 * 264 * 128 * 514 * 4 / 3350e9
    assert split_decode_seconds(1, 32768, 264, **H100) == pytest.approx(want_264)


def test_splitting_pays_at_batch_one_and_not_at_a_full_device():
    small = best_splits(1, 32768, **H100, max_splits=256)
    assert 1 < small < 132  # the merge's bytes stop it before one program per SM
    t1 = split_decode_seconds(1, 32768, 1, **H100)
    assert t1 / split_decode_seconds(1, 32768, small, **H100) > 10
    # 128 sequences already fill 128 of 132 SMs: a second wave gains nothing, the merge costs
    assert best_splits(128, 32768, **H100, max_splits=8) == 1
    # 16 heads per program: 8 programs per sequence, so 16 sequences fill the device
    assert best_splits(16, 32768, **H100, heads_per_program=16, max_splits=8) == 1
    assert best_splits(2, 32768, **H100, heads_per_program=16, max_splits=64) > 1


def test_softmax_exps_by_hand():
    assert softmax_exps(2, 100, heads=8) == 1600
    assert softmax_exps(2, 100, heads=8, splits=4) == 1600 + 64


def test_split_decode_matches_attention_and_the_jax_merge():
    """The NumPy split decode, merged, equals one softmax over all tokens (float64), and the
    package's JAX merge (`labs.mla.pallas._combine`) gives the same from the same partials."""
    jnp = pytest.importorskip("jax.numpy")
    from labs.mla.pallas import _combine

    rng = np.random.default_rng(0)
    h, c, r, s = 4, 16, 8, 37
    q, qr = rng.standard_normal((h, c)), rng.standard_normal((h, r))
    ckv, kr = rng.standard_normal((s, c)), rng.standard_normal((s, r))
    want = attention_numpy(q, qr, ckv, kr, s, 0.2)
    for splits in (1, 3, 8):
        acc, m, l = _decode_partials(q, qr, ckv, kr, 0.2, splits)  # noqa: E741
        got = _merge_partials(acc, m, l)
        assert np.abs(got - want).max() < 1e-12
        jax_out = _combine(
            jnp.asarray(acc[None], jnp.float32),
            jnp.asarray(m[None, ..., None], jnp.float32),
            jnp.asarray(l[None, ..., None], jnp.float32),
        )[0]
        assert np.abs(np.asarray(jax_out, np.float64) - want).max() < 1e-4  # float32
    # the control: chunks added without rescaling to the global max are wrong
    acc, m, l = _decode_partials(q, qr, ckv, kr, 0.2, 3)  # noqa: E741
    assert np.abs(acc.sum(0) / l.sum(0)[:, None] - want).max() > 1e-3


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: split_merge_bytes(1, 8, 9), "splits"),
        (lambda: split_merge_bytes(1, 8, 0), "splits"),
        (lambda: split_merge_bytes(1, 8, 2.0), "splits"),
        (lambda: split_merge_bytes(0, 8, 2), "batch"),
        (lambda: split_merge_bytes(1, 8, 2, partial_bytes=0), "partial_bytes"),
        (lambda: split_decode_seconds(1, 64, 2, **{**H100, "sms": 0}), "sms"),
        (lambda: split_decode_seconds(1, 64, 2, **{**H100, "memory_gbs": -1}), "memory_gbs"),
        (lambda: split_decode_seconds(1, 64, 2, **H100, heads_per_program=48), "heads"),
        (lambda: split_decode_seconds(1, 64, 2, **H100, heads_per_program=256), "heads_per"),
        (lambda: best_splits(1, 64, **H100, max_splits=0), "max_splits"),
        (lambda: best_splits(1, "64", **H100), "context"),
        (lambda: softmax_exps(1, 64, heads=0), "heads"),
        (lambda: softmax_exps(1, 64, splits=65), "splits"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()


def test_cache_read_waves_by_hand():
    # 4 sequences, 2 head blocks, waves of 4 programs. Sequence first: sequence b's programs are
    # b and b + 4, in waves 0 and 1: two reads each. Head block first: 2b and 2b + 1, one wave.
    assert cache_read_waves(4, 2, 1, programs_per_wave=4, head_block_first=False) == 2.0
    assert cache_read_waves(4, 2, 1, programs_per_wave=4, head_block_first=True) == 1.0
    # head block first, waves of 3: sequence 1's programs 2 and 3 straddle waves 0 and 1
    assert cache_read_waves(3, 2, 1, programs_per_wave=3) == pytest.approx(4 / 3)
    # sequence first with B K a multiple of W: every head block in its own wave, H / Hb reads
    assert cache_read_waves(1320, 8, 1, programs_per_wave=132, head_block_first=False) == 8.0
    # head block first, B K a multiple of W: 1 + (H / Hb - gcd(H / Hb, W)) / W; 132 = 4 x 33, so
    # with 8 heads blocks half of the waves' ends cut a sequence's group, with 4 none does
    assert cache_read_waves(132, 8, 2, programs_per_wave=132) == pytest.approx(1 + 4 / 132)
    assert cache_read_waves(132, 4, 2, programs_per_wave=132) == 1.0
    assert cache_read_waves(132, 7, 1, programs_per_wave=132) == pytest.approx(1 + 6 / 132)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"batch": 0}, ValueError, "batch"),
        ({"head_blocks": 2.5}, TypeError, "head_blocks"),
        ({"programs_per_wave": -1}, ValueError, "programs_per_wave"),
        ({"head_block_first": 1}, TypeError, "head_block_first"),
        ({"batch": 2**16, "head_blocks": 2**12, "splits": 2}, ValueError, "2\\*\\*24"),
    ],
)
def test_cache_read_waves_refuses_bad_input(kwargs, error, words):
    args = {"batch": 4, "head_blocks": 2, "splits": 1, "programs_per_wave": 4} | kwargs
    with pytest.raises(error, match=words):
        cache_read_waves(**args)
