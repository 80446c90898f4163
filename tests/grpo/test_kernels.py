"""The three GRPO kernels: hand-worked examples, independent references, parity, gradients.

Expected values are worked out by hand in the comments, or come from SciPy (z-scores, relative
entropy) and from finite differences, never from the code under test.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labs.grpo import group_advantages, grpo_loss, kl_k3
from labs.grpo import jax as gjax
from labs.grpo import torch as gtorch
from tests.conftest import requires_gpu

# --- group_advantages -------------------------------------------------------------------------


def test_group_advantages_hand_worked():
    # Group 1: rewards (1, 0, 0, 0): mean 1/4; sample variance (0.75^2 + 3 * 0.25^2) / 3 = 0.25,
    # std 0.5; advantages 0.75 / 0.5001 and -0.25 / 0.5001. Group 2 is flat: zeros.
    got = group_advantages(np.array([1.0, 0, 0, 0, 1, 1, 1, 1]), 4)
    d = 0.5 + 1e-4
    np.testing.assert_allclose(got, [0.75 / d, -0.25 / d, -0.25 / d, -0.25 / d, 0, 0, 0, 0])
    # Two outputs (0, 1): mean 0.5, sample std sqrt(0.5).
    got = group_advantages(np.array([0.0, 1.0]), 2, eps=1e-4)
    d = math.sqrt(0.5) + 1e-4
    np.testing.assert_allclose(got, [-0.5 / d, 0.5 / d])


@pytest.mark.parametrize("value", [0.0, 0.1, 1.1, -3.7, 1e6])
def test_flat_groups_give_exact_zeros_in_every_framework(value):
    rewards = np.full(6, value)
    assert np.array_equal(group_advantages(rewards, 3), np.zeros(6))
    assert torch.equal(
        gtorch.group_advantages(torch.from_numpy(rewards), 3), torch.zeros(6, dtype=torch.float64)
    )
    assert np.array_equal(
        np.asarray(gjax.group_advantages(jnp.asarray(rewards, jnp.float32), 3)), np.zeros(6)
    )


groups = st.integers(2, 8).flatmap(
    lambda g: st.tuples(
        st.just(g),
        arrays(
            np.float64,
            st.integers(1, 5).map(lambda n: n * g),
            elements=st.sampled_from([0.0, 0.1, 1.0, 1.1, 0.5, 2.0]),
        ),
    )
)


@settings(max_examples=80, deadline=None)
@given(groups)
def test_group_advantages_match_scipy_zscore(args):
    g, rewards = args
    eps = 1e-12
    got = group_advantages(rewards, g, eps=eps).reshape(-1, g)
    for row, r in zip(got, rewards.reshape(-1, g), strict=True):
        if np.ptp(r) == 0:
            assert np.all(row == 0)
        else:
            np.testing.assert_allclose(row, scipy.stats.zscore(r, ddof=1), rtol=1e-9, atol=1e-9)
            assert abs(row.sum()) < 1e-9  # the group mean is the baseline


@settings(max_examples=40, deadline=None)
@given(groups, st.floats(-10, 10), st.floats(0.1, 10))
def test_advantages_ignore_shift_and_scale_of_rewards(args, shift, scale):
    g, rewards = args
    np.testing.assert_allclose(
        group_advantages(rewards * scale + shift, g, eps=1e-12),
        group_advantages(rewards, g, eps=1e-12),
        atol=1e-6,
    )


BAD_ADVANTAGES = [
    (np.ones(5), 2, {}, ValueError, "multiple of group_size=2"),
    (np.ones(4), 1, {}, ValueError, "group_size must be >= 2"),
    (np.ones(4), 2.0, {}, TypeError, "group_size must be an int"),
    (np.ones((2, 2)), 2, {}, ValueError, "1-D"),
    (np.arange(4), 2, {}, TypeError, "floating"),
    (np.array([1.0, np.nan]), 2, {}, ValueError, "NaN or inf"),
    (np.ones(4), 2, {"eps": 0.0}, ValueError, "eps must be > 0"),
]


@pytest.mark.parametrize("rewards, g, kwargs, exc, fragment", BAD_ADVANTAGES)
@pytest.mark.parametrize("framework", ["numpy", "torch", "jax"])
def test_group_advantages_bad_input(framework, rewards, g, kwargs, exc, fragment):
    fn, x = {
        "numpy": (group_advantages, rewards),
        "torch": (gtorch.group_advantages, torch.from_numpy(rewards)),
        "jax": (gjax.group_advantages, jnp.asarray(rewards)),
    }[framework]
    with pytest.raises(exc, match=fragment):
        fn(x, g, **kwargs)


# --- kl_k3 ------------------------------------------------------------------------------------


def test_kl_k3_hand_worked():
    # pi = 0.5, pi_ref = 0.25: ratio pi_ref / pi = 0.5, so 0.5 - log(0.5) - 1 = log(2) - 0.5.
    got = kl_k3(np.log([0.5, 0.3]), np.log([0.25, 0.3]))
    np.testing.assert_allclose(got, [math.log(2) - 0.5, 0.0], atol=1e-15)


def test_kl_k3_expectation_is_the_exact_kl():
    # E_{x ~ p}[q/p - log(q/p) - 1] = sum(q) - 1 + KL(p || q) = KL(p || q); SciPy computes the KL.
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(7))
    expected = scipy.special.rel_entr(p, q).sum()
    assert (p * kl_k3(np.log(p), np.log(q))).sum() == pytest.approx(expected, rel=1e-12)


log_probs = arrays(np.float64, st.integers(1, 30), elements=st.floats(-30, 0))


@settings(max_examples=80, deadline=None)
@given(log_probs, st.data())
def test_kl_k3_is_never_negative_and_agrees_across_frameworks(logp, data):
    ref = data.draw(arrays(np.float64, logp.shape, elements=st.floats(-30, 0)))
    got = kl_k3(logp, ref)
    assert np.all(got >= 0)
    got_t = gtorch.kl_k3(torch.from_numpy(logp), torch.from_numpy(ref)).numpy()
    # Near ref = logp, k3 = exp(d) - d - 1 with d ~ 0 cancels to ~d**2 / 2; each library's exp
    # rounds to within float64 epsilon of 1, so absolute agreement is ~1e-16, not better.
    np.testing.assert_allclose(got_t, got, rtol=1e-12, atol=1e-15)
    assert np.all(got_t >= 0)
    got_j = np.asarray(gjax.kl_k3(jnp.asarray(logp, jnp.float32), jnp.asarray(ref, jnp.float32)))
    assert np.all(got_j >= 0)
    # float32 inputs: the difference d = ref - logp carries ~1e-7 * |logp| of rounding.
    np.testing.assert_allclose(got_j, got, rtol=1e-4, atol=1e-5)


def test_kl_k3_tiny_differences_are_not_negative():
    logp = np.array([-1.0, -1.0, -1.0])
    ref = logp + np.array([1e-12, -1e-12, 1e-9])
    got = kl_k3(logp, ref)
    assert np.all(got >= 0) and np.all(got < 1e-17)


def test_kl_k3_shape_mismatch():
    with pytest.raises(ValueError, match="ref_logp must have the shape of logp"):
        kl_k3(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="ref_logp must have the shape of logp"):
        gtorch.kl_k3(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="ref_logp must have the shape of logp"):
        gjax.kl_k3(jnp.zeros(3), jnp.zeros(4))


# --- grpo_loss: hand-worked values ------------------------------------------------------------


def loss3(framework, *args, **kwargs):
    """grpo_loss of one framework on float64 NumPy inputs; returns (float loss, stats floats)."""
    if framework == "numpy":
        return grpo_loss(*args, **kwargs)
    arrays_, scalars = args[:5], args[5:]
    if framework == "torch":
        tens = [torch.as_tensor(a) for a in arrays_]
        loss, stats = gtorch.grpo_loss(*tens, *scalars, **kwargs)
        return float(loss), stats
    arrs = [jnp.asarray(a, jnp.float32) if np.asarray(a).dtype.kind == "f" else a for a in arrays_]
    loss, stats = gjax.grpo_loss(*arrs, *scalars, **kwargs)
    return float(loss), {k: float(v) for k, v in stats.items()}


FRAMEWORKS = ["numpy", "torch", "jax"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_loss_at_ratio_one_is_minus_the_mean_advantage(framework):
    # logp = old = ref: ratio 1 and KL 0, so each token's loss is -A. Sequence 1 has two tokens
    # (loss -1), sequence 2 one token (loss +0.5): mean over sequences -0.25.
    lp = np.log(np.array([[0.5, 0.4], [0.3, 0.2]]))
    loss, stats = loss3(framework, lp, lp, lp, np.array([1.0, -0.5]), np.array([[1, 1], [1, 0]]))
    assert loss == pytest.approx(-0.25, abs=1e-6)
    assert stats["clip_fraction"] == 0 and stats["kl"] == pytest.approx(0, abs=1e-7)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(
    "ratio, adv, expected_loss, clipped",
    [
        (1.5, 1.0, -1.2, 1.0),  # min(1.5, 1.2) = 1.2: the clip caps a good action's gain
        (1.5, -1.0, 1.5, 0.0),  # min(-1.5, -1.2) = -1.5: no cap on a bad action's penalty
        (0.5, -1.0, 0.8, 1.0),  # min(-0.5, -0.8) = -0.8: clipped
        (0.5, 1.0, -0.5, 0.0),  # min(0.5, 0.8) = 0.5: not clipped
    ],
)
def test_clipping_hand_worked(framework, ratio, adv, expected_loss, clipped):
    old = np.array([[math.log(0.4)]])
    lp = old + math.log(ratio)
    loss, stats = loss3(framework, lp, old, lp, np.array([adv]), np.ones((1, 1)), 0.2, 0.0)
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    assert stats["clip_fraction"] == clipped


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_kl_term_hand_worked(framework):
    # A = 0, pi = 0.5, pi_ref = 0.25: loss = beta * (log 2 - 0.5).
    lp, ref = np.log([[0.5]]), np.log([[0.25]])
    loss, stats = loss3(framework, lp, lp, ref, np.zeros(1), np.ones((1, 1)), 0.2, 0.04)
    assert loss == pytest.approx(0.04 * (math.log(2) - 0.5), rel=1e-6)
    assert stats["kl"] == pytest.approx(math.log(2) - 0.5, rel=1e-6)
    assert stats["zero_adv_fraction"] == 1.0


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_empty_masks(framework):
    # A sequence without tokens leaves the average; its (garbage) values change nothing.
    lp = np.log(np.array([[0.5, 0.4], [1e-30, 0.9]]))
    one, _ = loss3(framework, lp[:1], lp[:1], lp[:1] - 0.1, np.array([1.0]), np.ones((1, 2)))
    both, _ = loss3(framework, lp, lp, lp - 0.1, np.array([1.0, 7.0]), np.array([[1, 1], [0, 0]]))
    assert both == pytest.approx(one, rel=1e-6)
    # No token anywhere: loss 0, statistics 0, no NaN.
    loss, stats = loss3(framework, lp, lp, lp, np.array([1.0, -1.0]), np.zeros((2, 2)))
    assert loss == 0.0 and stats["clip_fraction"] == 0.0 and stats["kl"] == 0.0


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_zero_advantage_fraction_counts_groups(framework):
    lp = np.zeros((4, 1))
    adv = np.array([0.0, 0.0, 1.0, -1.0])  # group 1 flat, group 2 not
    _, stats = loss3(framework, lp, lp, lp, adv, np.ones((4, 1)), group_size=2)
    assert stats["zero_adv_fraction"] == 0.5
    _, stats = loss3(framework, lp, lp, lp, adv, np.ones((4, 1)))
    assert stats["zero_adv_fraction"] == 0.5  # per sequence: 2 of 4


# --- parity and gradients ---------------------------------------------------------------------


def random_batch(seed, b=6, t=5):
    rng = np.random.default_rng(seed)
    old = np.log(rng.uniform(0.05, 1.0, size=(b, t)))
    lp = old + rng.normal(0, 0.3, size=(b, t))  # ratios from ~0.4 to ~2.5: some clipped
    lp = np.minimum(lp, 0.0)
    ref = np.minimum(old + rng.normal(0, 0.3, size=(b, t)), 0.0)  # log-probabilities: <= 0
    adv = rng.normal(size=b)
    mask = (rng.uniform(size=(b, t)) < 0.7).astype(np.float64)
    mask[0] = 0.0  # one empty sequence
    return lp, old, ref, adv, mask


@pytest.mark.parametrize("seed", range(5))
def test_parity_numpy_torch_jax(seed):
    args = random_batch(seed)
    ref_loss, ref_stats = grpo_loss(*args, group_size=2)
    # torch in float64 does the same operations: agreement to rounding (1e-12).
    t_loss, t_stats = loss3("torch", *args, group_size=2)
    assert t_loss == pytest.approx(ref_loss, rel=1e-12, abs=1e-12)
    # JAX in float32 (its default): ~1e-7 relative rounding per operation, a few dozen operations.
    j_loss, j_stats = loss3("jax", *args, group_size=2)
    assert j_loss == pytest.approx(ref_loss, rel=1e-5, abs=1e-6)
    for key, value in ref_stats.items():
        assert t_stats[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
        assert j_stats[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert ref_stats["clip_fraction"] > 0  # the batch exercises the clipped branch


def finite_difference_grad(args, h=1e-6):
    lp = args[0]
    grad = np.zeros_like(lp)
    for idx in np.ndindex(lp.shape):
        up, down = lp.copy(), lp.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (grpo_loss(up, *args[1:])[0] - grpo_loss(down, *args[1:])[0]) / (2 * h)
    return grad


@pytest.mark.parametrize("seed", range(3))
def test_gradients_match_finite_differences(seed):
    args = random_batch(seed)
    fd = finite_difference_grad(args)
    lp = torch.tensor(args[0], requires_grad=True)
    loss, _ = gtorch.grpo_loss(lp, *[torch.as_tensor(a) for a in args[1:]])
    loss.backward()
    # float64 central differences: error ~h^2 * f''' + rounding/h ~ 1e-9 (kinks of min/clip are
    # avoided with probability 1 by random inputs).
    np.testing.assert_allclose(lp.grad.numpy(), fd, atol=1e-7)
    jargs = [jnp.asarray(a, jnp.float32) for a in args]
    jgrad = jax.grad(lambda x: gjax.grpo_loss(x, *jargs[1:])[0])(jargs[0])
    np.testing.assert_allclose(np.asarray(jgrad), fd, atol=1e-5)  # float32 rounding
    assert np.all(fd[0] == 0)  # the empty sequence gets no gradient


def test_gradient_hand_worked():
    # At ratio 1 and KL 0: d loss / d logp_it = -A_i / (|o_i| * number of sequences).
    lp = torch.log(torch.tensor([[0.5, 0.4], [0.3, 0.2]], dtype=torch.float64)).requires_grad_()
    mask = torch.tensor([[1, 1], [1, 0]])
    loss, _ = gtorch.grpo_loss(
        lp, lp.detach(), lp.detach(), torch.tensor([1.0, -0.5], dtype=torch.float64), mask
    )
    loss.backward()
    expected = torch.tensor([[-1 / 4, -1 / 4], [0.5 / 2, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(lp.grad, expected)


def test_torch_gradcheck():
    args = random_batch(7, b=3, t=3)
    lp = torch.tensor(args[0], requires_grad=True)
    rest = [torch.as_tensor(a) for a in args[1:]]
    assert torch.autograd.gradcheck(lambda x: gtorch.grpo_loss(x, *rest)[0], (lp,))


def test_jax_loss_jits():
    args = [jnp.asarray(a, jnp.float32) for a in random_batch(1)]
    eager = gjax.grpo_loss(*args)[0]
    jitted = jax.jit(lambda *a: gjax.grpo_loss(*a)[0])(*args)
    assert float(jitted) == pytest.approx(float(eager), rel=1e-6)


# --- grpo_loss: bad input ---------------------------------------------------------------------

OK = {
    "logp": np.zeros((2, 3)),
    "old_logp": np.zeros((2, 3)),
    "ref_logp": np.zeros((2, 3)),
    "advantages": np.zeros(2),
    "mask": np.ones((2, 3)),
}

BAD_LOSS = [
    ({"old_logp": np.zeros((2, 4))}, {}, ValueError, "old_logp must have the shape of logp"),
    ({"ref_logp": np.zeros((3, 3))}, {}, ValueError, "ref_logp must have the shape of logp"),
    ({"mask": np.ones((2, 2))}, {}, ValueError, "mask must have the shape of logp"),
    ({"advantages": np.zeros(3)}, {}, ValueError, "advantages must have shape"),
    ({"logp": np.zeros(3)}, {}, ValueError, r"logp must have shape \(B, T\)"),
    ({"mask": np.full((2, 3), 2.0)}, {}, ValueError, "mask must hold only 0 and 1"),
    ({"logp": np.full((2, 3), np.nan)}, {}, ValueError, "NaN or inf"),
    ({"logp": np.zeros((2, 3), dtype=np.int64)}, {}, TypeError, "floating"),
    ({}, {"clip_eps": 0.0}, ValueError, "clip_eps must be > 0"),
    ({}, {"beta": -0.1}, ValueError, "beta must be >= 0"),
    ({}, {"beta": "0.04"}, TypeError, "beta must be a real number"),
    ({}, {"group_size": 4}, ValueError, "multiple of group_size=4"),
    # |A| = 1e308 overflowed the sums to inf - inf = NaN; 2e4 is past the cap of 1e4.
    ({"advantages": np.array([1e308, -1e308])}, {}, ValueError, "advantages must be"),  # JAX: inf
    ({"advantages": np.array([2e4, 0.0])}, {}, ValueError, "advantages must be at most 10000"),
    # Logits or probabilities where log-probabilities belong returned a loss without an error.
    ({"logp": np.full((2, 3), 1.5)}, {}, ValueError, "logp must hold log-probabilities"),
    ({"old_logp": np.full((2, 3), 0.5)}, {}, ValueError, "old_logp must hold log-probabilities"),
    ({"ref_logp": np.full((2, 3), 2.0)}, {}, ValueError, "ref_logp must hold log-probabilities"),
]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_advantages_at_the_cap_are_accepted(framework):
    # The control for the cap: |A| = 1e4 exactly passes. Ratio 1 and no KL: per token -A, so
    # the mean over the two one-token sequences is -(1e4 - 1e4) / 2 = 0.
    z = np.zeros((2, 1))
    loss, _ = loss3(framework, z, z, z, np.array([1e4, -1e4]), np.ones((2, 1)))
    assert loss == 0.0


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("change, kwargs, exc, fragment", BAD_LOSS)
def test_grpo_loss_bad_input(framework, change, kwargs, exc, fragment):
    args = {**OK, **change}
    ordered = [args[k] for k in ("logp", "old_logp", "ref_logp", "advantages", "mask")]
    if framework == "numpy":
        call = lambda: grpo_loss(*ordered, **kwargs)  # noqa: E731
    elif framework == "torch":
        call = lambda: gtorch.grpo_loss(*[torch.as_tensor(a) for a in ordered], **kwargs)  # noqa: E731
    else:
        call = lambda: gjax.grpo_loss(*[jnp.asarray(a) for a in ordered], **kwargs)  # noqa: E731
    with pytest.raises(exc, match=fragment):
        call()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_kl_k3_refuses_what_is_not_a_log_probability(framework):
    # Probabilities (0.5, 0.25) where log-probabilities belong: k3 would be computed and be wrong.
    # The control: their logarithms, and a log-probability one float32 rounding above 0, pass.
    p, q = np.array([0.5, 0.5]), np.array([0.25, 0.25])
    kl = {"numpy": kl_k3, "torch": gtorch.kl_k3, "jax": gjax.kl_k3}[framework]
    wrap = {"numpy": np.asarray, "torch": torch.as_tensor, "jax": jnp.asarray}[framework]
    with pytest.raises(ValueError, match="logp must hold log-probabilities"):
        kl(wrap(p), wrap(np.log(q)))
    with pytest.raises(ValueError, match="ref_logp must hold log-probabilities"):
        kl(wrap(np.log(p)), wrap(q))
    value = kl(wrap(np.array([np.log(0.5), 1e-7])), wrap(np.log(q)))
    assert np.all(np.isfinite(np.asarray(value)))


def test_torch_rejects_non_tensors():
    with pytest.raises(TypeError, match="logp must be a torch.Tensor"):
        gtorch.kl_k3([0.0], torch.zeros(1))


def test_framework_free_package_imports_neither_torch_nor_jax():
    import subprocess
    import sys

    code = (
        "import sys, labs.grpo, labs.common.tasks; "
        "bad = [m for m in ('torch', 'jax') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@requires_gpu
def test_torch_kernels_on_gpu_match_cpu():
    args = [torch.as_tensor(a, dtype=torch.float32) for a in random_batch(3)]
    cpu_loss, cpu_stats = gtorch.grpo_loss(*args, group_size=2)
    gpu_loss, gpu_stats = gtorch.grpo_loss(*(a.cuda() for a in args), group_size=2)
    # float32 on both devices; reductions may be ordered differently on the GPU.
    torch.testing.assert_close(gpu_loss.cpu(), cpu_loss, rtol=1e-5, atol=1e-6)
    assert gpu_stats["clip_fraction"] == pytest.approx(cpu_stats["clip_fraction"])
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    torch.testing.assert_close(
        gtorch.group_advantages(rewards.cuda(), 4).cpu(), gtorch.group_advantages(rewards, 4)
    )
