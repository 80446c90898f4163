"""The chapter's experiments, framework-free: outlier activations, quantisation error per
granularity, the error of a K-long dot product in a limited accumulator, and the data and the
loss comparison of the small training run."""

from __future__ import annotations

import numpy as np

from labs.common.validate import float_array, integer, real_number
from labs.fp8.formats import E4M3, format_by_name
from labs.fp8.reference import fake_quantize, limited_sum

__all__ = [
    "dot_product_errors",
    "heavy_tailed_activations",
    "markov_tokens",
    "quantization_error",
    "relative_loss_gap",
]


def _rng(seed) -> np.random.Generator:
    return np.random.default_rng(integer("seed", seed, minimum=0))


def heavy_tailed_activations(
    rows: int = 256,
    cols: int = 1024,
    outlier_fraction: float = 1e-3,
    outlier_scale: float = 1000.0,
    seed: int = 0,
) -> np.ndarray:
    """Activations like an LLM's: standard normal values, a few of them `outlier_scale` times
    larger (float32, shape (rows, cols))."""
    rows, cols = integer("rows", rows, minimum=1), integer("cols", cols, minimum=1)
    fraction = real_number("outlier_fraction", outlier_fraction, nonnegative=True)
    if fraction > 1:
        raise ValueError(f"outlier_fraction must be in [0, 1], got {fraction}")
    scale = real_number("outlier_scale", outlier_scale, positive=True)
    rng = _rng(seed)
    x = rng.standard_normal((rows, cols))
    outliers = rng.random((rows, cols)) < fraction
    x[outliers] *= scale
    return x.astype(np.float32)


def quantization_error(
    x, fmt=E4M3, granularity: str = "tile", block: int = 128, where=None
) -> dict:
    """How well FP8 with one scale per group keeps `x`.

    Args:
        where: optional boolean mask shaped like `x`: measure only these elements (e.g. the
            ordinary values, leaving out the outliers); all of them by default.

    Returns:
        dict with "relative_rms" = ||x - x_hat|| / ||x|| and "flushed_to_zero", the fraction of
        nonzero values of `x` that became exactly zero (they fell below the smallest subnormal
        times their group's scale), both over the elements selected by `where`.
    """
    x = float_array("x", x, min_ndim=1).astype(np.float32)
    x_hat = fake_quantize(x, format_by_name(fmt), granularity, block)
    if where is not None:
        where = np.asarray(where)
        if where.dtype != np.bool_ or where.shape != x.shape:
            raise ValueError(
                f"where must be a boolean mask of shape {x.shape}, got dtype {where.dtype} "
                f"and shape {where.shape}"
            )
        x, x_hat = x[where], x_hat[where]
    norm = float(np.linalg.norm(x.astype(np.float64)))
    if norm == 0:
        raise ValueError("x must not be all zeros (its relative error is undefined)")
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
) -> np.ndarray:
    """The largest relative error of K-long dot products summed in a limited accumulator.

    For each K in `lengths`, `trials` pairs of vectors with entries uniform in [0, 1) are
    quantised to E4M3 (per 1 x 128 tile where 128 divides K, per vector otherwise), multiplied,
    and summed by `limited_sum`; the reference is the float64 sum of the same products. Positive
    entries are the hard case for an accumulator: nothing cancels, the sum grows like K.

    Returns:
        float64 array of len(lengths): max over trials of |sum - exact| / |exact|.
    """
    lengths = [integer("lengths[i]", k, minimum=1) for k in lengths]
    if not lengths:
        raise ValueError("lengths must name at least one K")
    trials = integer("trials", trials, minimum=1)
    rng = _rng(seed)
    worst = []
    for k in lengths:
        granularity = "tile" if k % 128 == 0 else "row"
        a = fake_quantize(rng.random((trials, k), dtype=np.float32), E4M3, granularity)
        b = fake_quantize(rng.random((trials, k), dtype=np.float32), E4M3, granularity)
        products = a * b  # exact: two 4-bit significands need 8 bits
        exact = products.astype(np.float64).sum(axis=-1)
        got = limited_sum(products, accumulator_bits, promote_every, rounding)
        worst.append(float(np.max(np.abs(got - exact) / np.abs(exact))))
    return np.asarray(worst)


def markov_tokens(n: int, vocab: int = 32, concentration: float = 0.2, seed: int = 0):
    """A stream of `n` tokens from a random second-order Markov chain, and its entropy rate.

    Each context (t-2, t-1) has its own next-token distribution drawn from a Dirichlet with
    `concentration` (small: peaked, so there is something to learn).

    Returns:
        (tokens, entropy): int64 array (n,), and the chain's conditional entropy in nats (the
        lowest loss any model can reach on it, averaged over the stream's contexts).
    """
    n, vocab = integer("n", n, minimum=3), integer("vocab", vocab, minimum=2)
    concentration = real_number("concentration", concentration, positive=True)
    rng = _rng(seed)
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
    loss = real_number("loss", loss, positive=True)
    reference = real_number("reference_loss", reference_loss, positive=True)
    return abs(loss - reference) / reference
