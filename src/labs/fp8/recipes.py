"""Scaling recipes in use, side by side on the same tensors (framework-free, NumPy).

    "delayed"    one scale per tensor from the largest max-abs of earlier steps (an amax
                 history; Transformer Engine's DelayedScaling, history 1024 by default)
    "current"    one scale per tensor from this step's own max-abs (TE's Float8CurrentScaling)
    "blockwise"  one scale per 1 x 128 tile, computed online (V3 §3.3.2; TE's
                 Float8BlockScaling)
    "mxfp8"      one power-of-two scale (an E8M0 byte) per 1 x 32 group, by the OCP MX
                 specification's example conversion: s = 2^(floor(log2 amax) - emax), emax = 8
                 for E4M3. A group whose max-abs lies in (448, 512) * s clamps at 448 * s. (TE's
                 MXFP8BlockScaling rounds amax / 448 up to a power of two instead, which never
                 clamps: group_scaling's power_of_two=True on 1 x 32 tiles.)

All in E4M3. The delayed recipe saturates when a tensor outgrows its history (a spike), and
wastes range after a spike has passed; the current recipe cannot saturate but shares one scale
with every outlier; the fine-grained ones confine both problems to their groups.

Shapes: R rows, C columns, T steps. Taught in chapter 2, "A tour of scaling recipes".
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from labs.common.facts import fact
from labs.fp8 import checks
from labs.fp8.formats import E4M3, _decode, _encode
from labs.fp8.group_scaling import _fake_quantize

__all__ = ["RECIPES", "compare_recipes", "fake_quantize_with_scale", "mx_scales"]

RECIPES = ("delayed", "current", "blockwise", "mxfp8")
MX_BLOCK = fact("mxfp8_block_size").value  # OCP MX: 32 elements share one E8M0 scale
MAX_STEPS = 10_000  # tensors held at once; a longer sequence is a typo here


def fake_quantize_with_scale(x, scale) -> np.ndarray:
    """E4M3 quantise-dequantise of `x` with a given positive `scale` (broadcast against x),
    saturating at +-448 * scale: decode(encode(x / scale)) * scale, float32."""
    x, scale = checks.check_float("x", x, min_ndim=0), checks.check_positive("scale", scale)
    return _fake_quantize_with_scale(x, scale)


def _fake_quantize_with_scale(x: Float[np.ndarray, "*s"], scale) -> Float[np.ndarray, "*s"]:
    """decode(encode(x / s)) * s in E4M3, saturating."""
    scaled = (x / scale).astype(np.float64)
    return (_decode(_encode(scaled, E4M3, True), E4M3) * scale).astype(np.float32)


def mx_scales(x) -> np.ndarray:
    """The OCP MX scales of `x` (..., C) with C a multiple of 32: one power of two per 1 x 32
    group, 2^(floor(log2 amax) - 8) for E4M3; a group of zeros gets 1. Shape (..., C / 32)."""
    x = checks.check_float("x", x)
    checks.check_layout(tuple(x.shape), "tile", MX_BLOCK)
    return _mx_scales(x)


def _mx_scales(x: Float[np.ndarray, "*s C"]) -> Float[np.ndarray, "*s G"]:
    """2^(floor(log2 amax) - emax) per group of 32 along the last axis."""
    amax = np.abs(x).reshape(*x.shape[:-1], x.shape[-1] // MX_BLOCK, MX_BLOCK).max(axis=-1)
    _, e = np.frexp(np.where(amax > 0, amax, 1.0))  # amax = f * 2^e, f in [0.5, 1)
    scales = np.ldexp(1.0, e - 1 - E4M3.max_exponent)  # floor(log2 amax) = e - 1
    return np.where(amax > 0, scales, 1.0).astype(np.float32)


def compare_recipes(tensors, history: int = 1024) -> dict:
    """The relative RMS error of each recipe on a sequence of tensors (one per training step).

    Args:
        tensors: a sequence of T finite float arrays of one shape (R, C), C a multiple of 128.
        history: the delayed recipe's amax history length (1..10000).

    Returns:
        dict: recipe name -> float64 array (T,) of ||x - x_hat|| / ||x||, and "saturated" ->
        (T,) fraction of values the delayed recipe clamps. Step 0 of "delayed" uses its own
        max-abs (no history yet).
    """
    arrays, history = checks.check_recipe_tensors(tensors, history, max_steps=MAX_STEPS)
    return _compare_recipes(arrays, history)


def _compare_recipes(tensors: list, history: int) -> dict:
    """Each recipe's fake quantisation of each tensor, and its relative RMS error."""
    out = {name: [] for name in (*RECIPES, "saturated")}
    amaxes = []
    for x in tensors:
        amax = float(np.abs(x).max())
        past = max(amaxes[-history:]) if amaxes else amax
        amaxes.append(amax)
        delayed_scale = np.float32(past / E4M3.max_finite)
        mx = np.repeat(_mx_scales(x), MX_BLOCK, axis=-1)
        x_hat = {
            "delayed": _fake_quantize_with_scale(x, delayed_scale),
            "current": _fake_quantize_with_scale(x, np.float32(amax / E4M3.max_finite)),
            "blockwise": _fake_quantize(x, E4M3, "tile", 128),
            "mxfp8": _fake_quantize_with_scale(x, mx),
        }
        norm = np.linalg.norm(x.astype(np.float64))
        for name, approx in x_hat.items():
            out[name].append(np.linalg.norm((x - approx).astype(np.float64)) / norm)
        out["saturated"].append(float(np.mean(np.abs(x) / delayed_scale > E4M3.max_finite)))
    return {name: np.asarray(values) for name, values in out.items()}
