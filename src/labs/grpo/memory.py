"""The memory of an RL step, from parameter counts: what dropping the critic saves.

`rl_memory_bytes` counts model state (weights, gradients, optimiser state); `rl_step_memory` adds
the activations of the training pass (Korthikanti et al. 2022, eq. 1) and the KV cache of the
rollout, for a transformer of a given shape, and takes the peak over the two phases of a step
(generation holds no gradients).

Taught in chapter 5, "Claim check: "doesn't need as many GPUs" and "orders of magnitude more
efficient"".
"""

from __future__ import annotations

from labs.common.facts import fact
from labs.common.validate import boolean
from labs.grpo.checks import check_memory_args, check_step_memory_args

__all__ = ["rl_memory_bytes", "rl_step_memory"]


def rl_memory_bytes(
    policy_params: float,
    *,
    critic_params: float = 0.0,
    reward_model_params: float = 0.0,
    trained_bytes: float | None = None,
    frozen_bytes: float | None = None,
    reference: bool = True,
) -> dict[str, float]:
    """Model-state memory of an RL step (activations excluded), in bytes.

    A trained model (the policy, and PPO's critic) costs `trained_bytes` per parameter (weights,
    gradients, optimiser state; default: mixed-precision Adam, 16 bytes, as counted by ZeRO §3.1);
    a frozen one (the reference policy and a reward model) costs `frozen_bytes` (default: 2, bf16
    weights only). Both defaults come from the facts registry.

    `reference=False` leaves out the frozen reference policy: with beta = 0 (no KL penalty, as in
    DAPO and TRL's default) nothing reads it.

    Parameter counts are capped at 10^15 and bytes per parameter at 64, so that no sum
    overflows.

    Returns a dict: "policy", "reference", "critic", "reward_model", "total".
    """
    if trained_bytes is None:
        trained_bytes = fact("grpo_mixed_adam_bytes_per_param").value
    if frozen_bytes is None:
        frozen_bytes = fact("grpo_bf16_bytes_per_param").value
    counts = check_memory_args(
        policy_params, critic_params, reward_model_params, trained_bytes, frozen_bytes
    )
    return _rl_memory_bytes(*counts, boolean("reference", reference))


def _rl_memory_bytes(
    policy: float,
    critic: float,
    reward_model: float,
    trained: float,
    frozen: float,
    reference: bool = True,
) -> dict[str, float]:
    """Bytes per model: trained ones at `trained` bytes per parameter, frozen ones at `frozen`."""
    out = {
        "policy": policy * trained,
        "reference": policy * frozen if reference else 0.0,  # the frozen pi_ref
        "critic": critic * trained,
        "reward_model": reward_model * frozen,
    }
    out["total"] = sum(out.values())
    return out


def rl_step_memory(
    policy_params: float,
    *,
    n_layers: int,
    d_model: int,
    n_heads: int,
    seq_len: int,
    train_batch: int,
    rollout_batch: int,
    n_kv_heads: int | None = None,
    critic: bool = False,
    reward_model_params: float = 0.0,
    reference: bool = True,
    kv_bytes: int = 2,
    checkpointing: bool = False,
    attention_scores: bool = True,
    grads_during_generation: bool = False,
) -> dict[str, float]:
    """Bytes of one RL step with activations and the rollout's KV cache, for a transformer.

    Model state is `rl_memory_bytes` (default bytes per parameter); `critic=True` adds a critic of
    the policy's size and shape (PPO). Activations: `train_batch` sequences of `seq_len` tokens in
    one training pass, s*b*h*(34 + 5*a*s/h) bytes per layer (Korthikanti et al. 2022, eq. 1:
    16-bit, no parallelism), once for the policy and once more for a critic; with
    `checkpointing`, only each layer's 16-bit input (2*s*b*h bytes) is kept and one layer is
    recomputed at a time. `attention_scores=False` leaves out eq. 1's 5*a*s/h term, the attention
    score matrices (softmax and dropout, a*s*s per sequence and layer): a fused attention kernel
    such as FlashAttention keeps none and recomputes them in the backward pass. KV cache: keys and
    values of `rollout_batch` sequences of `seq_len` tokens generated at once, `kv_bytes` per
    element. Only the policy generates, so the KV cache
    is the same with or without a critic.

    "peak" assumes the two phases do not overlap (the KV cache is freed before the training
    pass, as in colocated engines) and is the larger of the two: the training phase holds the
    model state and the activations; the generation phase holds the model state without the
    gradients and the KV cache. Gradients are needed only between the backward pass and the
    optimiser step; the default assumes a loop that frees them once the step is done
    (`zero_grad()` right after `step()`; it sets them to None, its default since PyTorch 2.0), so
    no rollout sees them. They are 16-bit, 2 bytes per trained parameter (the policy's, and the
    critic's with `critic=True`), the width of the registry's 16-bit weights.
    `grads_during_generation=True` keeps them through generation too, as a loop does that calls
    `zero_grad()` just before its next backward pass (this package's training loops do) or zeroes
    them in place (`zero_grad(set_to_none=False)`): model state + max(activations, KV cache).
    "sum" keeps everything.

    Sizes are capped (layers <= 1,024, width <= 2^20, heads <= 2^14, tokens and batches
    <= 2^24, kv_bytes <= 8), far beyond any model, so that a typo fails loudly.

    Returns a dict: "model state", "gradients" (included in "model state"), "activations",
    "kv cache", "peak", "sum".
    """
    checked = check_step_memory_args(
        n_layers, d_model, n_heads, n_kv_heads, seq_len, train_batch, rollout_batch, kv_bytes
    )
    state = rl_memory_bytes(
        policy_params,
        critic_params=policy_params if boolean("critic", critic) else 0.0,
        reward_model_params=reward_model_params,
        reference=reference,
    )["total"]
    per_token, per_score = fact("grpo_activation_coefficients").value
    if not boolean("attention_scores", attention_scores):
        per_score = 0  # no score matrix is kept
    # 16-bit gradients of every trained model: the policy, and the critic of the same size
    grads = policy_params * (2 if critic else 1) * fact("grpo_bf16_bytes_per_param").value
    held = boolean("grads_during_generation", grads_during_generation)
    return _rl_step_memory(
        state,
        grads,
        held,
        *checked,
        2 if critic else 1,
        boolean("checkpointing", checkpointing),
        (per_token, per_score),
    )


def _rl_step_memory(
    state: float,
    grads: float,
    grads_held: bool,
    layers: int,
    width: int,
    heads: int,
    kv_heads: int,
    seq: int,
    train_batch: int,
    rollout_batch: int,
    kv_bytes: int,
    trained_models: int,
    checkpointing: bool,
    coefficients: tuple[int, int],
) -> dict[str, float]:
    """State + training activations (Korthikanti eq. 1) + rollout KV cache, in bytes; the peak is
    the larger phase, generation without the `grads` bytes of gradients unless `grads_held`."""
    per_token, per_score = coefficients  # 34 and 5
    sbh = seq * train_batch * width
    layer = sbh * (per_token + per_score * heads * seq / width)  # eq. 1, one layer
    kept = layers * 2 * sbh + layer if checkpointing else layers * layer
    activations = trained_models * kept  # the critic's pass is as large as the policy's
    head_dim = width // heads
    kv_cache = 2 * layers * kv_heads * head_dim * seq * rollout_batch * kv_bytes  # K and V
    return {
        "model state": state,
        "gradients": float(grads),
        "activations": float(activations),
        "kv cache": float(kv_cache),
        "peak": max(state + activations, state - (0 if grads_held else grads) + kv_cache),
        "sum": state + activations + kv_cache,
    }
