"""The chapter's experiments, framework-free: outlier activations (scattered and in fixed
channels), gradient-like tensors, quantisation error per granularity, the error of a K-long dot
product in a limited accumulator, and the data and the loss comparison of the small training run.

Shapes: R rows, C columns, L lengths, n tokens. Taught in chapter 2, "Experiment: outliers in
fixed channels", "Gradients need range", "Experiment: the error against K", "Training in FP8:
does the loss notice?" and Exercise 2.2.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Float, Int

from labs.common import validate
from labs.fp8 import checks
from labs.fp8.accumulator import _aligned_sum
from labs.fp8.formats import E4M3, FP8Format
from labs.fp8.gemm import _limited_sum
from labs.fp8.group_scaling import _fake_quantize

__all__ = [
    "channel_outlier_activations",
    "dot_product_errors",
    "gradient_like",
    "heavy_tailed_activations",
    "markov_tokens",
    "quantization_error",
    "relative_loss_gap",
]

# Sizes a typo could blow up. The activations are drawn in float64 (8 bytes per element); the
# dot products hold trials * K products and loop over K in Python; the Markov chain's table has
# vocab**3 entries and its stream is drawn one token at a time in Python (about 1e6 per second).
MAX_ACTIVATIONS = 2**26
MAX_DOT_PRODUCTS = 2**24
MAX_VOCAB = 256
MAX_TOKENS = 10**7
_CAP = {"maximum": MAX_ACTIVATIONS}


def heavy_tailed_activations(
    rows: int = 256,
    cols: int = 1024,
    outlier_fraction: float = 1e-3,
    outlier_scale: float = 1000.0,
    seed: int = 0,
) -> np.ndarray:
    """Activations like an LLM's: standard normal values, a few of them `outlier_scale` times
    larger (float32, shape (rows, cols)). rows * cols is capped at 2**26 (drawn in float64)."""
    rows, cols, fraction, scale = checks.check_activations(
        rows, cols, outlier_fraction, outlier_scale, maximum=MAX_ACTIVATIONS
    )
    with np.errstate(over="ignore"):  # a scale past float32's range is refused just below
        x = _heavy_tailed_activations(rows, cols, fraction, scale, checks.check_rng(seed))
    return validate.finite_result("the activations", x, inputs={"outlier_scale": scale})


def _heavy_tailed_activations(
    rows: int, cols: int, fraction: float, scale: float, rng: np.random.Generator
) -> Float[np.ndarray, "R C"]:
    """Standard normal values; a `fraction` of them multiplied by `scale`."""
    x = rng.standard_normal((rows, cols))
    outliers = rng.random((rows, cols)) < fraction
    x[outliers] *= scale
    return x.astype(np.float32)


def channel_outlier_activations(
    rows: int = 256, cols: int = 1024, channels: int = 4, outlier_scale: float = 100.0, seed=0
) -> np.ndarray:
    """Activations with outliers in a few fixed channels, as measured in real LLMs: standard
    normal values, and `channels` columns (the same for every token) `outlier_scale` times
    larger (float32, shape (rows, cols)). rows * cols is capped at 2**26."""
    rows, cols, _, scale = checks.check_activations(rows, cols, 0.0, outlier_scale, **_CAP)
    channels = validate.size("channels", channels, maximum=cols, why="at most every column")
    with np.errstate(over="ignore"):  # a scale past float32's range is refused just below
        x = _channel_outlier_activations(rows, cols, channels, scale, checks.check_rng(seed))
    return validate.finite_result("the activations", x, inputs={"outlier_scale": scale})


def _channel_outlier_activations(
    rows: int, cols: int, channels: int, scale: float, rng: np.random.Generator
) -> Float[np.ndarray, "R C"]:
    """Standard normal values; `channels` random columns multiplied by `scale`."""
    x = rng.standard_normal((rows, cols))
    x[:, rng.choice(cols, size=channels, replace=False)] *= scale
    return x.astype(np.float32)


def gradient_like(rows: int = 256, cols: int = 1024, decades: float = 6.0, seed=0) -> np.ndarray:
    """A tensor with the spread of activation gradients: each row (token) has its own magnitude,
    10**-u with u uniform in [0, decades], times standard normal values (float32, (rows, cols)).

    Why rows: the gradient reaching a token scales with how wrong the model is about it, so
    tokens differ by orders of magnitude while the channels of one token are alike. `decades`
    (0..30) is the assumed spread, not a measured one. rows * cols is capped at 2**26."""
    rows, cols, _, _ = checks.check_activations(rows, cols, 0.0, 1.0, **_CAP)
    decades = validate.real_number("decades", decades, minimum=0.0, maximum=30.0)
    return _gradient_like(rows, cols, decades, checks.check_rng(seed))


def _gradient_like(
    rows: int, cols: int, decades: float, rng: np.random.Generator
) -> Float[np.ndarray, "R C"]:
    """Per-row magnitudes 10**-U(0, decades) times standard normal values."""
    magnitude = 10.0 ** -rng.uniform(0.0, decades, size=(rows, 1))
    return (magnitude * rng.standard_normal((rows, cols))).astype(np.float32)


def quantization_error(
    x, fmt=E4M3, granularity: str = "tile", block: int = 128, where=None
) -> dict:
    """How well FP8 with one scale per group keeps `x`.

    Args:
        x: finite float array, not all zeros (its relative error would be undefined).
        where: optional boolean mask shaped like `x`: measure only these elements (e.g. the
            ordinary values, leaving out the outliers); all of them by default.

    Returns:
        dict with "relative_rms" = ||x - x_hat|| / ||x|| and "flushed_to_zero", the fraction of
        nonzero values of `x` that became exactly zero (they fell below the smallest subnormal
        times their group's scale), both over the elements selected by `where`.
    """
    x, fmt, block = checks.check_quantize(x, fmt, granularity, block)
    where = checks.check_mask("where", where, x)
    return _quantization_error(x, fmt, granularity, block, where)


def _quantization_error(
    x: Float[np.ndarray, "*s R C"],
    fmt: FP8Format,
    granularity: str,
    block: int,
    where: Bool[np.ndarray, "*s R C"],
) -> dict:
    """Relative RMS error and flushed fraction of the fake-quantised `x` over `where`."""
    x_hat = _fake_quantize(x, fmt, granularity, block)
    x, x_hat = x[where], x_hat[where]
    norm = float(np.linalg.norm(x.astype(np.float64)))  # > 0: check_mask refuses all zeros
    err = float(np.linalg.norm((x - x_hat).astype(np.float64))) / norm
    nonzero = x != 0
    flushed = float(np.mean(x_hat[nonzero] == 0)) if nonzero.any() else 0.0
    return {"relative_rms": err, "flushed_to_zero": flushed}


def dot_product_errors(
    lengths,
    trials: int = 128,
    accumulator_bits: int = 14,
    promote_every: int | None = None,
    rounding: str = "truncate",
    seed: int = 0,
    group: int | None = None,
    running_sum_aligned: bool = True,
) -> np.ndarray:
    """The largest relative error of K-long dot products summed in a limited accumulator.

    For each K in `lengths`, `trials` pairs of vectors with entries uniform in [0, 1) are
    quantised to E4M3 (per 1 x 128 tile where 128 divides K, per vector otherwise), multiplied,
    and summed by `limited_sum` (`group=None`: one product at a time, eq. 4) or, with `group`
    an int, by `aligned_sum`, V3's fixed-point accumulator of §3.5.2 (`group` products aligned to
    their largest exponent, floored as §3.5.2 says, or rounded to nearest with
    `rounding="nearest"`, the control; with the running sum in each group's alignment, (4a),
    or with `running_sum_aligned=False` only the group's products, (4b)); the reference is the
    float64 sum of the same products. Positive
    entries are the hard case for the error's size: nothing cancels, the sum grows like K (mixed
    signs shrink the error but the sum as well, so relative to the sum they err more).
    trials * K is capped at 2**24 (the sum loops over K in Python).

    Returns:
        float64 array of len(lengths): max over trials of |sum - exact| / |exact|.
    """
    lengths, trials, bits, promote_every, rounding = checks.check_dot_products(
        lengths, trials, accumulator_bits, promote_every, rounding, maximum=MAX_DOT_PRODUCTS
    )
    if group is not None:
        bits, group, promote_every = checks.check_aligned(bits, group, promote_every)
    aligned = validate.boolean("running_sum_aligned", running_sum_aligned)
    if group is None and not aligned:
        raise ValueError(
            "running_sum_aligned=False chooses (4b) of the aligned accumulator: it needs a group "
            "(group=None sums one product at a time, eq. 4)"
        )
    rng = checks.check_rng(seed)
    return _dot_product_errors(lengths, trials, bits, promote_every, rounding, rng, group, aligned)


def _dot_product_errors(
    lengths: list[int],
    trials: int,
    bits: int,
    promote_every: int | None,
    rounding: str,
    rng: np.random.Generator,
    group: int | None = None,
    running_sum_aligned: bool = True,
) -> Float[np.ndarray, " L"]:
    """Max relative error over `trials` E4M3 dot products per K, against float64."""
    worst = []
    for k in lengths:
        granularity, block = ("tile", 128) if k % 128 == 0 else ("row", 128)
        a = _fake_quantize(rng.random((trials, k), dtype=np.float32), E4M3, granularity, block)
        b = _fake_quantize(rng.random((trials, k), dtype=np.float32), E4M3, granularity, block)
        products = a * b  # exact: two 4-bit significands need 8 bits
        exact = products.astype(np.float64).sum(axis=-1)
        if group is None:
            got = _limited_sum(products, bits, promote_every, rounding)
        else:
            got = _aligned_sum(products, bits, group, promote_every, rounding, running_sum_aligned)
        worst.append(float(np.max(np.abs(got - exact) / np.abs(exact))))
    return np.asarray(worst)


def markov_tokens(n: int, vocab: int = 32, concentration: float = 0.2, seed: int = 0):
    """A stream of `n` tokens from a random second-order Markov chain, and its entropy rate.

    Each context (t-2, t-1) has its own next-token distribution drawn from a Dirichlet with
    `concentration` (small: peaked, so there is something to learn). `n` is capped at 10**7
    (tokens are drawn one at a time in Python) and `vocab` at 256 (the table has vocab**3
    entries).

    Returns:
        (tokens, entropy): int64 array (n,), and the chain's conditional entropy in nats (the
        lowest loss any model can reach on it, averaged over the stream's contexts).
    """
    n, vocab, concentration = checks.check_markov(
        n, vocab, concentration, max_tokens=MAX_TOKENS, max_vocab=MAX_VOCAB
    )
    return _markov_tokens(n, vocab, concentration, checks.check_rng(seed))


def _markov_tokens(
    n: int, vocab: int, concentration: float, rng: np.random.Generator
) -> tuple[Int[np.ndarray, " n"], float]:
    """Draw the chain's table, then the stream token by token; return it with its entropy."""
    table = rng.dirichlet(np.full(vocab, concentration), size=(vocab, vocab))
    tokens = np.empty(n, dtype=np.int64)
    tokens[:2] = rng.integers(vocab, size=2)
    uniforms = rng.random(n)
    cumulative = np.cumsum(table, axis=-1)
    for t in range(2, n):
        row = cumulative[tokens[t - 2], tokens[t - 1]]
        tokens[t] = min(int(np.searchsorted(row, uniforms[t] * row[-1])), vocab - 1)
    p = table[tokens[:-2], tokens[1:-1]]
    entropy = float(np.mean(-(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=-1)))
    return tokens, entropy


def relative_loss_gap(loss, reference_loss) -> float:
    """|loss - reference| / reference, V3's measure of FP8 quality (§3.3: below 0.25%)."""
    loss = validate.real_number("loss", loss, positive=True)
    reference = validate.real_number("reference_loss", reference_loss, positive=True)
    return abs(loss - reference) / reference
