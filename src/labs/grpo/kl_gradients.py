"""Which KL does the k3 penalty's gradient follow? Exact answers on a categorical distribution.

Taught in chapter 5, "The k3 estimator, and why the KL sits in the loss". k3 (DeepSeekMath
eq. 4) is an unbiased estimate of the *value* of KL(pi_theta || pi_ref) on tokens sampled from
pi_theta. GRPO puts it in the loss and differentiates it with the sampled tokens held fixed;
the expected gradient of that is not the gradient of KL(pi_theta || pi_ref). For a softmax
policy pi = softmax(z), with r = pi_ref / pi and d log pi(x) / dz = e_x - pi:

    E_{x ~ pi}[d k3(x) / dz] = sum_x pi(x) (1 - r(x)) (e_x - pi) = pi - pi_ref
                             = d KL(pi_ref || pi) / dz          (the other direction),
    E_{x ~ pi}[d k1(x) / dz] = sum_x pi(x) (e_x - pi) = 0        (k1 = log(pi / pi_ref)),
    d KL(pi || pi_ref) / dz  = pi * (L - sum_x pi(x) L(x)),  L = log pi - log pi_ref.

Put in the reward instead (PPO's eq. 2, and GRPO's `kl_penalty="reward"`/`"reward_k3"`), the
penalty f(x) is computed from the sampling policy and held fixed, so it reaches the policy only
through the score function (REINFORCE): its expected gradient is sum_x pi(x) f(x) (e_x - pi).

    f = k1:  sum_x pi(x) L(x) (e_x - pi) = d KL(pi || pi_ref) / dz          (exactly),
    f = k3:  k3 = r - 1 + L, and sum_x pi(x) (r(x) - 1) (e_x - pi) = pi_ref - pi, so
             d KL(pi || pi_ref) / dz - d KL(pi_ref || pi) / dz,

a difference of two gradients that agree to first order near pi_ref: k3 in the reward has no
first-order pull back to the reference.

Framework-free (NumPy, closed forms); the tests check them against torch autograd.

Axes: V outcomes (the vocabulary).
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from labs.grpo.checks import check_logit_pair

__all__ = ["kl_gradients"]


def kl_gradients(logits, ref_logits) -> dict[str, np.ndarray]:
    """Exact gradients with respect to the logits z of pi = softmax(z), shape (V,) each.

    Finite for any finite logits, also where a probability underflows to 0 (logits more than
    ~745 apart): pi (1 - pi_ref / pi) is computed as pi - pi_ref, never as 0 * inf.

    Args:
        logits: 1-D float array, the policy's logits (V >= 2).
        ref_logits: 1-D float array of the same shape, the reference's logits.

    Returns:
        A dict: "k3_in_loss" (the expected gradient of k3 with the sampled token held fixed,
        what autograd gives GRPO), "k1_in_loss" (the same for k1 = log(pi / pi_ref): zero),
        "k1_in_reward" and "k3_in_reward" (the expected score-function gradient of the penalty
        put in the reward, computed from pi and held fixed: the gradient of
        E_{x ~ pi}[log pi(x) * f(x)] with f detached), "reverse_kl" (d KL(pi || pi_ref) / dz,
        the KL whose value k3 estimates) and "forward_kl" (d KL(pi_ref || pi) / dz).
    """
    return _kl_gradients(*check_logit_pair(logits, ref_logits))


def _log_softmax(z: Float[np.ndarray, " V"]) -> Float[np.ndarray, " V"]:
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


def _kl_gradients(
    logits: Float[np.ndarray, " V"], ref_logits: Float[np.ndarray, " V"]
) -> dict[str, Float[np.ndarray, " V"]]:
    """The six closed forms of the module docstring."""
    logp, ref_logp = _log_softmax(logits), _log_softmax(ref_logits)
    pi, ref = np.exp(logp), np.exp(ref_logp)
    score = np.eye(len(pi)) - pi  # row x: d log pi(x) / dz = e_x - pi
    # pi(x) (1 - r(x)) with r = pi_ref / pi is pi(x) - pi_ref(x): written without the ratio, it
    # stays finite where pi(x) underflows to 0 (no 0 * inf)
    weight = pi - ref
    log_ratio = logp - ref_logp  # L
    pi_k1 = pi * log_ratio  # pi(x) k1(x); 0 where pi(x) underflows (L stays finite)
    pi_k3 = pi_k1 - weight  # pi(x) k3(x) = pi(x) (r(x) - 1 + L(x)), again without the ratio
    return {
        "k3_in_loss": weight @ score,  # sum_x pi(x) (1 - r(x)) (e_x - pi)
        "k1_in_loss": pi @ score,  # sum_x pi(x) (e_x - pi) = 0
        "k1_in_reward": pi_k1 @ score,  # sum_x pi(x) k1(x) (e_x - pi)
        "k3_in_reward": pi_k3 @ score,  # sum_x pi(x) k3(x) (e_x - pi)
        "reverse_kl": pi * (log_ratio - pi @ log_ratio),
        "forward_kl": pi - ref,  # -sum_x ref(x) (e_x - pi)
    }
