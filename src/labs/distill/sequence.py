"""Chapter 6 sequence-level distillation in PyTorch: the student learns from the teacher's traces.

Taught in chapter 6, "Sequence-level distillation" and "Distillation against RL, in miniature".
Reached as `labs.distill.torch.sequence_distillation_data` and so on. This module reuses the GRPO
chapter's policy, sampler and training loop (`labs.grpo`), as the issue that created the chapter
asks: the task and the policies are the same, only the teaching signal changes.

DeepSeek-R1's recipe (§2.4): sample the teacher, keep its outputs, fine-tune the small model on
them with ordinary supervised learning. The student never sees the teacher's logits, only the
tokens it wrote. The loops below count what each step costs in FLOPs (`labs.distill.costs`) and
measure the student's held-out greedy accuracy as they go, so that the two ways of training the
same student can be compared at equal compute.

Axes: B sequences, P prompt tokens, N completion tokens.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Int

from labs.common import validate
from labs.common.progress import progress
from labs.common.tasks import AdditionTask, Problem
from labs.common.validate import finite_loss, instance, integer, one_of, real_number, size, text
from labs.distill.costs import distill_step_flops, grpo_step_flops, warm_up_flops
from labs.grpo.checks import (
    check_ids,
    check_items,
    check_loop_sizes,
    check_new_tokens,
    check_sampling,
)
from labs.grpo.config import GRPOConfig
from labs.grpo.policy import TinyPolicy, _greedy, _sample
from labs.grpo.training import check_models, train_grpo

__all__ = [
    "Curve",
    "distill_on_traces",
    "grpo_on_student",
    "greedy_accuracy",
    "sequence_distillation_data",
]

MAX_SAMPLES = 64  # traces per prompt; more is a typo at this scale
TRACES = ("sampled", "correct", "greedy")  # what the student learns from; see distill_on_traces


@dataclass
class Curve:
    """Held-out greedy accuracy against the compute spent so far: counted FLOPs, samples drawn,
    and the CPU seconds of this process spent training (`time.process_time`, evaluation left
    out, so that other programs on a shared machine do not skew it)."""

    flops: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    samples: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, flops: float, accuracy: float, samples: int, seconds: float = 0.0) -> None:
        self.flops.append(float(flops))
        self.accuracy.append(float(accuracy))
        self.samples.append(int(samples))
        self.seconds.append(float(seconds))


@torch.no_grad()
def sequence_distillation_data(
    teacher: TinyPolicy,
    prompts: torch.Tensor,
    *,
    max_new_tokens: int,
    eos_id: int,
    pad_id: int,
    samples_per_prompt: int = 1,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Traces sampled from `teacher` for supervised fine-tuning of a student (R1's recipe).

    Args:
        teacher: the TinyPolicy to copy.
        prompts: (B, P) int64 token ids.
        max_new_tokens: completion length N, with P + N <= the teacher's max_len.
        eos_id, pad_id: token ids of the vocabulary.
        samples_per_prompt: traces per prompt, 1 to 64.
        temperature: the teacher's sampling temperature (> 0).
        generator: a torch.Generator for reproducible draws, or None.

    Returns:
        (prompts, completions, mask): (B * S, P), (B * S, N), (B * S, N), each prompt repeated
        S = samples_per_prompt times; mask is True up to and including the first <eos>. Tokens
        only: no logits leave the teacher.
    """
    instance("teacher", teacher, TinyPolicy, "a TinyPolicy")
    prompts = check_ids("prompts", prompts, teacher.vocab_size, teacher.max_len)
    max_new_tokens = check_new_tokens(max_new_tokens, prompts.shape[1], teacher.max_len)
    eos_id, pad_id, generator, temperature = check_sampling(
        eos_id, pad_id, generator, temperature, teacher.vocab_size
    )
    samples_per_prompt = size("samples_per_prompt", samples_per_prompt, maximum=MAX_SAMPLES)
    return _sequence_distillation_data(
        teacher, prompts, max_new_tokens, eos_id, pad_id, samples_per_prompt, temperature, generator
    )


def _sequence_distillation_data(
    teacher: TinyPolicy,
    prompts: Int[torch.Tensor, "B P"],
    max_new_tokens: int,
    eos_id: int,
    pad_id: int,
    samples_per_prompt: int,
    temperature: float,
    generator: torch.Generator | None,
) -> tuple[Int[torch.Tensor, "B P"], Int[torch.Tensor, "B N"], Bool[torch.Tensor, "B N"]]:
    """Repeat each prompt S times and let the teacher write; keep tokens and mask only."""
    repeated = prompts.repeat_interleave(samples_per_prompt, dim=0)  # (B * S, P)
    completions, mask = _sample(
        teacher, repeated, max_new_tokens, eos_id, pad_id, generator, temperature
    )
    return repeated, completions, mask


@torch.no_grad()
def greedy_accuracy(policy: TinyPolicy, task: AdditionTask, problems) -> float:
    """Share of `problems` (a non-empty sequence of Problems) the policy answers right, greedily."""
    check_models(task, policy=policy)
    problems = check_items("problems", problems, Problem)
    return _greedy_accuracy(policy, task, problems)


def _greedy_accuracy(policy: TinyPolicy, task: AdditionTask, problems: list[Problem]) -> float:
    prompts = torch.as_tensor(task.prompts(problems))
    return task.accuracy(problems, _greedy(policy, prompts, task.max_answer_tokens).numpy())


def _positions(task: AdditionTask) -> int:
    return task.prompt_length + task.max_answer_tokens - 1  # tokens a pass processes


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def distill_on_traces(
    student: TinyPolicy,
    teacher: TinyPolicy,
    task: AdditionTask,
    eval_problems,
    *,
    steps: int = 200,
    batch_size: int = 64,
    lr: float = 3e-3,
    temperature: float = 1.0,
    eval_every: int = 20,
    seed: int = 0,
    desc: str = "distil",
    traces: str = "sampled",
) -> tuple[TinyPolicy, Curve]:
    """Fine-tune `student` on fresh teacher traces of training prompts; returns it and its curve.

    Each step draws `batch_size` training prompts, has the teacher write one trace for each and
    takes one Adam step on the cross-entropy of the traces' tokens (up to and including <eos>).
    `traces` says which traces: "sampled" keeps every sampled trace (this chapter's default);
    "correct" keeps only the sampled traces whose answer is right and drops the rest (R1's
    rejection sampling, with one sample per prompt and the task's free verifier); "greedy" has
    the teacher write its most likely answer (Kim and Rush's sequence-level distillation, with
    greedy decoding for their beam search). The curve holds, every `eval_every` steps, the compute
    spent so far (the teacher's writing included, each step, also for the greedy traces that
    repeat; the student's training only on the traces kept), the traces trained on, and the
    greedy accuracy on `eval_problems`.
    steps <= 100,000 and batch_size <= 65,536 (a typo must not run for days); seed in [0, 2**62].
    """
    check_models(task, student=student, teacher=teacher)
    eval_problems = check_items("eval_problems", eval_problems, Problem)
    steps, batch_size, lr, seed = check_loop_sizes(steps, batch_size, lr, seed)
    seed = validate.seed("seed", seed)  # torch's generators take at most 2**64 - 1
    temperature = real_number("temperature", temperature, positive=True)
    eval_every = integer("eval_every", eval_every, minimum=1, maximum=steps)
    text("desc", desc, nonempty=False)
    traces = one_of("traces", traces, TRACES)
    return _distill_on_traces(
        student, teacher, task, eval_problems, steps, batch_size, lr, temperature, eval_every,
        seed, desc, traces,
    )  # fmt: skip


def _teacher_traces(teacher, task, problems, temperature, generator, traces):
    """(prompts, completions, mask) of the traces to train on, for a list of B problems: (K, P),
    (K, N), (K, N), K <= B rows; the mask is True up to and including the first <eos>."""
    tok, n = task.tokenizer, task.max_answer_tokens
    prompts = torch.as_tensor(task.prompts(problems))  # (B, P)
    if traces == "greedy":
        completions = _greedy(teacher, prompts, n)  # (B, N)
        eos = (completions == tok.eos_id).long()
        mask = torch.cumsum(eos, dim=1) - eos == 0  # no <eos> before: up to the first <eos>
        return prompts, completions, mask
    prompts, completions, mask = _sequence_distillation_data(
        teacher, prompts, n, tok.eos_id, tok.pad_id, 1, temperature, generator
    )
    if traces == "correct":
        keep = torch.as_tensor(task.rewards(problems, completions, 0.0) > 0)  # (B,) right ones
        return prompts[keep], completions[keep], mask[keep]
    return prompts, completions, mask


def _distill_on_traces(
    student, teacher, task, eval_problems, steps, batch_size, lr, temperature, eval_every, seed,
    desc, traces="sampled", watch=None, beta2=0.999, lr_drop=None, lr_cosine=None,
):  # fmt: skip
    """Teacher's traces, cross-entropy on the trace tokens, Adam; log accuracy against FLOPs.
    `watch`, if given, is called after every step as watch(step, student, loss, kept): the loss
    (None where no trace was kept) and the traces kept; the step's gradients are still in
    `student`'s parameters. It must not change the student (`labs.distill.dense` logs with it).
    `beta2` is Adam's second-moment decay (torch's default 0.999, used by every committed run).
    `lr_drop`, if given, is (step, factor): every step after `step` runs at `factor` * `lr`
    (`labs.distill.lr_decay`; None, the default of every other committed run, keeps `lr`).
    `lr_cosine`, if given, is a floor f in (0, 1]: step t of T runs at
    lr * (1 - (1 - f) (1 - cos(pi (t - 1) / (T - 1))) / 2), a cosine from `lr` at the first step
    to f * `lr` at the last, R1's schedule for its students with f = 0.1 (`labs.distill.lr_cosine`).
    The traces drawn do not depend on the rate, so every schedule trains on the same traces."""
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(student.parameters(), lr=lr, betas=(0.9, beta2))
    n_teacher, n_student, positions = _params(teacher), _params(student), _positions(task)
    writing = distill_step_flops(n_teacher, n_student, batch_size, positions) - warm_up_flops(
        n_student, batch_size, positions
    )  # the teacher's writing of one step's traces (2 N_teacher per token)
    curve = Curve()
    curve.add(0.0, _greedy_accuracy(student, task, eval_problems), 0)
    spent, trained = 0.0, 0  # CPU seconds, traces trained on
    for step in progress(range(1, steps + 1), desc=desc):
        start = time.process_time()
        if lr_drop is not None and step == lr_drop[0] + 1:
            for group in opt.param_groups:
                group["lr"] = lr * lr_drop[1]
        if lr_cosine is not None:  # exactly lr at the first step, lr_cosine * lr at the last
            done = (step - 1) / max(steps - 1, 1)
            for group in opt.param_groups:
                group["lr"] = lr * (1 - (1 - lr_cosine) * (1 - math.cos(math.pi * done)) / 2)
        idx = torch.randint(0, len(task.train), (batch_size,), generator=generator).tolist()
        prompts, completions, mask = _teacher_traces(
            teacher, task, [task.train[i] for i in idx], temperature, generator, traces
        )
        if len(prompts):  # rejection sampling can keep none
            seq = torch.cat([prompts, completions], dim=1)
            logits = student._forward(seq[:, :-1])[:, task.prompt_length - 1 :]
            targets = completions.masked_fill(~mask, -100)  # padding after <eos> is not trained
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            finite_loss(float(loss.detach()), step, steps, lr)  # stop at the first NaN
            trained += len(prompts)
        spent += time.process_time() - start
        if watch is not None:
            watch(step, student, float(loss.detach()) if len(prompts) else None, len(prompts))
        if step % eval_every == 0 or step == steps:
            learning = warm_up_flops(n_student, trained, positions) if trained else 0.0
            curve.add(step * writing + learning, _greedy_accuracy(student, task, eval_problems),
                      step * batch_size, spent)  # fmt: skip
    return student, curve


def grpo_on_student(
    student: TinyPolicy,
    task: AdditionTask,
    eval_problems,
    config: GRPOConfig | None = None,
    *,
    chunks: int = 4,
    desc: str = "GRPO",
) -> tuple[TinyPolicy, Curve]:
    """GRPO on the student itself (`labs.grpo.train_grpo`), measured every config.steps steps.

    Runs `chunks` rounds of `config.steps` GRPO steps against one frozen reference (the student as
    it starts), each round seeded `config.seed + round`; the optimiser restarts each round (the
    price of reusing the GRPO chapter's loop unchanged). chunks <= 1,000, and the last round's
    seed, config.seed + chunks - 1, at most 2**62 (`labs.common.validate.seed`).
    """
    config = GRPOConfig() if config is None else config
    check_models(task, student=student)
    eval_problems = check_items("eval_problems", eval_problems, Problem)
    if not isinstance(config, GRPOConfig):
        raise TypeError(f"config must be a GRPOConfig, got {type(config).__name__}")
    chunks = size("chunks", chunks, maximum=1000)
    seed = validate.seed("config.seed", config.seed)
    if seed + chunks - 1 > validate.MAX_SEED:
        raise ValueError(
            f"config.seed must be <= 2**62 - (chunks - 1) = {validate.MAX_SEED - chunks + 1} "
            f"(round r is seeded config.seed + r, and a seed is at most 2**62), got {seed}"
        )
    text("desc", desc, nonempty=False)
    reference = copy.deepcopy(student)
    for p in reference.parameters():
        p.requires_grad_(False)
    per_step = grpo_step_flops(
        _params(student), config.samples_per_step, _positions(task), config.updates_per_batch
    )
    curve = Curve()
    curve.add(0.0, _greedy_accuracy(student, task, eval_problems), 0)
    spent = 0.0
    for round_ in range(chunks):
        cfg = dataclasses.replace(config, seed=config.seed + round_)
        student, log = train_grpo(task, student, cfg, reference=reference, desc=desc)
        spent += sum(log.step_seconds)  # CPU seconds of the GRPO steps
        steps = (round_ + 1) * config.steps
        curve.add(steps * per_step, _greedy_accuracy(student, task, eval_problems),
                  steps * config.samples_per_step, spent)  # fmt: skip
    return student, curve
