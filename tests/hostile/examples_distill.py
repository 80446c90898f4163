"""Valid calls for chapter 6 (labs.distill): one per public callable, as small as possible.

The loops run one or two steps of a one-layer policy of width 8; the teacher is one too.
"""

from __future__ import annotations

import numpy as np

from tests.hostile.harness import call

S = np.array([[1.0, 0.5, -0.5], [0.2, 0.1, 0.0]])
T = np.array([[0.8, 0.4, -0.1], [0.0, 0.3, 0.2]])
LABELS = np.array([0, 2])
MASK = np.array([1.0, 1.0])
TINY = {"d_model": 8, "n_layers": 1, "n_heads": 2}


def _torch(a):
    import torch

    return torch.as_tensor(a)


def _jax(a):
    import jax.numpy as jnp

    return jnp.asarray(a)


def _task():
    from labs.common.tasks import AdditionTask

    return AdditionTask()


def _policy(seed=0):
    from labs.grpo.training import new_policy

    return new_policy(_task(), seed=seed, **TINY)


def _loss(convert):
    return call(
        student_logits=convert(S),
        teacher_logits=convert(T),
        temperature=2.0,
        labels=convert(LABELS),
        alpha=0.5,
        mask=convert(MASK),
    )


def _mlp():
    from labs.distill.classify import MLP

    return MLP(3, 4, width=4)


def _xy():
    import torch

    return torch.tensor([[0.1, 0.2, 0.3], [0.3, -0.1, 0.0]]), torch.tensor([0, 3])


def _train_classifier():
    import torch

    x, y = _xy()
    return call(
        model=_mlp(),
        x=x,
        y=y,
        teacher_logits=torch.tensor([[1.0, 0.0, 0.0, 0.5], [0.0, 0.2, 0.1, 1.0]]),
        temperature=2.0,
        alpha=0.5,
        steps=2,
        batch_size=2,
        lr=1e-2,
        seed=0,
        desc="train",
    )


def _accuracy():
    x, y = _xy()
    return call(model=_mlp(), x=x, y=y)


def _mlp_forward():
    x, _ = _xy()
    return call(_mlp().forward, x=x)


def _sequence_data():
    import torch

    task = _task()
    return call(
        teacher=_policy(),
        prompts=torch.as_tensor(task.prompts(task.train[:2])),
        max_new_tokens=2,
        eos_id=task.tokenizer.eos_id,
        pad_id=task.tokenizer.pad_id,
        samples_per_prompt=2,
        temperature=1.0,
        generator=torch.Generator().manual_seed(0),
    )


def _distill_on_traces():
    task = _task()
    return call(
        student=_policy(0),
        teacher=_policy(1),
        task=task,
        eval_problems=task.held_out[:2],
        steps=2,
        batch_size=2,
        lr=1e-3,
        temperature=1.0,
        eval_every=1,
        seed=0,
        desc="distil",
        traces="sampled",
    )


def _grpo_on_student():
    from labs.grpo import GRPOConfig

    task = _task()
    return call(
        student=_policy(),
        task=task,
        eval_problems=task.held_out[:2],
        config=GRPOConfig(steps=1, prompts_per_step=1, group_size=2),
        chunks=1,
        desc="GRPO",
    )


def _supervise_on_answers():
    task = _task()
    return call(
        student=_policy(),
        task=task,
        eval_problems=task.held_out[:2],
        steps=2,
        batch_size=2,
        lr=1e-3,
        eval_every=1,
        seed=0,
        desc="answer key",
    )


def _group_statistics():
    task = _task()
    return call(
        policy=_policy(),
        task=task,
        problems=task.train[:2],
        group_size=2,
        format_weight=0.1,
        seed=0,
    )


def _save_teacher():
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    return call(policy=_policy(), record={"params": 1}, path=folder / "teacher.pt")


def _student_soft(logits, temperature):
    from labs.distill import soft_targets

    return soft_targets(logits, temperature)


def _student_kd(student_logits, teacher_logits, temperature):
    from labs.distill import distillation_loss

    return distillation_loss(student_logits, teacher_logits, temperature)


def _student_break_even(teacher_cost, distill_cost, rl_cost):
    import math

    if rl_cost <= distill_cost:
        return -1
    return max(1, math.ceil(teacher_cost / (rl_cost - distill_cost)))


EXAMPLES = {
    # labs.distill (reference, costs, data)
    "labs.distill.reference.soft_targets": lambda: call(logits=S, temperature=2.0),
    "labs.distill.reference.distillation_loss": lambda: _loss(lambda a: a),
    "labs.distill.costs.warm_up_flops": lambda: call(params=100, examples=64, tokens=9),
    "labs.distill.costs.grpo_step_flops": lambda: call(
        params=100, completions=128, tokens=9, updates=2, sampled_tokens=24
    ),
    "labs.distill.costs.distill_step_flops": lambda: call(
        teacher_params=1000, student_params=100, traces=64, tokens=9, sampled_tokens=24
    ),
    "labs.distill.costs.sampling_token_passes": lambda: call(
        prompt_tokens=7, new_tokens=3, kv_cache=False
    ),
    "labs.distill.costs.sampling_flops": lambda: call(
        params=1000, prompt_tokens=7, new_tokens=3, kv_cache=False
    ),
    "labs.distill.costs.copy_crossover": lambda: call(
        teacher_cost=100.0, distill_cost=2.0, rl_cost=12.0
    ),
    "labs.distill.costs.uncached_flops": lambda: call(
        flops=1.8e6, samples=100, params=1000, prompt_tokens=7, new_tokens=3
    ),
    "labs.distill.costs.sampling_seconds": lambda: call(
        params=1000,
        tokens=3,
        peak_flops=65e12,
        memory_bandwidth=320e9,
        batch=64,
        utilisation=0.4,
        bytes_per_param=2.0,
        prompt_tokens=7,
    ),
    "labs.distill.costs.memory_bound_sampling_batch": lambda: call(
        peak_flops=65e12, memory_bandwidth=320e9, utilisation=0.4, bytes_per_param=2.0
    ),
    "labs.distill.costs.training_seconds": lambda: call(flops=1e12, peak_flops=65e12, mfu=0.4),
    "labs.distill.controls.uniform_wrong_classes": lambda: call(logits=S),
    "labs.distill.controls.pair_neighbour_mass": lambda: call(
        logits=np.array([[2.0, 0.5, 1.0, -1.0], [0.0, 1.0, 0.2, 0.3]]),
        labels=np.array([0, 3]),
        temperature=1.0,
    ),
    "labs.distill.data.cluster_data": lambda: call(
        n=10, classes=4, dim=3, noise=1.0, pair_distance=1.5, task_seed=0, seed=0
    ),
    # labs.distill.checks: the shared checks take anything with .shape, refuse the rest
    "labs.distill.checks.check_soft_targets_args": lambda: call(logits=S, temperature=2.0),
    "labs.distill.checks.check_distillation_args": lambda: call(
        student_logits=S, teacher_logits=T, temperature=2.0, labels=LABELS, alpha=0.5, mask=MASK
    ),
    # labs.distill.torch
    "labs.distill.torch_kernels.soft_targets": lambda: call(logits=_torch(S), temperature=2.0),
    "labs.distill.torch_kernels.distillation_loss": lambda: _loss(_torch),
    "labs.distill.classify.MLP": lambda: call(inputs=3, classes=4, width=4, depth=1),
    "labs.distill.classify.MLP.forward": _mlp_forward,
    "labs.distill.classify.classifier_accuracy": _accuracy,
    "labs.distill.classify.train_classifier": _train_classifier,
    "labs.distill.classify.soft_gradient_norm": lambda: call(
        student_logits=_torch(S), teacher_logits=_torch(T), temperature=2.0, scaled=True
    ),
    "labs.distill.sequence.Curve": lambda: call(),
    "labs.distill.sequence.sequence_distillation_data": _sequence_data,
    "labs.distill.sequence.greedy_accuracy": lambda: call(
        policy=_policy(), task=_task(), problems=_task().held_out[:2]
    ),
    "labs.distill.sequence.distill_on_traces": _distill_on_traces,
    "labs.distill.sequence.grpo_on_student": _grpo_on_student,
    "labs.distill.baselines.supervise_on_answers": _supervise_on_answers,
    "labs.distill.baselines.group_statistics": _group_statistics,
    "labs.distill.baselines.greedy_answers": lambda: call(
        policy=_policy(), task=_task(), problems=_task().held_out[:2]
    ),
    "labs.distill.inheritance.inherited_errors": lambda: call(
        teacher_answers=np.array([3, 5, -1]),
        student_answers=np.array([3, 4, 7]),
        truth=np.array([4, 5, 6]),
    ),  # fmt: skip
    "labs.distill.teacher.train_teacher": lambda: call(
        task=_task(), warmup_steps=1, rl_steps=1, seed=0
    ),
    "labs.distill.teacher.save_teacher": _save_teacher,
    "labs.distill.teacher.load_teacher": lambda: call(path=None),
    "labs.distill.teacher.time_teacher_recipe": lambda: call(
        task=_task(), warmup_steps=1, rl_steps=1, seed=0, timed_warmup_steps=1, timed_rl_steps=1
    ),
    "labs.distill.sweep.shifted_problems": lambda: call(low=20, high=21),
    "labs.distill.sweep.cold_student": lambda: call(task=_task(), seed=0, warm_up_steps=1),
    "labs.distill.sweep.run_seed": lambda: call(
        task=_task(),
        teacher=_policy(),
        seed=0,
        distill_steps=1,
        eval_every=1,
        grpo_chunks=1,
        grpo_steps=1,
        warm_up_steps=1,
        long_steps=1,
        long_eval_every=1,
        long_grpo_chunks=1,
        arms=("distill", "answers", "grpo"),
    ),  # fmt: skip
    "labs.distill.rl_tuning.budget_flops": lambda: call(task=_task(), student=_policy()),
    "labs.distill.rl_tuning.setting_plan": lambda: call(
        task=_task(), student=_policy(), setting={"name": "G 16", "group_size": 16}
    ),
    "labs.distill.rl_tuning.run_setting": lambda: call(
        task=_task(),
        setting={"name": "G 32 x 8", "group_size": 32, "prompts_per_step": 8, "lr": 5e-3},
        seed=0,
        warm_up_steps=1,
        steps=1,
    ),  # fmt: skip
    # labs.distill.dense
    "labs.distill.dense.marks": lambda: call(policy=_policy(), task=_task(), problems=None),
    "labs.distill.dense.run_dense": lambda: call(
        task=_task(),
        teacher=_policy(),
        seed=0,
        steps=2,
        eval_every=1,
        warm_up_steps=1,
        beta2=0.99,
        # the two schedules exclude each other: the cosine here, the drop in tests/distill
        lr_drop_after=None,
        lr_drop_factor=0.1,
        lr_cosine_floor=0.1,
    ),
    # labs.distill.more_seeds
    "labs.distill.more_seeds.merge_seeds": lambda: call(
        old={"4": {"distill": {"accuracy": [0.1, 0.2]}}},
        new={"4": {"grpo": {"accuracy": [0.0]}}, "5": {"distill": {"accuracy": [0.3]}}},
    ),
    # labs.distill.verdicts
    "labs.distill.verdicts.match_teacher": lambda: call(
        student_correct=np.array([[1, 0, 1, 1], [1, 1, 0, 1]]),
        teacher_correct=np.array([1, 0, 0, 1]),
        margin=0.1,
        resamples=200,
        level=0.95,
        seed=0,
    ),  # fmt: skip
    "labs.distill.verdicts.copy_verdict": lambda: call(
        cost_to_90=0.2, beats_own_training=True, line=0.25
    ),
    "labs.distill.verdicts.first_crossing": lambda: call(
        cost=np.array([0.0, 1.0, 2.0, 3.0]), share=np.array([0.2, 0.95, 0.5, 1.0]), line=0.9
    ),
    "labs.distill.verdicts.settled_crossing": lambda: call(
        cost=np.array([0.0, 1.0, 2.0, 3.0]),
        share=np.array([0.2, 0.95, 0.5, 1.0]),
        line=0.9,
        window=2,
    ),
    # labs.distill.jax
    "labs.distill.jax.soft_targets": lambda: call(logits=_jax(S), temperature=2.0),
    "labs.distill.jax.distillation_loss": lambda: _loss(_jax),
    # labs.distill.exercises: a check takes whatever the student wrote
    "labs.distill.exercises.check_soft_targets": lambda: call(fn=_student_soft, fixed=("fn",)),
    "labs.distill.exercises.check_kd_loss": lambda: call(fn=_student_kd, fixed=("fn",)),
    "labs.distill.exercises.score_prediction": lambda: call(
        prediction=("distillation", 0.3),
        winner="grpo",
        accuracy=0.1,
        spread=0.02,
        other_accuracy=0.2,
        other_spread=0.03,
    ),
    "labs.distill.exercises.check_students_to_break_even": lambda: call(
        fn=_student_break_even, fixed=("fn",)
    ),
    # labs.distill.widgets
    "labs.distill.widgets.plot_soft_targets": lambda: call(temperature=2.0, logits=None, ax=None),
    "labs.distill.widgets.temperature_explorer": lambda: call(max_temperature=20.0),
}

_SEEDS = (
    "labs.distill.data.cluster_data",
    "labs.distill.classify.train_classifier",
    "labs.distill.sequence.distill_on_traces",
    "labs.distill.baselines.supervise_on_answers",
    "labs.distill.baselines.group_statistics",
    "labs.distill.teacher.train_teacher",
    "labs.distill.teacher.time_teacher_recipe",
    "labs.distill.sweep.cold_student",
    "labs.distill.sweep.run_seed",
    "labs.distill.rl_tuning.run_setting",
    "labs.distill.dense.run_dense",
)

_SEED = "a seed in [0, 2**62] is valid (labs.common.validate.seed); 10**15 is one"

# (key, parameter, mutation) -> why this hostile class is a legitimate input there.
ACCEPTED: dict[tuple[str, str, str], str] = {
    **{(key, "seed", "huge-int"): _SEED for key in _SEEDS},
    ("labs.distill.sweep.run_seed", "seed", "huge-int"): (
        "a seed up to labs.distill.sweep.MAX_RUN_SEED (about 4.6e16; GRPO is seeded 100 x seed) "
        "is valid; 10**15 is one"
    ),
    ("labs.distill.rl_tuning.run_setting", "seed", "huge-int"): (
        "a seed up to labs.distill.sweep.MAX_RUN_SEED (about 4.6e16; GRPO is seeded 100 x seed) "
        "is valid; 10**15 is one"
    ),
    ("labs.distill.data.cluster_data", "task_seed", "huge-int"): _SEED,
    ("labs.distill.verdicts.match_teacher", "seed", "huge-int"): _SEED,
    ("labs.distill.verdicts.copy_verdict", "cost_to_90", "inf"): (
        "a copy that never reaches 90% of its teacher within the budget: the documented inf"
    ),
    **{
        (f"labs.distill.verdicts.{name}", "line", "huge"): (
            "a line no curve reaches: the documented inf (never crosses, never settles)"
        )
        for name in ("first_crossing", "settled_crossing")
    },
    ("labs.distill.costs.copy_crossover", "distill_cost", "huge"): (
        "distillation dearer than RL: copying never pays, the documented inf"
    ),
    **{
        ("labs.distill.inheritance.inherited_errors", name, "ids-negative"): (
            "-1 is the documented answer of a policy that wrote no well-formed number"
        )
        for name in ("teacher_answers", "student_answers")
    },
    **{
        ("labs.distill.more_seeds.merge_seeds", name, "dict-empty"): (
            "no seeds is valid: a new file holds none yet, and a run may add none"
        )
        for name in ("old", "new")
    },
    ("labs.distill.teacher.save_teacher", "record", "dict-empty"): (
        "an empty record is valid: save_teacher adds the sizes and versions itself"
    ),
    **{
        (key, "mask", "array-int-dtype"): "a mask of 0/1 integers is a documented, valid mask"
        for key in (
            "labs.distill.reference.distillation_loss",
            "labs.distill.torch_kernels.distillation_loss",
            "labs.distill.jax.distillation_loss",
            "labs.distill.checks.check_distillation_args",
        )
    },
    **{
        (key, name, "huge-int"): (
            "a FLOP count (or time) of a huge model or batch is a valid number to report"
        )
        for key, names in {
            "labs.distill.costs.warm_up_flops": ("params", "examples", "tokens"),
            "labs.distill.costs.grpo_step_flops": (
                "params",
                "completions",
                "tokens",
                "sampled_tokens",
            ),
            "labs.distill.costs.distill_step_flops": (
                "teacher_params",
                "student_params",
                "traces",
                "tokens",
                "sampled_tokens",
            ),
            "labs.distill.costs.sampling_token_passes": ("prompt_tokens", "new_tokens"),
            "labs.distill.costs.sampling_flops": ("params", "prompt_tokens", "new_tokens"),
            "labs.distill.costs.sampling_seconds": ("params", "tokens", "batch", "prompt_tokens"),
            "labs.distill.costs.uncached_flops": (
                "samples",
                "params",
                "prompt_tokens",
                "new_tokens",
            ),
        }.items()
        for name in names
    },
}
