"""Chapter 5's argument checks for the training side: the fields of GRPOConfig and PPOConfig, the
tiny policy and its sampler, the training loops, GAE, and the memory accounts.

Taught in chapter 5, "Training on the toy task", "PPO against GRPO, made fair" (GAE, the memory
account) and the claim check "doesn't need as many GPUs" (peak memory).

Helpers of the public API, not part of it: `__all__` is empty, and the hostile-input suite
attacks them through the entry points that call them. `labs.grpo.checks` re-exports every name.
"""

from __future__ import annotations

import numpy as np

from labs.common import validate
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
    size,
)
from labs.grpo.checks_base import (
    LOSS_TYPES,
    MAX_BATCH,
    MAX_LAYERS,
    MAX_LEN,
    MAX_SAMPLING_ROUNDS,
    MAX_STEPS,
    MAX_UPDATES_PER_BATCH,
    MAX_VOCAB,
    MAX_WIDTH,
    REWARDS,
    host_values,
    same_device,
    unit_interval,
)

__all__: list[str] = []

# --- Configurations ------------------------------------------------------------------------------


def check_grpo_fields(config) -> None:
    """Check the fields of a GRPOConfig (sizes capped: a typo must not run for days)."""
    why = "one step samples prompts_per_step * group_size completions at once"
    size("steps", config.steps, maximum=MAX_STEPS, why="a step takes about a second on a CPU")
    size("group_size", config.group_size, minimum=2, maximum=MAX_BATCH // 2)
    size("prompts_per_step", config.prompts_per_step, maximum=MAX_BATCH // config.group_size,
         why=why)  # fmt: skip
    size("updates_per_batch", config.updates_per_batch, maximum=MAX_UPDATES_PER_BATCH)
    validate.seed("seed", config.seed)
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
    prompts = check_ids("prompts", prompts, policy.vocab_size, policy.max_len)
    validate.on_module_device("the policy", policy, ("prompts", prompts))
    return prompts


def check_completions(completions, prompts, vocab_size: int, max_len: int):
    """Completions (B, N) that follow `prompts` (B, P) within a context of `max_len` + 1 (the
    last token is scored, never read)."""
    room = max_len - prompts.shape[1] + 1
    completions = check_ids("completions", completions, vocab_size, room)
    validate.same_device(("prompts", prompts), ("completions", completions))
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
    seed = validate.seed("seed", seed)
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
