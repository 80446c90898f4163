"""Chapter 5's argument checks, written once for the NumPy, PyTorch and JAX entry points.

Each public function of `labs.grpo` (reference, torch, jax, training) calls one of these at its
boundary, then runs a bare kernel that does no checking. Errors name the parameter, what was
expected and what came, with the same words in every framework. The checks live by idea in
`labs.grpo.checks_base` (caps, named choices, shared helpers), `checks_kernels` (the kernels),
`checks_training` (configurations, policy, sampler, loops, memory) and `checks_experiments`
(the ladder, the k3 gradients, Countdown); every name is re-exported here, where the package and
chapter 6 import it.

These are helpers of the public API, not part of it: `__all__` is empty, and the hostile-input
suite attacks them through the entry points that call them. Taught in chapter 5 (see each
module for its section).
"""

# ruff: noqa: F401 (re-exports: every name stays importable from labs.grpo.checks)

from labs.grpo.checks_base import (
    GRPO_KL_PENALTIES,
    KL_PENALTIES,
    LOSS_TYPES,
    MAX_ADVANTAGE,
    MAX_BATCH,
    MAX_COMPLETION,
    MAX_LAYERS,
    MAX_LEN,
    MAX_LOGIT,
    MAX_SAMPLING_ROUNDS,
    MAX_STEPS,
    MAX_UPDATES_PER_BATCH,
    MAX_VOCAB,
    MAX_WIDTH,
    REWARDS,
    host_values,
    mask_array,
    same_device,
    unit_interval,
)
from labs.grpo.checks_experiments import (
    check_block_means_args,
    check_completion_ids,
    check_completion_rows,
    check_countdown_problem,
    check_countdown_task_args,
    check_format_weight,
    check_ladder_args,
    check_logit_pair,
    check_run_rung_args,
)
from labs.grpo.checks_kernels import (
    LOGP_SLACK,
    check_advantages_args,
    check_at_k_args,
    check_group_args,
    check_kl_args,
    check_loss_args,
    check_loss_settings,
    check_targets,
    log_probabilities,
)
from labs.grpo.checks_training import (
    check_completions,
    check_config,
    check_fits,
    check_gae_args,
    check_grpo_fields,
    check_ids,
    check_items,
    check_ks,
    check_loop_sizes,
    check_memory_args,
    check_new_tokens,
    check_peak_args,
    check_policy_call,
    check_policy_sizes,
    check_ppo_fields,
    check_sampling,
    check_step_memory_args,
    check_token_id,
)

__all__: list[str] = []
