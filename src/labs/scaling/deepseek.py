"""DeepSeek LLM's scaling laws (Bi et al. 2024, §3): model scale as non-embedding FLOPs per token,
the hyperparameter laws, and the compute-optimal split of a budget between M and D.

    M = 72 n_layer d_model^2 + 12 n_layer d_model l_seq          (eq. 2: FLOPs per token, no
                                                                   embeddings, attention included)
    6N1 = 72 n_layer d_model^2,  6N2 = 72 n_layer d_model^2 + 6 n_vocab d_model   (Table 3)
    C = M D
    eta_opt = 0.3118 C^-0.1250,  B_opt = 0.2920 C^0.3271          (eq. 1)
    M_opt = 0.1715 C^0.5243,  D_opt = 5.8316 C^0.4757             (eq. 4)

Taught in chapter 1, "DeepSeek's own scaling laws". Arrays broadcast elementwise ("*s").
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from labs.common.facts import fact
from labs.common.validate import integer, size
from labs.scaling.fit_checks import positive_array

__all__ = [
    "deepseek_allocation",
    "deepseek_flops_per_token",
    "deepseek_hyperparameters",
    "six_n_flops_per_token",
]

# Caps on a transformer's shape: beyond any model trained (the largest have ~10^2 layers,
# ~10^4 width, ~10^6 context and ~10^5 vocabulary), so a larger value is a typo.
MAX_LAYERS, MAX_WIDTH, MAX_SEQ, MAX_VOCAB = 2**12, 2**20, 2**24, 2**24


def _scalar_or_array(out: np.ndarray):
    return float(out) if out.ndim == 0 else out


def deepseek_flops_per_token(n_layer, d_model, seq_len):
    """M of eq. 2: non-embedding training FLOPs per token, attention included.

    Args:
        n_layer, d_model, seq_len: layers, model width and sequence length, positive ints
            (capped at 2**12 layers, 2**20 wide, 2**24 tokens: far beyond any model trained,
            so a larger value is a typo).

    Returns:
        72 n_layer d_model^2 + 12 n_layer d_model seq_len, as a float.
    """
    n, d, s = _shape(n_layer, d_model, seq_len)
    return float(_deepseek_flops_per_token(n, d, s))


def _shape(n_layer, d_model, seq_len=1):
    why = "far beyond any trained model"
    return (
        size("n_layer", n_layer, maximum=MAX_LAYERS, why=why),
        size("d_model", d_model, maximum=MAX_WIDTH, why=why),
        size("seq_len", seq_len, maximum=MAX_SEQ, why=why),
    )


def _deepseek_flops_per_token(n_layer, d_model, seq_len) -> Float[np.ndarray, "*s"]:
    """DeepSeek LLM's eq. 2: M = 72 n d^2 (the matmuls, 6 FLOPs per weight) + 12 n d l (attention
    over the whole l x l score matrix, Megatron's convention: twice the causal count)."""
    c_w, c_att = fact("deepseek_m_coefficients").value
    return c_w * n_layer * d_model**2 + c_att * n_layer * d_model * seq_len  # DeepSeek LLM's eq. 2


def six_n_flops_per_token(n_layer, d_model, vocab_size: int = 0):
    """6N per token as Table 3 of the DeepSeek LLM paper counts it: 6N1 = 72 n_layer d_model^2
    (non-embedding parameters only) when vocab_size = 0, 6N2 = 6N1 + 6 vocab_size d_model
    (embeddings included) otherwise. Same caps as `deepseek_flops_per_token`, and vocab_size
    <= 2**24."""
    n, d, _ = _shape(n_layer, d_model)
    vocab_size = integer("vocab_size", vocab_size, minimum=0, maximum=MAX_VOCAB)
    return float(_six_n_flops_per_token(n, d, vocab_size))


def _six_n_flops_per_token(n_layer, d_model, vocab_size: int) -> Float[np.ndarray, "*s"]:
    """6N1 = 72 n d^2; 6N2 adds 6 V d for the embedding (Table 3)."""
    return 72.0 * n_layer * d_model**2 + 6.0 * vocab_size * d_model


def deepseek_hyperparameters(C):
    """(eta_opt, B_opt) of eq. 1 for a compute budget C (FLOPs): the near-optimal peak learning
    rate and batch size (in tokens). Floats for a scalar C, arrays otherwise."""
    eta, batch = _deepseek_hyperparameters(positive_array("C", C))
    return _scalar_or_array(eta), _scalar_or_array(batch)


def _deepseek_hyperparameters(c: Float[np.ndarray, "*s"]):
    """Eq. 1: two power laws in C."""
    k_eta, p_eta = fact("deepseek_lr_law").value
    k_b, p_b = fact("deepseek_batch_law").value
    return k_eta * c**p_eta, k_b * c**p_b  # (1)


def deepseek_allocation(C):
    """(M_opt, D_opt) of eq. 4 for a compute budget C = M D (FLOPs): the model scale in
    non-embedding FLOPs per token and the training tokens. Floats for a scalar C."""
    m, d = _deepseek_allocation(positive_array("C", C))
    return _scalar_or_array(m), _scalar_or_array(d)


def _deepseek_allocation(c: Float[np.ndarray, "*s"]):
    """Eq. 4: M_opt = M_base C^a, D_opt = D_base C^b (a + b = 1, M_base D_base ~ 1)."""
    m_base, a = fact("deepseek_model_law").value
    d_base, b = fact("deepseek_data_law").value
    return m_base * c**a, d_base * c**b  # (4)
