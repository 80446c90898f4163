"""Chapter 3 exercises, with their instant checks.

3.1 `cache_bytes_per_token`: the bytes one token leaves in the cache, for every attention kind,
    in BF16 or in FlashMLA's FP8-with-scales format extended to every kind.
3.2 `repeat_kv`: share each KV head with its group of query heads, as GQA does.
3.3 `decode_bound`: a decision: is one decode step memory- or compute-bound,
    given a configuration, a device and a tensor-parallel degree? It lives in
    `labs.mla.exercises_bound` and is re-exported here. (The notebook's 3.4 is a
    prediction that the decode benchmark then measures; it has no check here.)
`absorbed_scores` (MLA's scores straight from the cached latents), an earlier form of 3.3, is kept
with its check for graders; the notebook shows that computation, so it no longer asks for it.

Expected values are worked by hand (3.1, 3.3: the arithmetic is in the comments) or
computed by brute force here, with explicit loops that share no code with the package (3.2,
absorbed_scores).
"""

from __future__ import annotations

import numpy as np

from labs.common.exercises import Case, CheckReport, Exercise, check
from labs.mla.exercises_bound import (
    DECODE_BOUND,
    H800,
    SLOW_CPU,
    T4,
    TPU_V5E,
    check_decode_bound,
)

__all__ = [
    "ABSORBED_SCORES",
    "CACHE_BYTES_PER_TOKEN",
    "DECODE_BOUND",
    "H800",
    "REPEAT_KV",
    "SLOW_CPU",
    "T4",
    "TPU_V5E",
    "check_absorbed_scores",
    "check_cache_bytes_per_token",
    "check_decode_bound",
    "check_repeat_kv",
]

# --- 3.1 ---------------------------------------------------------------------------------------


def _cache_case(args, expected, label, hint, mistakes=(), **kwargs) -> Case:
    return Case(
        args=args, kwargs=kwargs, expected=expected, label=label, hint=hint, mistakes=mistakes
    )


# Every expected value is worked by hand in the comment beside it: BF16 is 2 bytes an element;
# with fp8_tile = t each cached vector of n elements takes n bytes of E4M3 plus 4 bytes of float32
# scale per started tile, ceil(n / t); MLA's RoPE key stays BF16 (FlashMLA's "FP8 with scale"
# format, README). None comes from the package's code.
CACHE_BYTES_PER_TOKEN = Exercise(
    name="cache_bytes_per_token",
    signature=(
        "cache_bytes_per_token(kind, n_layers, n_kv_heads, head_dim, kv_lora_rank=0, "
        "rope_head_dim=0, fp8_tile=0) -> int"
    ),
    cases=(
        _cache_case(
            ("mha", 3, 4, 16),
            768,  # 3 layers x 2 (K and V) x 4 heads x 16 x 2 bytes
            "MHA in BF16, 3 layers, 4 heads of 16",
            "every layer caches a key AND a value for each KV head, 2 bytes an element in BF16.",
            mistakes=(
                (
                    384,
                    "your count is half the bytes: either it counts elements (BF16 takes 2 bytes "
                    "each) or it holds keys only (the values are cached too).",
                ),
                (256, "your count is one layer's (2 x 4 x 16 x 2 bytes): sum over all n_layers."),
            ),
        ),
        _cache_case(
            ("mla", 60, 128, 128),
            69_120,  # 60 x (512 + 64) x 2 bytes: DeepSeek-V2 in BF16
            "MLA in BF16, DeepSeek-V2's shape (60 layers, d_c = 512, d_h^R = 64, 128 heads)",
            "eqs. (9)-(17): which vectors can be rebuilt from a cached one, which carry a head "
            "index? n_kv_heads and head_dim may not enter at all.",
            mistakes=(
                (34_560, "your count is in elements (60 x 576): BF16 takes 2 bytes each."),
                (
                    138_240,
                    "your count caches the latent and k^R twice, as if for a key and a value: "
                    "eqs. (10) and (11) rebuild both k^C and v^C from the same c^KV.",
                ),
                (
                    61_440,
                    "your count holds the latent c^KV only: the decoupled RoPE key k^R of eq. "
                    "(15) comes from h_t, cannot be rebuilt from c^KV, and is cached too.",
                ),
                (
                    60 * (512 + 128 * 64) * 2,
                    "your count gives every head its own RoPE key: k^R_t in eq. (17) has no head "
                    "index; one key is shared by all heads.",
                ),
            ),
            kv_lora_rank=512,
            rope_head_dim=64,
        ),
        _cache_case(
            ("gqa", 3, 4, 144),
            3_744,  # 3 x 2 vectors x 4 heads x (144 bytes + ceil(144/64) = 3 scales x 4 bytes)
            "GQA in FP8 tiles of 64: 3 layers, 4 KV heads of 144",
            "each head's key and value is its own vector, quantised with its own scales: "
            "ceil(144 / 64) = 3 float32 scales per vector.",
            mistakes=(
                (
                    3_672,  # 3 x 2 x (576 + 9 x 4): tiles across the 4 heads' 576 values
                    "your tiles run across heads (576 values, 9 tiles per layer and K or V): "
                    "each head's key and value is its own vector, and a tile never spans two; "
                    "144 values need 3 tiles of 64, so 12 scales, not 9.",
                ),
                (
                    3_696,  # 3 x 4 x (288 + 5 x 4): one head's key and value tiled as one vector
                    "your tiles run across a head's key and value (288 values, 5 tiles): the key "
                    "and the value are two vectors, each with its own scales, ceil(144 / 64) = 3.",
                ),
                (
                    3_648,  # 3 x 2 x 4 x (144 + 2 x 4)
                    "your count gives each vector floor(144 / 64) = 2 scales: the last, shorter "
                    "tile of 16 values needs its own, ceil(144 / 64) = 3.",
                ),
                (
                    3_600,  # 3 x 2 x 4 x (144 + 3 x 2)
                    "your scales take 2 bytes each (BF16): FlashMLA stores each tile's scale as a "
                    "float32, 4 bytes.",
                ),
                (
                    3_456,
                    "your count leaves out the float32 scales: E4M3 values alone cannot be "
                    "dequantised; each tile carries 4 bytes of scale.",
                ),
                (6_912, "your count is the BF16 cache: fp8_tile = 64 asks for the FP8 format."),
                (1_872, "your count holds keys only: values are cached too."),
            ),
            fp8_tile=64,
        ),
        _cache_case(
            ("mla", 2, 16, 64),
            560,  # 2 x (200 + ceil(200/64) = 4 scales x 4 + 32 x 2 RoPE bytes) = 2 x 280
            "MLA in FP8 tiles of 64: 2 layers, d_c = 200, d_h^R = 32, 16 heads of 64",
            "the latent is one vector per token, in E4M3 with a scale per started tile; the "
            "RoPE key stays in BF16, as FlashMLA keeps it.",
            mistakes=(
                (
                    2 * (200 + 4 * 4 + 32),  # RoPE in one byte
                    "your RoPE key is in one byte an element (quantised, alone or in the "
                    "latent's tiles): FlashMLA keeps it in BF16, 2 bytes an element, unscaled.",
                ),
                (
                    2 * (200 + 3 * 4 + 64),
                    "your latent has floor(200 / 64) = 3 scales: the last, shorter tile needs its "
                    "own, ceil(200 / 64) = 4.",
                ),
                (
                    2 * (200 + 16 * 4 * 4 + 64),
                    "your count gives every head its own latent scales: c^KV (eq. 9) has no head "
                    "index, so its scales have none either.",
                ),
                (2 * (200 + 64), "your count leaves out the float32 scales of the latent."),
            ),
            kv_lora_rank=200,
            rope_head_dim=32,
            fp8_tile=64,
        ),
        _cache_case(
            ("mla", 61, 128, 128),
            40_016,  # 61 x 656: FlashMLA's README, 512 E4M3 bytes + 4 x 4 scale bytes + 64 x 2
            "MLA in FP8 tiles of 128, DeepSeek-V3's shape (61 layers, d_c = 512, d_h^R = 64): "
            "FlashMLA's own format",
            "FlashMLA's format, per token and layer: the 512-element latent in E4M3, one byte an "
            "element, with one float32 scale per 128 elements, and the 64-element RoPE key in "
            "BF16, unscaled.",
            mistakes=(
                (
                    61 * (512 + 4 * 4 + 64),
                    "your RoPE key is in one byte an element: FlashMLA keeps "
                    "it in BF16, 2 bytes an element, unscaled.",
                ),
                (
                    61 * (512 + 64) * 2,
                    "your count is the BF16 cache: fp8_tile = 128 asks for the FP8 format.",
                ),
            ),
            kv_lora_rank=512,
            rope_head_dim=64,
            fp8_tile=128,
        ),
        _cache_case(
            ("mqa", 95, 1, 128),
            25_080,  # 95 x 2 x 1 x (128 + ceil(128/128) x 4) = 95 x 264
            "MQA in FP8 tiles of 128: 95 layers, one KV head of 128",
            "MQA is GQA with one KV head: one key and one value per layer, each with its scales.",
            fp8_tile=128,
        ),
    ),
)


def check_cache_bytes_per_token(fn) -> CheckReport:
    """Run the public cases of exercise 3.1 against `fn`."""
    return check(fn, CACHE_BYTES_PER_TOKEN)


# --- 3.2 ---------------------------------------------------------------------------------------


def _repeat_kv_brute_force(k: np.ndarray, n_heads: int) -> np.ndarray:
    tokens, n_kv, dim = k.shape
    group = n_heads // n_kv
    out = np.empty((tokens, n_heads, dim), dtype=k.dtype)
    for h in range(n_heads):
        out[:, h] = k[:, h // group]  # query heads 0..group-1 share KV head 0, and so on
    return out


def _repeat_case(tokens, n_kv, dim, n_heads, label, hint="", seed=0) -> Case:
    k = np.random.default_rng(seed).standard_normal((tokens, n_kv, dim))
    tiled = np.concatenate([k] * (n_heads // n_kv), axis=1)  # head h gets KV head h % n_kv
    return Case(
        args=(k, n_heads),
        expected=_repeat_kv_brute_force(k, n_heads),
        label=label,
        hint=hint,
        rtol=0,
        atol=0,
        mistakes=(
            (
                tiled,
                "your query head h gets KV head h % n_kv_heads (the KV heads tiled, as np.tile "
                "does); the groups are consecutive: head h gets KV head h // group.",
            ),
        ),
    )


REPEAT_KV = Exercise(
    name="repeat_kv",
    signature="repeat_kv(k: np.ndarray, n_heads: int) -> np.ndarray",
    cases=(
        _repeat_case(
            3,
            2,
            4,
            4,
            "2 KV heads for 4 query heads",
            "query heads come in consecutive groups: heads 0, 1 share KV head 0 and heads 2, 3 "
            "share KV head 1 (np.repeat along the head axis, not np.tile). Output shape: "
            "(tokens, n_heads, dim).",
        ),
        _repeat_case(5, 2, 3, 6, "2 KV heads for 6 query heads", seed=1),
        _repeat_case(4, 1, 8, 8, "MQA: 1 KV head for 8 query heads", seed=2),
        _repeat_case(2, 4, 2, 4, "MHA: as many KV heads as query heads", seed=3),
    ),
)


def check_repeat_kv(fn) -> CheckReport:
    """Run the public cases of exercise 3.2 against `fn`."""
    return check(fn, REPEAT_KV)


# --- absorbed_scores (an earlier form of 3.3) -----------------------------------------------------


def _scores_brute_force(q: np.ndarray, w_uk: np.ndarray, c_kv: np.ndarray) -> np.ndarray:
    n_heads, tokens = q.shape[0], c_kv.shape[0]
    scores = np.empty((n_heads, tokens))
    for h in range(n_heads):
        for j in range(tokens):
            key = w_uk[:, h, :].T @ c_kv[j]  # up-project the latent: k^C_{j,h} = W^UK_h c_j
            scores[h, j] = q[h] @ key
    return scores


def _scores_case(n_heads, head_dim, d_c, tokens, label, hint="", seed=0) -> Case:
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n_heads, head_dim))
    w_uk = rng.standard_normal((d_c, n_heads, head_dim)) / np.sqrt(d_c)
    c_kv = rng.standard_normal((tokens, d_c))
    return Case(
        args=(q, w_uk, c_kv),
        expected=_scores_brute_force(q, w_uk, c_kv),
        label=label,
        hint=hint,
        rtol=1e-9,
        atol=1e-12,
    )


ABSORBED_SCORES = Exercise(
    name="absorbed_scores",
    signature="absorbed_scores(q: np.ndarray, w_uk: np.ndarray, c_kv: np.ndarray) -> np.ndarray",
    cases=(
        _scores_case(
            1,
            2,
            3,
            4,
            "one head, d_h = 2, d_c = 3, 4 cached tokens",
            "q . (W^UK c) = (W^UK^T q) . c: first map the query into the latent space with "
            "w_uk[:, h, :] @ q[h] (shape (d_c,)), then take dot products with c_kv.",
        ),
        _scores_case(
            4,
            8,
            16,
            10,
            "4 heads, d_h = 8, d_c = 16, 10 cached tokens",
            "return shape (n_heads, tokens): one row of scores per head.",
            seed=1,
        ),
        _scores_case(2, 4, 32, 1, "2 heads, a single cached token", seed=2),
    ),
)


def check_absorbed_scores(fn) -> CheckReport:
    """Run the public cases of `absorbed_scores` (an earlier form of exercise 3.3) against `fn`."""
    return check(fn, ABSORBED_SCORES)
