"""Valid calls for chapter 0 (labs.tour), the template for every chapter's examples file.

Each entry is a factory returning `call(...)`: the smallest valid call, by keyword, so the walker
can replace one argument at a time with hostile values (see harness.py).
"""

from __future__ import annotations

import numpy as np

from tests.hostile.harness import call

LOGITS = np.array([[2.0, 1.0, 0.5], [0.0, -1.0, 3.0]])
PROBS = np.array([0.25, 0.25, 0.5])


def _torch_logits():
    import torch

    return torch.tensor(LOGITS)


def _jax_logits():
    import jax.numpy as jnp

    return jnp.asarray(LOGITS, dtype=jnp.float32)


def _jax_exp(x):
    import jax.numpy as jnp

    return jnp.exp(x) / 2


def _student_lse(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return np.log(np.sum(np.exp(x - m), axis=axis)) + np.squeeze(m, axis=axis)


EXAMPLES = {
    "labs.tour.reference.softmax": lambda: call(x=LOGITS, axis=-1, temperature=0.5),
    "labs.tour.reference.naive_softmax": lambda: call(x=LOGITS, axis=1),
    "labs.tour.reference.overflow_threshold": lambda: call(dtype=np.float32),
    "labs.tour.pinning.one_core": lambda: call(cpu=None),
    "labs.tour.pinning.thread_cores": lambda: call(),
    "labs.tour.reference.entropy": lambda: call(p=PROBS, axis=0),
    "labs.tour.checks.logits_args": lambda: call(x=LOGITS, axis=1, framework="numpy"),
    "labs.tour.checks.probabilities_args": lambda: call(p=PROBS, axis=0),
    "labs.tour.checks.softmax_args": lambda: call(
        x=LOGITS, axis=0, temperature=2.0, framework="numpy"
    ),
    "labs.tour.torch.softmax": lambda: call(x=_torch_logits(), axis=-1, temperature=0.5),
    "labs.tour.jax.softmax": lambda: call(x=_jax_logits(), axis=-1, temperature=0.5),
    "labs.tour.traffic.compiled_traffic": lambda: call(fn=_jax_exp, x=_jax_logits()),
    "labs.tour.crossover.time_head_and_pass": lambda: call(
        widths=[4, 8], rows=8, vocab=16, rounds=1, seed=0
    ),
    # A check takes whatever the student wrote: tests/common/test_exercises_hostile.py attacks it.
    "labs.tour.exercises.check_log_sum_exp": lambda: call(fn=_student_lse, fixed=("fn",)),
    "labs.tour.widgets.plot_softmax": lambda: call(logits=[2.0, 1.0, 0.0], temperature=0.7),
    "labs.tour.widgets.temperature_explorer": lambda: call(logits=(2.0, 1.0, 0.0)),
}

# (key, parameter, mutation) -> why this hostile class is a legitimate input there.
ACCEPTED: dict[tuple[str, str, str], str] = {
    ("labs.tour.reference.naive_softmax", "x", "array-huge"): (
        "eq. (1) computed literally exists to show the overflow: its NaN is documented"
    ),
}
