"""Chapter 6 losses: against an independent computation, the T^2 property, parity, bad input."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from scipy.special import log_softmax as sp_log_softmax
from scipy.special import rel_entr
from scipy.special import softmax as sp_softmax

from labs.distill import distillation_loss, soft_targets
from labs.distill import jax as distill_jax
from labs.distill import torch as distill_torch

RNG = np.random.default_rng(0)
S = RNG.normal(size=(3, 4, 6)) * 2
T = RNG.normal(size=(3, 4, 6)) * 2
Y = RNG.integers(0, 6, size=(3, 4))
M = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=np.float64)


def independent(s, t, temperature, labels=None, alpha=0.5, mask=None):
    """Loop over positions with SciPy: rel_entr for the KL, log_softmax for the cross-entropy."""
    flat_s, flat_t = s.reshape(-1, s.shape[-1]), t.reshape(-1, t.shape[-1])
    w = np.ones(len(flat_s)) if mask is None else mask.reshape(-1)
    kls, ces = [], []
    for i in range(len(flat_s)):
        p = sp_softmax(flat_t[i] / temperature)
        q = sp_softmax(flat_s[i] / temperature)
        kls.append(rel_entr(p, q).sum())
        if labels is not None:
            ces.append(-sp_log_softmax(flat_s[i])[labels.reshape(-1)[i]])
    soft = temperature**2 * np.average(kls, weights=w)
    if labels is None:
        return soft
    return alpha * soft + (1 - alpha) * np.average(ces, weights=w)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 7.0])
def test_loss_without_labels_matches_scipy(temperature):
    assert distillation_loss(S, T, temperature) == pytest.approx(
        independent(S, T, temperature), rel=1e-10
    )


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_loss_with_labels_matches_scipy(alpha):
    got = distillation_loss(S, T, 3.0, labels=Y, alpha=alpha)
    assert got == pytest.approx(independent(S, T, 3.0, Y, alpha), rel=1e-10)


def test_loss_with_mask_matches_scipy_and_ignores_masked_positions():
    got = distillation_loss(S, T, 2.0, labels=Y, alpha=0.4, mask=M)
    assert got == pytest.approx(independent(S, T, 2.0, Y, 0.4, M), rel=1e-10)
    # changing logits where the mask is 0 changes nothing
    s2 = S.copy()
    s2[M == 0] += 100.0
    assert distillation_loss(s2, T, 2.0, labels=Y, alpha=0.4, mask=M) == pytest.approx(got)
    assert distillation_loss(s2, T, 2.0, labels=Y, alpha=0.4) != pytest.approx(got)


def test_loss_is_zero_when_student_equals_teacher_and_positive_otherwise():
    assert distillation_loss(T, T, 2.0) == pytest.approx(0.0, abs=1e-12)
    assert distillation_loss(S, T, 2.0) > 0.1


def test_soft_targets_match_scipy_and_flatten_with_temperature():
    for temperature in (0.5, 1.0, 4.0):
        np.testing.assert_allclose(soft_targets(S, temperature), sp_softmax(S / temperature, -1))
    entropy = [
        float(-(q * np.log(q)).sum(-1).mean()) for q in (soft_targets(S, t) for t in (1, 2, 8))
    ]
    assert entropy[0] < entropy[1] < entropy[2]


def test_t_squared_keeps_the_soft_gradient_scale():
    """Hinton §2: d KL_T / d z scales as 1/T^2 for large T; T^2 KL keeps it near constant."""
    rng = np.random.default_rng(1)
    s, t = torch.tensor(rng.normal(size=(64, 10))), torch.tensor(rng.normal(size=(64, 10)) * 2)
    temps = [4.0, 8.0, 16.0, 32.0]
    raw = [distill_torch.soft_gradient_norm(s, t, x, scaled=False) for x in temps]
    scaled = [distill_torch.soft_gradient_norm(s, t, x, scaled=True) for x in temps]
    for a, b in zip(raw, raw[1:], strict=False):
        assert b / a == pytest.approx(0.25, rel=0.05)  # doubling T quarters the raw gradient
    assert max(scaled) / min(scaled) < 1.1
    assert max(raw) / min(raw) > 50  # (32 / 4)^2 = 64 expected


def test_gradient_matches_the_closed_form():
    """d(T^2 KL)/d s = T (q_s - q_t) / N per example (N examples averaged)."""
    s = torch.tensor(S[0], requires_grad=True)
    loss = distill_torch.distillation_loss(s, torch.tensor(T[0]), 3.0)
    loss.backward()
    expected = 3.0 * (sp_softmax(S[0] / 3.0, -1) - sp_softmax(T[0] / 3.0, -1)) / len(S[0])
    np.testing.assert_allclose(s.grad.numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"labels": Y}, {"labels": Y, "mask": M}, {"mask": M.astype(bool)}],
    ids=["soft", "labels", "labels+mask", "bool-mask"],
)
def test_numpy_torch_jax_parity(kwargs):
    ref = distillation_loss(S, T, 2.5, alpha=0.7, **kwargs)
    t_kwargs = {k: torch.as_tensor(v) for k, v in kwargs.items()}
    got_t = distill_torch.distillation_loss(
        torch.tensor(S), torch.tensor(T), 2.5, alpha=0.7, **t_kwargs
    )
    j_kwargs = {k: jnp.asarray(v) for k, v in kwargs.items()}
    got_j = distill_jax.distillation_loss(
        jnp.asarray(S, jnp.float32), jnp.asarray(T, jnp.float32), 2.5, alpha=0.7, **j_kwargs
    )
    assert float(got_t) == pytest.approx(ref, rel=1e-12)  # float64 both: the same operations
    assert float(got_j) == pytest.approx(ref, rel=1e-5)  # JAX in float32: rounding
    np.testing.assert_allclose(
        np.asarray(distill_jax.soft_targets(jnp.asarray(S, jnp.float32), 2.0)),
        soft_targets(S, 2.0),
        atol=1e-6,  # float32
    )
    np.testing.assert_allclose(
        distill_torch.soft_targets(torch.tensor(S), 2.0).numpy(), soft_targets(S, 2.0)
    )


BAD = [
    ({"temperature": 0.0}, ValueError, "temperature"),
    ({"temperature": -1.0}, ValueError, "temperature"),
    ({"alpha": 1.5}, ValueError, "alpha"),
    ({"alpha": -0.1}, ValueError, "alpha"),
    ({"teacher_logits": T[:, :3]}, ValueError, "teacher_logits"),
    ({"labels": np.full((3, 4), 6)}, ValueError, "labels"),
    ({"labels": -np.ones((3, 4), dtype=int)}, ValueError, "labels"),
    ({"labels": Y[:, :2]}, ValueError, "labels"),
    ({"labels": Y.astype(float)}, TypeError, "labels"),
    ({"mask": M[:2]}, ValueError, "mask"),
    ({"mask": M * 0.5}, ValueError, "mask"),
    ({"mask": np.zeros_like(M)}, ValueError, "mask"),
    ({"student_logits": S.astype(int)}, TypeError, "student_logits"),
    ({"student_logits": S[0, 0]}, ValueError, "student_logits"),
]


@pytest.mark.parametrize("framework", ["numpy", "torch", "jax"])
@pytest.mark.parametrize(
    ("change", "error", "name"), BAD, ids=[b[2] + str(i) for i, b in enumerate(BAD)]
)
def test_bad_input_names_the_parameter(framework, change, error, name):
    args = {"student_logits": S, "teacher_logits": T, "temperature": 2.0, "labels": Y,
            "alpha": 0.5, "mask": M, **change}  # fmt: skip
    convert = {
        "numpy": lambda a: a,
        "torch": lambda a: torch.as_tensor(a) if isinstance(a, np.ndarray) else a,
        "jax": lambda a: jnp.asarray(a) if isinstance(a, np.ndarray) else a,
    }[framework]
    fn = {"numpy": distillation_loss, "torch": distill_torch.distillation_loss,
          "jax": distill_jax.distillation_loss}[framework]  # fmt: skip
    with pytest.raises(error, match=name):
        fn(**{k: convert(v) for k, v in args.items()})


def test_soft_targets_refuse_bad_temperature_and_other_frameworks():
    with pytest.raises(ValueError, match="temperature"):
        soft_targets(S, 0.0)
    with pytest.raises(TypeError, match="logits"):
        soft_targets(torch.tensor(S), 1.0)
    with pytest.raises(TypeError, match="logits"):
        distill_torch.soft_targets(S, 1.0)
