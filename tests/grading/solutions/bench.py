"""Reference solutions of chapter 8's exercises."""

import numpy as np

from labs.bench import mla_decode_work, roofline
from labs.fp8.cost import linear_layer_times


def combine_splits(acc, m, l):
    top = m.max(axis=0)  # (H,): every head's largest chunk maximum, finite (some chunk has a token)
    weight = np.exp(m - top)  # (K, H): exp(-inf) = 0 for an empty chunk
    total = (weight * l).sum(axis=0)  # (H,)
    return (weight[..., None] * acc).sum(axis=0) / total[:, None]


def choose_precision(m, k, n, peaks, weight_in_fp8):
    limits = {"bf16_tflops": peaks.bf16_tflops, "fp8_tflops": peaks.fp8_tflops}
    limits["memory_gbs"] = peaks.memory_gbs
    t = linear_layer_times(m, k, n, **limits, weight_in_fp8=weight_in_fp8)
    return "fp8" if t["fp8"] < t["bf16"] else "bf16"  # a tie keeps BF16


def cache_bound(batch, context, heads, latent, rope, bytes_per_token, peaks):
    work = mla_decode_work(
        batch, context, heads, latent, rope, cache_bytes=bytes_per_token / (latent + rope)
    )
    return roofline(*work, peaks.bf16_tflops, peaks.memory_gbs).bound
