"""Chapter 5's argument checks, written once for the NumPy, PyTorch and JAX entry points.

Each public function of `labs.grpo` (reference, torch, jax, training) calls one of these at its
boundary, then runs a bare kernel that does no checking. They take anything with `.shape` and
`.dtype` and read values (finiteness, 0/1 masks, id ranges) only for host-resident data, so a
GPU kernel never waits for a validation read. Errors name the parameter, what was expected and
what came, with the same words in every framework.

These are helpers of the public API, not part of it: `__all__` is empty, and the hostile-input
suite attacks them through the entry points that call them.
"""

from __future__ import annotations

import numpy as np

from labs.common.validate import (
    array,
    boolean,
    describe_value,
    divisible,
    integer,
    integer_array,
    learning_rate,
    one_of,
    real_number,
    same_shape,
    size,
)
from labs.common.validate import host_values as validate_host_values

__all__: list[str] = []

REWARDS = ("correct_and_format", "format_only", "at_least_sum")

# The largest policy the toy task uses is ~10^5 parameters; these caps (a 65,536-token
# vocabulary, width 1,024, 48 layers, 4,096 positions) keep a mistyped size from allocating
# gigabytes, and are far beyond what a laptop trains in a chapter.
MAX_VOCAB = 65_536
MAX_WIDTH = 1_024
MAX_LAYERS = 48
MAX_LEN = 4_096
MAX_BATCH = 65_536  # sequences in one batch: the largest GRPO step (see GRPOConfig)
MAX_STEPS = 100_000  # optimiser steps of a run: about a second each on a laptop CPU
MAX_UPDATES_PER_BATCH = 100
MAX_SAMPLING_ROUNDS = 16  # dynamic sampling: batches drawn per step at most (16x the cost)
MAX_COMPLETION = 2**20  # tokens: the longest max_completion_length "dr_grpo" may divide by
# |advantage| at most: group advantages stay below sqrt(G) <= 256 and whitened PPO advantages
# are a few units; with the ratio at its cap (e^64 ~ 6e27) a larger one could overflow a
# float32 sum of the loss's terms, and one near float64's maximum overflows even there (NaN).
MAX_ADVANTAGE = 1e4
MAX_LOGIT = 1e4  # |logit| at most in kl_gradients: softmax's log-probabilities stay finite

# Where PPO's KL penalty sits: in the per-token reward (eq. 2) or, as in GRPO, in the loss.
# GRPO also takes "reward_k3": in the reward, but summed k3 instead of summed k1 (the cross arm
# that separates the estimator from the placement; PPO refuses it).
KL_PENALTIES = ("reward", "loss")
GRPO_KL_PENALTIES = (*KL_PENALTIES, "reward_k3")

# How grpo_loss averages its per-token terms (TRL's `loss_type`, see labs.grpo.reference).
LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")


def unit_interval(name: str, value) -> float:
    """`value` as a float in [0, 1]; TypeError/ValueError naming `name` otherwise."""
    value = real_number(name, value)
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def host_values(x) -> np.ndarray | None:
    """The values of `x` when they live in host memory, else None (labs.common.validate)."""
    return validate_host_values(x)


def same_device(*named) -> None:
    """ValueError unless every (name, tensor) pair sits on the device of the first one."""
    (first_name, first), *rest = named
    for name, x in rest:
        if x.device != first.device:
            raise ValueError(
                f"{name} must be on the device of {first_name} ({first.device}), got {x.device}"
            )


def mask_array(name: str, mask, shape: tuple[int, ...], *, framework: str):
    """A mask of booleans or 0/1 numbers with the given shape (values checked on the host)."""
    mask = array(name, mask, framework=framework, dtype=("bool", "int", "float"))
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(
            f"{name} must have the shape of logp {tuple(shape)}, got {tuple(mask.shape)}"
        )
    host = host_values(mask)
    if host is not None and not np.isin(host, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1")
    return mask


# --- The three kernels ---------------------------------------------------------------------------


def check_group_args(rewards, group_size, *, framework: str):
    """Checked (rewards, group_size): a 1-D float array of whole groups of `group_size` >= 2."""
    rewards = array("rewards", rewards, framework=framework)
    if rewards.ndim != 1:
        raise ValueError(f"rewards must be 1-D, got shape {tuple(rewards.shape)}")
    group_size = integer("group_size", group_size, minimum=2)
    n = int(rewards.shape[0])
    if n % group_size:
        raise ValueError(f"len(rewards) must be a multiple of group_size={group_size}, got {n}")
    return rewards, group_size


def check_advantages_args(rewards, group_size, eps, scale_by_std=True, *, framework: str):
    """Checked (rewards, group_size, eps, scale_by_std) of `group_advantages`, for any framework."""
    rewards, group_size = check_group_args(rewards, group_size, framework=framework)
    eps = real_number("eps", eps, positive=True)
    scale_by_std = boolean("scale_by_std", scale_by_std)
    return rewards, group_size, eps, scale_by_std


def check_at_k_args(values, k, *, name: str, dtype: tuple[str, ...], divides: bool = False):
    """Checked (values, k) of pass@k / maj@k: a (P, n) NumPy array and 1 <= k <= n (dividing n
    when `divides`). 0/1 values are required where `dtype` allows floats."""
    values = array(name, values, framework="numpy", dtype=dtype, ndim=2)
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(f"{name} must have shape (P >= 1, n >= 1), got {values.shape}")
    n = int(values.shape[1])
    k = integer("k", k, minimum=1, maximum=n)
    if "float" in dtype and not np.isin(values, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1 (or booleans)")
    if divides and n % k:
        raise ValueError(f"k must divide the number of samples n={n}, got {k}")
    if "int" in dtype and values.dtype.kind in "iu" and values.min() < -1:
        raise ValueError(f"{name} must be >= 0, or -1 for a malformed sample, got {values.min()}")
    return values, k


def check_targets(targets, n_problems: int):
    """The right answers of maj@k: a 1-D integer NumPy array with one entry per problem."""
    targets = array("targets", targets, framework="numpy", dtype="int", ndim=1)
    if targets.shape[0] != n_problems:
        raise ValueError(f"targets must have shape ({n_problems},), got {targets.shape}")
    if targets.min() < 0:
        raise ValueError(f"targets must be >= 0 (answers are non-negative), got {targets.min()}")
    return targets


# How far above zero a log-probability may read: log_softmax in float32 rounds a certain token's
# log-probability to 0 or to a few units of 1e-7 either side, never to 1e-4.
LOGP_SLACK = 1e-4


def log_probabilities(name: str, value):
    """Refuse an array of log-probabilities with an entry above zero (host-resident data only, as
    labs.common.validate's finite check): logits or probabilities passed where log-probabilities
    belong give a wrong loss without an error."""
    host = host_values(value)
    if host is not None and host.size and float(host.max()) > LOGP_SLACK:
        raise ValueError(
            f"{name} must hold log-probabilities (at most 0), got an entry of "
            f"{float(host.max()):.4g}: logits or probabilities where log-probabilities belong?"
        )
    return value


def check_kl_args(logp, ref_logp, *, framework: str):
    """Checked (logp, ref_logp) of `kl_k3`: floating arrays of one shape."""
    logp = log_probabilities("logp", array("logp", logp, framework=framework))
    ref_logp = log_probabilities("ref_logp", array("ref_logp", ref_logp, framework=framework))
    same_shape(("logp", logp), ("ref_logp", ref_logp))
    if framework == "torch":
        same_device(("logp", logp), ("ref_logp", ref_logp))
    return logp, ref_logp


def check_loss_settings(
    logp_shape,
    advantages_shape,
    clip_eps,
    beta,
    group_size,
    *,
    clip_eps_low=None,
    clip_eps_high=None,
    loss_type="grpo",
    max_completion_length=None,
):
    """Validate the shape of `advantages` and the scalar settings of `grpo_loss`.

    Shared by the NumPy, PyTorch and JAX losses, so all three reject the same inputs with the
    same messages. Returns (clip_low, clip_high, beta, group_size, loss_type, max_len): the clip
    range below and above 1 (each defaults to `clip_eps`), beta, group_size (int or None), the
    loss type, and the length "dr_grpo" divides by (`max_completion_length`, or the width T of
    `logp` when None; it may not be shorter than T).
    """
    logp_shape, advantages_shape = tuple(logp_shape), tuple(advantages_shape)
    if advantages_shape not in (logp_shape[:1], logp_shape):
        raise ValueError(
            f"advantages must have shape {logp_shape[:1]} or {logp_shape}, got {advantages_shape}"
        )
    clip_eps = real_number("clip_eps", clip_eps, positive=True)
    clip_low = clip_eps if clip_eps_low is None else clip_eps_low
    clip_high = clip_eps if clip_eps_high is None else clip_eps_high
    clip_low = real_number("clip_eps_low", clip_low, positive=True)
    clip_high = real_number("clip_eps_high", clip_high, positive=True)
    beta = real_number("beta", beta, nonnegative=True)
    if group_size is not None:
        group_size = integer("group_size", group_size, minimum=1)
        if logp_shape[0] % group_size:
            raise ValueError(
                f"the batch size {logp_shape[0]} must be a multiple of group_size={group_size}"
            )
    loss_type = one_of("loss_type", loss_type, LOSS_TYPES)
    width = int(logp_shape[1])
    if max_completion_length is None:
        max_len = max(width, 1)
    else:
        why = "a generation cap beyond 2^20 tokens is a typo, and the loss divides by it"
        max_len = size("max_completion_length", max_completion_length, maximum=MAX_COMPLETION,
                       why=why)  # fmt: skip
        if max_len < width:
            raise ValueError(
                f"max_completion_length must be at least the completions' length T={width}, "
                f"got {max_len}"
            )
    return clip_low, clip_high, beta, group_size, loss_type, max_len


def check_loss_args(
    logp,
    old_logp,
    ref_logp,
    advantages,
    mask,
    clip_eps,
    beta,
    group_size,
    *,
    framework: str,
    clip_eps_low=None,
    clip_eps_high=None,
    loss_type="grpo",
    max_completion_length=None,
):
    """Checked arguments of `grpo_loss`, for any framework: the five arrays, then the settings
    of `check_loss_settings` (clip_low, clip_high, beta, group_size, loss_type, max_len)."""
    logp = log_probabilities("logp", array("logp", logp, framework=framework))
    if logp.ndim != 2:
        raise ValueError(f"logp must have shape (B, T), got {tuple(logp.shape)}")
    old_logp = log_probabilities("old_logp", array("old_logp", old_logp, framework=framework))
    ref_logp = log_probabilities("ref_logp", array("ref_logp", ref_logp, framework=framework))
    advantages = array("advantages", advantages, framework=framework)
    host = host_values(advantages)
    if host is not None and host.size and np.abs(host).max() > MAX_ADVANTAGE:
        raise ValueError(
            f"advantages must be at most {MAX_ADVANTAGE:g} in magnitude (larger ones overflow the "
            f"loss's sums), got {float(np.abs(host).max()):g}"
        )
    same_shape(("logp", logp), ("old_logp", old_logp), ("ref_logp", ref_logp))
    mask = mask_array("mask", mask, logp.shape, framework=framework)
    if framework == "torch":
        same_device(("logp", logp), ("old_logp", old_logp), ("ref_logp", ref_logp),
                    ("advantages", advantages), ("mask", mask))  # fmt: skip
    settings = check_loss_settings(
        logp.shape,
        advantages.shape,
        clip_eps,
        beta,
        group_size,
        clip_eps_low=clip_eps_low,
        clip_eps_high=clip_eps_high,
        loss_type=loss_type,
        max_completion_length=max_completion_length,
    )
    return (logp, old_logp, ref_logp, advantages, mask, *settings)


# --- Configurations ------------------------------------------------------------------------------


def check_grpo_fields(config) -> None:
    """Check the fields of a GRPOConfig (sizes capped: a typo must not run for days)."""
    why = "one step samples prompts_per_step * group_size completions at once"
    size("steps", config.steps, maximum=MAX_STEPS, why="a step takes about a second on a CPU")
    size("group_size", config.group_size, minimum=2, maximum=MAX_BATCH // 2)
    size("prompts_per_step", config.prompts_per_step, maximum=MAX_BATCH // config.group_size,
         why=why)  # fmt: skip
    size("updates_per_batch", config.updates_per_batch, maximum=MAX_UPDATES_PER_BATCH)
    integer("seed", config.seed, minimum=0)
    learning_rate("lr", config.lr)
    for name in ("clip_eps", "adv_eps", "temperature"):
        real_number(name, getattr(config, name), positive=True)
    for name in ("beta", "format_weight"):
        real_number(name, getattr(config, name), nonnegative=True)
    one_of("reward", config.reward, REWARDS)
    one_of("loss_type", config.loss_type, LOSS_TYPES)
    boolean("scale_by_std", config.scale_by_std)
    if config.clip_eps_high is not None:
        real_number("clip_eps_high", config.clip_eps_high, positive=True)
    boolean("baseline", config.baseline)
    boolean("dynamic_sampling", config.dynamic_sampling)
    size("max_sampling_rounds", config.max_sampling_rounds, maximum=MAX_SAMPLING_ROUNDS)
    # PPOConfig names its own two placements (KL_PENALTIES); GRPOConfig adds the cross arm
    one_of("kl_penalty", config.kl_penalty, config.KL_PENALTIES)


def check_ppo_fields(config) -> None:
    """Check the fields a PPOConfig adds to a GRPOConfig (and refuse the GRPO-only ones)."""
    boolean("distinct_prompts", config.distinct_prompts)
    if config.dynamic_sampling or not config.baseline:
        raise ValueError(
            "dynamic_sampling and baseline are GRPO settings: a PPOConfig must keep "
            f"dynamic_sampling=False and baseline=True, got {config.dynamic_sampling} and "
            f"{config.baseline}"
        )
    learning_rate("critic_lr", config.critic_lr)
    for name in ("gamma", "gae_lambda"):
        unit_interval(name, getattr(config, name))


# --- The policy, its sampler and the training loops -----------------------------------------------


def check_policy_sizes(vocab_size, max_len, d_model, n_layers, n_heads, out_dim):
    """Checked sizes of a TinyPolicy (capped: see the module's constants)."""
    why = "a tiny policy for a toy task; larger sizes would allocate gigabytes"
    vocab_size = size("vocab_size", vocab_size, maximum=MAX_VOCAB, why=why)
    max_len = size("max_len", max_len, maximum=MAX_LEN, why=why)
    d_model = size("d_model", d_model, maximum=MAX_WIDTH, why=why)
    n_layers = size("n_layers", n_layers, maximum=MAX_LAYERS, why=why)
    n_heads = size("n_heads", n_heads, maximum=d_model)
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} must be a multiple of n_heads={n_heads}")
    if out_dim is not None:
        out_dim = size("out_dim", out_dim, maximum=MAX_VOCAB, why=why)
    return vocab_size, max_len, d_model, n_layers, n_heads, out_dim


def check_ids(name: str, ids, vocab_size: int, max_len: int):
    """(B, T) int64 token ids below `vocab_size`, with T <= `max_len` (ranges read on the host)."""
    ids = array(name, ids, framework="torch", dtype=("int", "float", "bool"), finite=False)
    if str(ids.dtype) != "torch.int64":
        raise TypeError(f"{name} must hold int64 token ids, got dtype {ids.dtype}")
    if ids.ndim != 2:
        raise ValueError(f"{name} must have shape (B, T), got {tuple(ids.shape)}")
    if ids.shape[1] > max_len:
        raise ValueError(f"{name} must have shape (B, T <= {max_len}), got {tuple(ids.shape)}")
    size(f"the batch of {name}", ids.shape[0], maximum=MAX_BATCH)
    return integer_array(name, ids, framework="torch", low=0, high=vocab_size)


def check_policy_call(policy, policy_type: type, prompts):
    """Checked prompts of a call that runs `policy`, a `policy_type` instance."""
    if not isinstance(policy, policy_type):
        raise TypeError(f"policy must be a {policy_type.__name__}, got {describe_value(policy)}")
    return check_ids("prompts", prompts, policy.vocab_size, policy.max_len)


def check_completions(completions, prompts, vocab_size: int, max_len: int):
    """Completions (B, N) that follow `prompts` (B, P) within a context of `max_len` + 1 (the
    last token is scored, never read)."""
    room = max_len - prompts.shape[1] + 1
    completions = check_ids("completions", completions, vocab_size, room)
    if completions.shape[0] != prompts.shape[0]:
        raise ValueError(
            f"completions must have {prompts.shape[0]} rows like prompts, "
            f"got {completions.shape[0]}"
        )
    return completions


def check_sampling(eos_id, pad_id, generator, temperature, vocab_size: int):
    """Checked (eos_id, pad_id, generator, temperature) of the sampler."""
    kind = (type(generator).__module__.split(".")[0], type(generator).__name__)
    if generator is not None and kind != ("torch", "Generator"):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {describe_value(generator)}"
        )
    return (
        check_token_id("eos_id", eos_id, vocab_size),
        check_token_id("pad_id", pad_id, vocab_size),
        generator,
        real_number("temperature", temperature, positive=True),
    )


def check_new_tokens(max_new_tokens, prompt_length: int, max_len: int) -> int:
    """A completion length that fits the policy's context after a prompt of `prompt_length`."""
    room = max_len - prompt_length
    if room < 1:
        raise ValueError(
            f"prompts must be shorter than the policy's max_len={max_len}, got {prompt_length}"
        )
    why = f"the policy's max_len {max_len} minus the prompt length {prompt_length}"
    return size("max_new_tokens", max_new_tokens, maximum=room, why=why)


def check_token_id(name: str, value, vocab_size: int) -> int:
    """A token id of a vocabulary of `vocab_size` tokens."""
    return integer(name, value, minimum=0, maximum=vocab_size - 1)


def check_fits(name: str, vocab_size: int, max_len: int, task_vocab: int, task_len: int) -> None:
    """ValueError unless a policy of this vocabulary and context can read the task's sequences."""
    if vocab_size < task_vocab or max_len < task_len:
        raise ValueError(
            f"{name} must cover the task's vocabulary ({task_vocab} tokens) and length "
            f"({task_len} tokens), got vocab_size={vocab_size}, max_len={max_len}"
        )


def check_loop_sizes(steps, batch_size, lr, seed):
    """Checked (steps, batch_size, lr, seed) of a supervised warm-up."""
    steps = size("steps", steps, maximum=MAX_STEPS, why="about a second per step on a CPU")
    batch_size = size("batch_size", batch_size, maximum=MAX_BATCH)
    lr = learning_rate("lr", lr)
    seed = integer("seed", seed, minimum=0)
    return steps, batch_size, lr, seed


def check_gae_args(rewards, values, mask, gamma, lam):
    """Checked arguments of `gae`: (B, T) float tensors of one shape and device, a 0/1 mask,
    gamma and lam in [0, 1]."""
    rewards = array("rewards", rewards, framework="torch", ndim=2)
    shape = tuple(rewards.shape)
    values = array("values", values, framework="torch")
    if tuple(values.shape) != shape:
        raise ValueError(
            f"values must have the shape (B, T) of rewards {shape}, got {tuple(values.shape)}"
        )
    mask = array("mask", mask, framework="torch", dtype=("bool", "int", "float"))
    if tuple(mask.shape) != shape:
        raise ValueError(
            f"mask must have the shape (B, T) of rewards {shape}, got {tuple(mask.shape)}"
        )
    host = host_values(mask)
    if host is not None and not np.isin(host, (0, 1)).all():
        raise ValueError("mask must hold only 0 and 1")
    same_device(("rewards", rewards), ("values", values), ("mask", mask))
    return rewards, values, mask, unit_interval("gamma", gamma), unit_interval("lam", lam)


def check_memory_args(policy_params, critic_params, reward_model_params, trained_bytes,
                      frozen_bytes):  # fmt: skip
    """Checked parameter counts (<= 10^15: far beyond any model, so no product overflows) and
    bytes per parameter (<= 64) of `rl_memory_bytes`."""
    params = {"policy_params": policy_params, "critic_params": critic_params,
              "reward_model_params": reward_model_params}  # fmt: skip
    counts = [
        real_number(name, value, positive=name == "policy_params", nonnegative=True, maximum=1e15)
        for name, value in params.items()
    ]
    per_param = [
        real_number(name, value, positive=True, maximum=64.0)
        for name, value in (("trained_bytes", trained_bytes), ("frozen_bytes", frozen_bytes))
    ]
    return (*counts, *per_param)


def check_step_memory_args(n_layers, d_model, n_heads, n_kv_heads, seq_len, train_batch,
                           rollout_batch, kv_bytes):  # fmt: skip
    """Checked shape and batch sizes of `rl_step_memory`; `n_kv_heads` None means n_heads.
    The caps are far beyond any model: they catch typos."""
    layers = size("n_layers", n_layers, maximum=1_024)
    width = size("d_model", d_model, maximum=2**20)
    heads = size("n_heads", n_heads, maximum=2**14)
    divisible("d_model", width, heads, "n_heads")
    kv_heads = heads if n_kv_heads is None else size("n_kv_heads", n_kv_heads, maximum=heads)
    divisible("n_heads", heads, kv_heads, "n_kv_heads")
    seq = size("seq_len", seq_len, maximum=2**24)
    batches = [size(name, value, maximum=2**24) for name, value in
               (("train_batch", train_batch), ("rollout_batch", rollout_batch))]  # fmt: skip
    return (layers, width, heads, kv_heads, seq, *batches, size("kv_bytes", kv_bytes, maximum=8))


def check_peak_args(fn, device):
    """`fn` callable, `device` "cpu" or "cuda" (`labs.grpo.peak_memory.peak_memory`)."""
    if not callable(fn):
        raise TypeError(f"fn must be a callable taking no arguments, got {describe_value(fn)}")
    return fn, one_of("device", device, ("cpu", "cuda"))


def check_items(name: str, value, cls: type | tuple[type, ...], *, nonempty: bool = True) -> list:
    """`value` as a list whose items are all instances of `cls` (at most MAX_BATCH of them)."""
    what = " or ".join(c.__name__ for c in cls) if isinstance(cls, tuple) else cls.__name__
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence of {what}, got {describe_value(value)}")
    items = list(value)
    if nonempty and not items:
        raise ValueError(f"{name} must hold at least one {what}, got none")
    size(f"len({name})", len(items), minimum=0, maximum=MAX_BATCH)
    for i, item in enumerate(items):
        if not isinstance(item, cls):
            raise TypeError(f"{name}[{i}] must be a {what}, got {describe_value(item)}")
    return items


def check_ks(ks) -> list:
    """`ks` as a non-empty list of at most 16 values (each checked by the caller)."""
    if isinstance(ks, (str, bytes)) or not hasattr(ks, "__iter__"):
        raise TypeError(f"ks must be a sequence of integers, got {describe_value(ks)}")
    ks = list(ks)
    if not 1 <= len(ks) <= 16:
        raise ValueError(f"ks must hold 1 to 16 values, got {len(ks)}")
    return ks


def check_config(name: str, config, cls: type, *, not_a: type | None = None):
    """`config` if it is an instance of `cls` (and not of its subclass `not_a`); a dict or any
    other look-alike is refused, never read as the defaults."""
    if not isinstance(config, cls) or (not_a is not None and isinstance(config, not_a)):
        raise TypeError(f"{name} must be a {cls.__name__}, got {describe_value(config)}")
    return config


# --- The ladder, the matched-KL comparison and the k3 gradients -----------------------------------


def check_ladder_args(rung, steps, seed, rungs) -> tuple[str, int, int]:
    """Checked (rung, steps, seed) of `ladder_config`: a known rung, steps <= MAX_STEPS."""
    one_of("rung", rung, tuple(rungs))
    steps = size("steps", steps, maximum=MAX_STEPS, why="a step takes about a second on a CPU")
    return rung, steps, integer("seed", seed, minimum=0)


def check_block_means_args(values, block) -> tuple[np.ndarray, int]:
    """Checked (values, block) of `block_means`: a 1-D array of numbers and a block size."""
    values = array("values", values, dtype=("float", "int"), ndim=1)
    return values, size("block", block, maximum=MAX_STEPS)


def check_reward_at_kl_args(rewards, kls, kl_level) -> tuple[np.ndarray, np.ndarray, float]:
    """Checked curves (two 1-D float arrays of one shape) and a KL level >= 0."""
    rewards = array("rewards", rewards, ndim=1)
    kls = array("kls", kls, ndim=1)
    if rewards.shape != kls.shape:
        raise ValueError(
            f"rewards and kls must have one shape, got {rewards.shape} and {kls.shape}"
        )
    return rewards, kls, real_number("kl_level", kl_level, nonnegative=True)


def check_run_rung_args(config, eval_seed, config_type: type) -> int:
    """TypeError unless `config` is a `config_type`; the checked evaluation seed."""
    if not isinstance(config, config_type):
        raise TypeError(f"config must be a {config_type.__name__}, got {describe_value(config)}")
    return integer("eval_seed", eval_seed, minimum=0)


def check_logit_pair(logits, ref_logits) -> tuple[np.ndarray, np.ndarray]:
    """Two 1-D float arrays of one shape (V >= 2,), as float64."""
    logits = array("logits", logits, ndim=1)
    ref_logits = array("ref_logits", ref_logits, ndim=1)
    if logits.shape != ref_logits.shape or logits.shape[0] < 2:
        raise ValueError(
            f"logits and ref_logits must have one shape (V >= 2,), got {logits.shape} and "
            f"{ref_logits.shape}"
        )
    for name, values in (("logits", logits), ("ref_logits", ref_logits)):
        if np.abs(values).max() > MAX_LOGIT:
            raise ValueError(
                f"{name} must be at most {MAX_LOGIT:g} in magnitude (a wider spread leaves "
                f"log-probabilities of -inf), got {float(np.abs(values).max()):g}"
            )
    return logits.astype(np.float64), ref_logits.astype(np.float64)


# --- The Countdown-style task -------------------------------------------------------------------


def check_countdown_task_args(n_problems, held_out_fraction, seed) -> tuple[int, float, int]:
    """Checked arguments of `CountdownTask`: 10 to 10,000 problems, a fraction in (0, 1)."""
    n_problems = size("n_problems", n_problems, minimum=10, maximum=10_000)
    frac = real_number("held_out_fraction", held_out_fraction)
    if not 0 < frac < 1:
        raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction}")
    return n_problems, frac, integer("seed", seed, minimum=0)


def check_countdown_problem(numbers, solution, n_numbers: int, max_number: int) -> None:
    """ValueError/TypeError unless `numbers` is a tuple of `n_numbers` ints in 1..max_number and
    `solution` a tuple of 2 or 3 of them (each used at most as often as it is listed)."""
    from collections import Counter

    for name, value, lengths in (
        ("numbers", numbers, (n_numbers,)),
        ("solution", solution, (2, 3)),
    ):
        if not isinstance(value, tuple):
            raise TypeError(f"{name} must be a tuple of ints, got {describe_value(value)}")
        if len(value) not in lengths:
            raise ValueError(
                f"{name} must hold {' or '.join(map(str, lengths))} numbers, got {len(value)}"
            )
        for n in value:
            integer(name, n, minimum=1, maximum=max_number)
    if Counter(solution) - Counter(numbers):
        raise ValueError(f"solution {solution} must use only the numbers {numbers}")


def check_completion_ids(completion, vocab_size: int) -> list[int]:
    """A completion's token ids (any array-like of ints below `vocab_size`) as a flat list."""
    ids = integer_array("completion", np.asarray(completion), low=0, high=vocab_size)
    return ids.reshape(-1).tolist()


def check_format_weight(format_weight) -> float:
    """The weight of the format reward, a real number >= 0."""
    return real_number("format_weight", format_weight, nonnegative=True)


def check_completion_rows(completions, n_problems: int, vocab_size: int, format_weight):
    """(completions as an (n_problems, N) int array, format_weight) of a task's `rewards`."""
    if hasattr(completions, "detach"):  # a torch tensor
        completions = completions.detach().cpu().numpy()
    completions = integer_array(
        "completions", np.asarray(completions), ndim=2, low=0, high=vocab_size
    )
    if completions.shape[0] != n_problems:
        raise ValueError(
            f"completions must have {n_problems} rows, one per problem, got {completions.shape[0]}"
        )
    return completions, check_format_weight(format_weight)
