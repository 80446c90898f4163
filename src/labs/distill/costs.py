"""Chapter 6 cost model: what copying a teacher costs against training the student with RL.

Taught in chapter 6, "When does copying pay?". Framework-free. Costs are counted in FLOPs with
the usual approximations (Kaplan et al., 2020, §2.1): a forward pass costs 2 N FLOPs per token
processed and a training step 6 N (forward and backward), for a model of N parameters.

The letters are the roofline's in chapter 6: N parameters, L prompt tokens, n new tokens.
Writing n tokens after a prompt of L costs 2 N FLOPs per token *pass*, and how many passes depends
on the sampler (`sampling_token_passes`). With a KV cache each position passes once, L + n - 1 in
all, the same positions a training pass sees: that is the step functions' default. Without one,
as in the chapter's own sampler (`labs.grpo.policy.sample`), which re-runs the whole prefix at
every step, it is the sum over t < n of (L + t), n L + n (n - 1) / 2 passes: 24 instead of 9 for
the addition task's L = 7, n = 3. To count what that code runs, pass
`sampled_tokens=sampling_token_passes(L, n, kv_cache=False)` to the step functions.

* The teacher's one-time cost: its own training (warm-up and GRPO), paid once whatever the
  number of students.
* A distilled sample: the teacher samples a trace (2 N_teacher per token), the student trains on
  it (6 N_student per token). The student never sees the teacher's logits.
* An RL sample for the student (GRPO): the student samples (2 N), scores it under the reference
  and the old policy (2 N each), then trains on it `updates` times (6 N each).

Copying pays for k students when  C_teacher + k C_distill < k C_RL, that is beyond
k* = C_teacher / (C_RL - C_distill) students (never when C_RL <= C_distill).

On an accelerator FLOPs are not time: sampling one token at a time reads every weight once per
decoding step, for the whole batch, so it is bound by memory bandwidth unless the batch is large.
The prompt is read in one pass for the whole batch (prefill), which is compute-bound unless the
prompts are very short and few.
A roofline model of each (`sampling_seconds`, `training_seconds`) turns the FLOP counts into
seconds on a device described by its peak FLOP/s and memory bandwidth.
"""

from __future__ import annotations

import math

from labs.common.validate import boolean, integer, real_number

__all__ = [
    "copy_crossover",
    "distill_step_flops",
    "grpo_step_flops",
    "sampling_flops",
    "sampling_seconds",
    "sampling_token_passes",
    "training_seconds",
    "uncached_flops",
    "warm_up_flops",
]

MAX_COUNT = 10**18  # counts beyond it are typos, not runs


def _count(name: str, value) -> int:
    return integer(name, value, minimum=1, maximum=MAX_COUNT)


def warm_up_flops(params: int, examples: int, tokens: int) -> float:
    """Supervised training on `examples` sequences of `tokens` positions: 6 N per token."""
    params, examples, tokens = (
        _count("params", params),
        _count("examples", examples),
        _count("tokens", tokens),
    )
    return 6.0 * params * examples * tokens


def sampling_token_passes(prompt_tokens: int, new_tokens: int, *, kv_cache: bool) -> int:
    """Token positions a decoder runs through its weights to write `new_tokens` (n) tokens after a
    prompt of `prompt_tokens` (L).

    With a KV cache each position passes once: the prompt, then every new token but the last is
    fed back, L + n - 1. Without one (as `labs.grpo.policy.sample` does) step t = 0 .. n - 1 re-runs
    the whole prefix of L + t tokens: n L + n (n - 1) / 2.
    """
    prompt_tokens = _count("prompt_tokens", prompt_tokens)
    new_tokens = _count("new_tokens", new_tokens)
    return _token_passes(prompt_tokens, new_tokens, boolean("kv_cache", kv_cache))


def _token_passes(prompt_tokens: int, new_tokens: int, kv_cache: bool) -> int:
    """L + n - 1 with a KV cache; without one, step t re-runs L + t tokens: n L + n (n - 1) / 2."""
    if kv_cache:
        return prompt_tokens + new_tokens - 1
    return new_tokens * prompt_tokens + new_tokens * (new_tokens - 1) // 2


def sampling_flops(params: int, prompt_tokens: int, new_tokens: int, *, kv_cache: bool) -> float:
    """FLOPs to sample one sequence of `new_tokens` after `prompt_tokens` from a model of `params`
    parameters: 2 N per token pass (`sampling_token_passes`)."""
    params = _count("params", params)
    return 2.0 * params * sampling_token_passes(prompt_tokens, new_tokens, kv_cache=kv_cache)


def uncached_flops(
    flops: float, samples: int, params: int, prompt_tokens: int, new_tokens: int
) -> float:
    """`flops` of a run counted as the step functions count by default (sampling with a KV cache),
    recounted for a sampler that keeps none, such as `labs.grpo.policy.sample`.

    The run sampled `samples` sequences of `new_tokens` after `prompt_tokens` from a model of
    `params` parameters; each adds 2 N per token pass that the cache would have saved,
    2 N (passes without a cache - passes with one) (`sampling_token_passes`). `samples` may be 0
    (the start of a curve): nothing is added. Work other than sampling is the same either way.
    """
    flops = real_number("flops", flops, nonnegative=True)
    samples = integer("samples", samples, minimum=0, maximum=MAX_COUNT)
    params = _count("params", params)
    prompt_tokens = _count("prompt_tokens", prompt_tokens)
    new_tokens = _count("new_tokens", new_tokens)
    return _uncached_flops(flops, samples, params, prompt_tokens, new_tokens)


def _uncached_flops(
    flops: float, samples: int, params: int, prompt_tokens: int, new_tokens: int
) -> float:
    """`flops` plus 2 N per token pass the cache saved, for each of `samples` sequences."""
    without = _token_passes(prompt_tokens, new_tokens, False)  # n L + n (n - 1) / 2 per sequence
    cached = _token_passes(prompt_tokens, new_tokens, True)  # L + n - 1 per sequence
    return flops + 2.0 * params * (without - cached) * samples


def _sampled(sampled_tokens, tokens: int) -> int:
    """Token passes of sampling one sequence: `tokens` (a KV cache) unless given."""
    return tokens if sampled_tokens is None else _count("sampled_tokens", sampled_tokens)


def grpo_step_flops(
    params: int,
    completions: int,
    tokens: int,
    updates: int = 1,
    *,
    sampled_tokens: int | None = None,
) -> float:
    """One GRPO step on `completions` sampled sequences of `tokens` positions: sample (2 N per
    token pass), reference and old log-probabilities (2 N each), `updates` training passes (6 N
    each). `sampled_tokens`: the token passes sampling one sequence takes; None counts `tokens`,
    as with a KV cache (see `sampling_token_passes` for the chapter's sampler, which has none)."""
    params, completions, tokens = (
        _count("params", params),
        _count("completions", completions),
        _count("tokens", tokens),
    )
    updates = integer("updates", updates, minimum=1, maximum=100)
    sampled = _sampled(sampled_tokens, tokens)
    return (2.0 * sampled + (2.0 + 2.0 + 6.0 * updates) * tokens) * params * completions


def distill_step_flops(
    teacher_params: int,
    student_params: int,
    traces: int,
    tokens: int,
    *,
    sampled_tokens: int | None = None,
) -> float:
    """One supervised step on `traces` fresh teacher samples of `tokens` positions: the teacher
    samples (2 N_teacher per token pass), the student trains (6 N_student per token).
    `sampled_tokens`: the token passes sampling one trace takes; None counts `tokens`, as with a
    KV cache (see `sampling_token_passes` for the chapter's sampler, which has none)."""
    teacher_params = _count("teacher_params", teacher_params)
    student_params = _count("student_params", student_params)
    traces, tokens = _count("traces", traces), _count("tokens", tokens)
    sampled = _sampled(sampled_tokens, tokens)
    return (2.0 * teacher_params * sampled + 6.0 * student_params * tokens) * traces


def copy_crossover(teacher_cost: float, distill_cost: float, rl_cost: float) -> float:
    """Number of students k* beyond which copying one teacher is cheaper than RL on each student:
    C_teacher / (C_RL - C_distill); inf when RL costs no more than distillation.

    All three are costs in one unit (FLOPs); `teacher_cost` may be 0 (a teacher already paid for).
    """
    teacher_cost = real_number("teacher_cost", teacher_cost, nonnegative=True)
    distill_cost = real_number("distill_cost", distill_cost, positive=True)
    rl_cost = real_number("rl_cost", rl_cost, positive=True)
    return _copy_crossover(teacher_cost, distill_cost, rl_cost)


def _copy_crossover(teacher_cost: float, distill_cost: float, rl_cost: float) -> float:
    """C_teacher / (C_RL - C_distill), inf where copying never pays."""
    saving = rl_cost - distill_cost  # saved per student by copying
    return math.inf if saving <= 0 else teacher_cost / saving


def sampling_seconds(
    params: int,
    tokens: int,
    *,
    peak_flops: float,
    memory_bandwidth: float,
    batch: int,
    utilisation: float,
    bytes_per_param: float = 2.0,
    prompt_tokens: int = 0,
) -> float:
    """Seconds to sample one sequence, decoded in a batch of `batch` sequences, on a roofline.

    A decoding step costs per sequence max(2 N / (peak x utilisation), N x bytes / (bandwidth x
    batch)): the compute bound, or the time to read the weights once, shared by the batch.

    With `prompt_tokens` = L > 0 (a KV cache), `tokens` are the new tokens written after the
    prompt. The prompt is read in one pass (prefill) for the whole batch, which also gives the
    first new token: max(L x batch x 2 N / (peak x utilisation), N x bytes / bandwidth) / batch
    per sequence. Each of the other `tokens` - 1 new tokens is one decoding step. With
    `prompt_tokens` = 0 every one of `tokens` is a decoding step, as if the prompt were decoded
    token by token too (pass L + n - 1 as `tokens` to charge it so).

    Launch latency and the reads of the KV cache are left out. `peak_flops` in FLOP/s,
    `memory_bandwidth` in bytes/s.
    """
    params, tokens = _count("params", params), _count("tokens", tokens)
    peak_flops = real_number("peak_flops", peak_flops, positive=True)
    memory_bandwidth = real_number("memory_bandwidth", memory_bandwidth, positive=True)
    batch = _count("batch", batch)
    utilisation = real_number("utilisation", utilisation, positive=True, maximum=1.0)
    bytes_per_param = real_number("bytes_per_param", bytes_per_param, positive=True, maximum=8.0)
    prompt_tokens = integer("prompt_tokens", prompt_tokens, minimum=0, maximum=MAX_COUNT)
    compute = 2.0 * params / (peak_flops * utilisation)  # one token, one sequence
    weights = params * bytes_per_param / memory_bandwidth  # one read of the weights
    decode = max(compute, weights / batch)  # one decoding step, per sequence
    if prompt_tokens == 0:
        return tokens * decode
    prefill = max(prompt_tokens * batch * compute, weights) / batch  # per sequence
    return prefill + (tokens - 1) * decode


def memory_bound_sampling_batch(
    *,
    peak_flops: float,
    memory_bandwidth: float,
    utilisation: float,
    bytes_per_param: float = 2.0,
) -> float:
    """The batch B* below which `sampling_seconds` is memory-bound: the batch at which reading
    the weights once per decoding step takes as long as the batch's compute,
    B* = bytes x peak x utilisation / (2 x bandwidth). Not rounded: a batch of B or more
    sequences decodes at the compute bound when B >= B*."""
    peak_flops = real_number("peak_flops", peak_flops, positive=True)
    memory_bandwidth = real_number("memory_bandwidth", memory_bandwidth, positive=True)
    utilisation = real_number("utilisation", utilisation, positive=True, maximum=1.0)
    bytes_per_param = real_number("bytes_per_param", bytes_per_param, positive=True, maximum=8.0)
    return bytes_per_param * peak_flops * utilisation / (2.0 * memory_bandwidth)


def training_seconds(flops: float, *, peak_flops: float, mfu: float) -> float:
    """Seconds to spend `flops` FLOPs of training (or of scoring whole sequences, which is just
    as parallel) at model-FLOP utilisation `mfu` of a peak of `peak_flops` FLOP/s."""
    flops = real_number("flops", flops, nonnegative=True)
    peak_flops = real_number("peak_flops", peak_flops, positive=True)
    mfu = real_number("mfu", mfu, positive=True, maximum=1.0)
    return flops / (peak_flops * mfu)
