"""The NumPy reference of the chapter's tiny language model: the forward pass and the loss that
the torch and JAX versions are tested against (tests/scaling/test_sweep.py).

Taught in chapter 1, "Your own sweep". Axes: B batch, T tokens, V vocabulary, D model width,
H heads, K head dim.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int

from labs.scaling.config import TinyLMConfig
from labs.scaling.sweep_checks import check_params, check_targets, check_tokens

__all__ = ["reference_logits", "reference_loss"]


def reference_logits(params: dict, tokens: np.ndarray, config: TinyLMConfig) -> np.ndarray:
    """Logits (B, T, V) of the model for int tokens (B, T), T <= context. NumPy, float64.

    `params` holds the weights of `init_params(config)`; token ids lie in [0, vocab_size).
    """
    params = check_params(params, config)
    tokens = check_tokens("tokens", tokens, config)
    return _logits(params, tokens, config)


def reference_loss(params: dict, inputs: np.ndarray, targets: np.ndarray, config) -> float:
    """Mean next-token cross-entropy in nats: the NumPy reference the frameworks are tested on."""
    params = check_params(params, config)
    inputs, targets = check_targets(inputs, targets, config)
    return _loss(params, inputs, targets, config)


def _layer_norm(x: Float[np.ndarray, "B T D"], w, b, eps=1e-5) -> Float[np.ndarray, "B T D"]:
    """LayerNorm over the last axis."""
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation, written out so all three frameworks compute the same thing."""
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def _logits(params: dict, tokens: Int[np.ndarray, "B T"], config) -> Float[np.ndarray, "B T V"]:
    """Pre-norm blocks, x + attn(ln1(x)) then x + mlp(ln2(x)), in float64."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    b, t = tokens.shape
    nh, hd = config.n_heads, config.d_model // config.n_heads
    x = p["tok_emb"][tokens] + p["pos_emb"][:t]  # (B, T, D)
    causal = np.tril(np.ones((t, t), dtype=bool))
    for i in range(config.n_layers):
        y = _layer_norm(x, p[f"{i}.ln1.w"], p[f"{i}.ln1.b"])
        q, k, v = np.split(y @ p[f"{i}.wqkv"], 3, axis=-1)
        q, k, v = (z.reshape(b, t, nh, hd).transpose(0, 2, 1, 3) for z in (q, k, v))  # (B H T K)
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)  # (B, H, T, T)
        scores = np.where(causal, scores, -np.inf)
        scores = scores - scores.max(-1, keepdims=True)
        att = np.exp(scores)
        att /= att.sum(-1, keepdims=True)
        y = (att @ v).transpose(0, 2, 1, 3).reshape(b, t, config.d_model)
        x = x + y @ p[f"{i}.wo"]
        y = _layer_norm(x, p[f"{i}.ln2.w"], p[f"{i}.ln2.b"])
        x = x + _gelu(y @ p[f"{i}.w1"] + p[f"{i}.b1"]) @ p[f"{i}.w2"] + p[f"{i}.b2"]
    return _layer_norm(x, p["lnf.w"], p["lnf.b"]) @ p["head"]


def _loss(params: dict, inputs: Int[np.ndarray, "B T"], targets: Int[np.ndarray, "B T"], config):
    """Mean of log Z - logit of the target, with the max subtracted inside log Z."""
    logits = _logits(params, inputs, config)
    m = logits.max(-1, keepdims=True)
    logz = m[..., 0] + np.log(np.exp(logits - m).sum(-1))
    picked = np.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return float((logz - picked).mean())
