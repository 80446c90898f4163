"""Chapter 6's small classification task: points around class centres that come in pairs.

Taught in chapter 6, "Soft targets on a small task". Framework-free (NumPy). There are
`classes` centres (an even number) drawn once from `task_seed`: pairs of centres lie close to each
other, the pairs far apart, so the classes have a structure (which class an example is easily
mistaken for) that hard labels do not carry and a teacher's soft targets do.
"""

from __future__ import annotations

import numpy as np

from labs.common.validate import finite_result
from labs.distill.checks import check_cluster_args

__all__ = ["cluster_data"]

MAX_EXAMPLES = 1_000_000


def cluster_data(
    n: int,
    *,
    classes: int = 10,
    dim: int = 8,
    noise: float = 1.0,
    pair_distance: float = 1.5,
    task_seed: int = 0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """`n` examples: features (n, dim) float32 and labels (n,) int64 in [0, classes).

    Centres: `classes` / 2 pair centres at distance ~4 apart (Gaussian, scale 3, from
    `task_seed`), each split into two class centres `pair_distance` apart. Each example is its
    class centre plus Gaussian noise of scale `noise` (from `seed`). n <= 1,000,000; both seeds
    in [0, 2**62].
    """
    n, classes, dim, noise, pair_distance, task_seed, seed = check_cluster_args(
        n, classes, dim, noise, pair_distance, task_seed, seed, max_examples=MAX_EXAMPLES
    )
    with np.errstate(over="ignore"):  # features past float32's range are refused just below
        x, y = _cluster_data(n, classes, dim, noise, pair_distance, task_seed, seed)
    inputs = {"noise": noise, "pair_distance": pair_distance}
    return finite_result("the features", x, inputs=inputs), y


def _cluster_data(n, classes, dim, noise, pair_distance, task_seed, seed):
    """Pairs of close centres; labels uniform; Gaussian noise around the centre."""
    task_rng = np.random.default_rng(task_seed)
    pairs = 3.0 * task_rng.normal(size=(classes // 2, dim))  # (V/2, D)
    offset = task_rng.normal(size=(classes // 2, dim))
    offset *= pair_distance / 2 / np.linalg.norm(offset, axis=1, keepdims=True)
    centres = np.concatenate([pairs + offset, pairs - offset])  # class c and c + V/2 are a pair
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n)
    x = centres[y] + noise * rng.normal(size=(n, dim))
    return x.astype(np.float32), y.astype(np.int64)
