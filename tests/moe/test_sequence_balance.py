"""V3's complementary sequence-wise balance loss (§2.1.2, eqs. 17-20): values worked by hand,
what makes it sequence-wise, NumPy/torch/JAX parity, gradients and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labs.moe import aux_balance_loss, route, sequence_balance_loss

LOG3 = math.log(3.0)  # Sigmoid(log 3) = 3/4, Sigmoid(0) = 1/2


def _routed(scores: np.ndarray, k: int, bias=None) -> np.ndarray:
    """The experts `route` chooses for every token of scores (B, T, E): (B, T, k)."""
    n_seq, tokens, n_experts = scores.shape
    idx, _ = route(scores.reshape(-1, n_experts), k, bias)
    return idx.reshape(n_seq, tokens, k)


def _normalised(scores: np.ndarray) -> np.ndarray:
    """s' = s / sum_j s_j, written directly (fine for the moderate scores it is used on)."""
    s = 1.0 / (1.0 + np.exp(-scores))
    return s / s.sum(-1, keepdims=True)


def test_hand_computed_two_sequences():
    # Two sequences of T = 2 tokens, E = 2 experts, K = 1.
    #   sequence 0: token 0 logits (log 3, 0) -> s = (3/4, 1/2), s' = (0.6, 0.4), chooses 0;
    #               token 1 logits (log 3, log 3) -> s' = (0.5, 0.5), expert 0 given.
    #     f = 2 / (1 x 2) x (2, 0) = (2, 0); P_0 = (0.6 + 0.5) / 2 = 0.55; loss = 2 x 0.55 = 1.1
    #   sequence 1: token 0 logits (0, log 3) -> s' = (0.4, 0.6), chooses 1;
    #               token 1 logits (log 3, 0) -> s' = (0.6, 0.4), chooses 0.
    #     f = (1, 1): loss = P_0 + P_1 = 1.0
    # Mean over the sequences: (1.1 + 1.0) / 2 = 1.05.
    scores = np.array([[[LOG3, 0.0], [LOG3, LOG3]], [[0.0, LOG3], [LOG3, 0.0]]])
    idx = np.array([[[0], [0]], [[1], [0]]])
    assert sequence_balance_loss(scores[:1], idx[:1]) == pytest.approx(1.1, abs=1e-12)
    assert sequence_balance_loss(scores[1:], idx[1:]) == pytest.approx(1.0, abs=1e-12)
    assert sequence_balance_loss(scores, idx) == pytest.approx(1.05, abs=1e-12)
    # The four tokens as one sequence (the batch-wise loss): counts (3, 1), f = 2/4 x (3, 1)
    # = (1.5, 0.5); P = ((0.6 + 0.5 + 0.4 + 0.6) / 4, (0.4 + 0.5 + 0.6 + 0.4) / 4)
    # = (0.525, 0.475); loss = 1.5 x 0.525 + 0.5 x 0.475 = 1.025.
    whole = sequence_balance_loss(scores.reshape(1, 4, 2), idx.reshape(1, 4, 1))
    assert whole == pytest.approx(1.025, abs=1e-12)


def test_equal_affinities_score_one_whatever_the_routing():
    # All logits 0: s' = 1/E for every expert, so sum_i f_i P_i = (1/E) sum_i f_i, and
    # sum_i f_i = E / (K T) x K T = E: exactly 1 even when every token picks the same experts.
    scores = np.zeros((3, 5, 4))
    collapsed = np.broadcast_to(np.array([0, 1]), (3, 5, 2))
    assert sequence_balance_loss(scores, collapsed) == pytest.approx(1.0, abs=1e-12)


def test_one_is_the_balanced_value_not_a_lower_bound():
    # T = 10, E = 2, K = 1. Six tokens with equal logits (s' = (1/2, 1/2)) choose expert 0 (the
    # lower index); four with logits (-30, 30) (s'_0 about 1e-26) choose expert 1.
    # f = 2 / 10 x (6, 4) = (1.2, 0.8); P_0 = 6 x 0.5 / 10 = 0.3, P_1 = 0.7;
    # loss = 1.2 x 0.3 + 0.8 x 0.7 = 0.92, below the 1 of an exactly balanced load.
    scores = np.array([[0.0, 0.0]] * 6 + [[-30.0, 30.0]] * 4)[None]
    idx = _routed(scores, 1)
    assert idx[0, :, 0].tolist() == [0] * 6 + [1] * 4
    assert sequence_balance_loss(scores, idx) == pytest.approx(0.92, abs=1e-12)


def test_one_sequence_equals_the_batch_wise_auxiliary_loss():
    # With B = 1 eqs. 17-20 are the batch-wise loss on the normalised affinities: an independent
    # implementation (aux_balance_loss, f as a share of k T slots, times E) must agree.
    rng = np.random.default_rng(0)
    scores = 2.0 * rng.standard_normal((1, 40, 8))
    idx = _routed(scores, 3, bias=0.3 * rng.standard_normal(8))
    batch = aux_balance_loss(_normalised(scores[0]), idx[0])
    assert sequence_balance_loss(scores, idx) == pytest.approx(batch, rel=1e-12)


def _specialised(level: float, interleave: bool) -> tuple[np.ndarray, np.ndarray]:
    """Two sequences of 8 tokens, 4 experts, top-2. Half the tokens favour experts {0, 1} (logit
    +level, the others -level), half {2, 3}. `interleave=False`: sequence 0 holds the first kind
    only and sequence 1 the second (each sequence maximally imbalanced, the batch balanced);
    `interleave=True`: each sequence holds four of each kind (every sequence balanced)."""
    first = np.array([level, level, -level, -level])
    tokens = np.stack([first] * 8 + [first[::-1]] * 8)  # (16, 4)
    order = np.r_[0:16:2, 1:16:2] if interleave else np.arange(16)
    scores = tokens[order].reshape(2, 8, 4)
    return scores, _routed(scores, 2)


@pytest.mark.parametrize("level", [2.0, 4.0, 8.0])
def test_sequence_wise_loss_sees_what_the_batch_wise_loss_cannot(level):
    scores, idx = _specialised(level, interleave=False)
    flat_probs, flat_idx = _normalised(scores.reshape(16, 4)), idx.reshape(16, 2)
    loads = np.bincount(flat_idx.ravel(), minlength=4)
    assert loads.tolist() == [8, 8, 8, 8]  # the batch is perfectly balanced ...
    per_seq = [np.bincount(i.ravel(), minlength=4).tolist() for i in idx]
    assert per_seq == [[8, 8, 0, 0], [0, 0, 8, 8]]  # ... and each sequence uses half the experts
    batch = aux_balance_loss(flat_probs, flat_idx)
    sequence = sequence_balance_loss(scores, idx)
    # Each sequence: f = (2, 2, 0, 0), P_0 = P_1 = s'_chosen = Sigmoid(L) / (2 (Sigmoid(L) +
    # Sigmoid(-L))) = Sigmoid(L) / 2, so sum_i f_i P_i = 2 Sigmoid(L): 1.76, 1.96, 2.00 (E/K = 2).
    expected = 2.0 / (1.0 + math.exp(-level))
    assert batch == pytest.approx(1.0, abs=1e-12)  # its balanced value: it sees nothing wrong
    assert sequence == pytest.approx(expected, abs=1e-12)
    assert sequence - batch > 0.75
    # Negative control: the same tokens, interleaved so that each sequence is balanced too. The
    # sequence-wise loss then falls to the batch-wise value: it fires on imbalance, not on the
    # tokens' specialisation.
    mixed_scores, mixed_idx = _specialised(level, interleave=True)
    assert sequence_balance_loss(mixed_scores, mixed_idx) == pytest.approx(1.0, abs=1e-12)


def test_gradient_pushes_each_sequence_away_from_its_experts():
    import torch

    from labs.moe import torch as moe_torch

    scores, idx = _specialised(2.0, interleave=False)
    logits = torch.from_numpy(scores).requires_grad_()
    moe_torch.sequence_balance_loss(logits, torch.from_numpy(idx)).backward()
    grad = logits.grad.numpy()
    # Descent lowers the logits of the experts each sequence overloads and raises the others'.
    assert (grad[0, :, :2] > 0).all() and (grad[0, :, 2:] < 0).all()
    assert (grad[1, :, 2:] > 0).all() and (grad[1, :, :2] < 0).all()


def _case(dtype, seed=1, shape=(3, 16, 8), k=3):
    rng = np.random.default_rng(seed)
    scores = (3.0 * rng.standard_normal(shape)).astype(dtype)
    bias = (0.5 * rng.standard_normal(shape[-1])).astype(dtype)
    return scores, _routed(scores, k, bias)  # chosen with a bias, as in training


# Tolerances: the three compute the same formula (log-sigmoid, softmax over E, a mean over T, a
# sum over E) in different orders. float64 rounding is about 1e-16 per operation, so 1e-12 leaves
# room for the few dozen operations per value; float32 is about 6e-8 per operation, so 1e-5.
_RTOL = {np.float64: 1e-12, np.float32: 1e-5}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_torch_jax_parity(dtype):
    import jax
    import jax.numpy as jnp
    import torch

    from labs.moe import jax as moe_jax
    from labs.moe import torch as moe_torch

    scores, idx = _case(dtype)
    expected = sequence_balance_loss(scores, idx)
    got_torch = moe_torch.sequence_balance_loss(torch.from_numpy(scores), torch.from_numpy(idx))
    assert got_torch.dtype == torch.from_numpy(scores).dtype
    with jax.enable_x64(dtype == np.float64):
        got_jax = moe_jax.sequence_balance_loss(jnp.asarray(scores), jnp.asarray(idx))
        assert got_jax.dtype == dtype
        got_jax = float(got_jax)
    assert float(got_torch) == pytest.approx(expected, rel=_RTOL[dtype])
    assert got_jax == pytest.approx(expected, rel=_RTOL[dtype])
    # and the value is not a constant: routing the same scores without the bias changes it
    assert abs(sequence_balance_loss(scores, _routed(scores, 3)) - expected) > 1e-3


def test_torch_gradcheck_float64():
    import torch

    from labs.moe import torch as moe_torch

    scores, idx = _case(np.float64, shape=(2, 6, 5), k=2)
    logits = torch.from_numpy(scores).requires_grad_()
    indices = torch.from_numpy(idx)
    assert torch.autograd.gradcheck(
        lambda s: moe_torch._sequence_balance_loss(s, indices), (logits,)
    )


def test_jax_grad_equals_torch_grad_float64():
    import jax
    import jax.numpy as jnp
    import torch

    from labs.moe import jax as moe_jax
    from labs.moe import torch as moe_torch

    scores, idx = _case(np.float64, seed=2)
    logits = torch.from_numpy(scores).requires_grad_()
    moe_torch._sequence_balance_loss(logits, torch.from_numpy(idx)).backward()
    with jax.enable_x64(True):
        grad = jax.grad(moe_jax._sequence_balance_loss)(jnp.asarray(scores), jnp.asarray(idx))
        grad = np.asarray(grad)
    assert np.abs(grad).max() > 1e-4  # a gradient worth comparing
    # float64, the same formula differentiated by two autodiff systems: rounding only
    np.testing.assert_allclose(grad, logits.grad.numpy(), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("framework", ["numpy", "torch", "jax"])
def test_finite_when_every_sigmoid_underflows(framework):
    # In float32 sigmoid(-200) = 1e-87 is 0 (numpy from about -104, torch -88.7, JAX -87.3), so
    # s' = s / sum(s) would be 0/0. Far below 0, log Sigmoid(u) = u: s' is the softmax of the
    # logits themselves, which the expected value below uses.
    rng = np.random.default_rng(3)
    scores = (-200.0 + rng.standard_normal((2, 4, 4))).astype(np.float32)
    idx = _routed(scores.astype(np.float64), 2)
    wide = scores.astype(np.float64)
    s_norm = np.exp(wide - wide.max(-1, keepdims=True))
    s_norm /= s_norm.sum(-1, keepdims=True)
    counts = np.stack([np.bincount(i.ravel(), minlength=4) for i in idx])  # (2, 4)
    expected = np.mean(np.sum(4 / (2 * 4) * counts * s_norm.mean(1), -1))
    if framework == "numpy":
        value = sequence_balance_loss(scores, idx)
    elif framework == "torch":
        import torch

        from labs.moe import torch as moe_torch

        value = float(moe_torch.sequence_balance_loss(torch.from_numpy(scores), torch.tensor(idx)))
    else:
        import jax.numpy as jnp

        from labs.moe import jax as moe_jax

        value = float(moe_jax.sequence_balance_loss(jnp.asarray(scores), jnp.asarray(idx)))
    assert math.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-5)  # float32
    assert abs(expected - 1.0) > 0.05  # not the value of equal affinities


SCORES = np.random.default_rng(4).standard_normal((2, 5, 4))
IDX = _routed(SCORES, 2)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: sequence_balance_loss(SCORES[0], IDX[0]), ValueError, "scores must have 3"),
        (lambda: sequence_balance_loss(SCORES, IDX[0]), ValueError, "expert_indices must have 3"),
        (lambda: sequence_balance_loss(SCORES, IDX[:, :4]), ValueError, r"shape \(2, 5, k <= 4"),
        (lambda: sequence_balance_loss(SCORES, IDX[:1]), ValueError, "expert_indices must have"),
        (
            lambda: sequence_balance_loss(SCORES, np.concatenate([IDX, IDX, IDX], -1)[..., :5]),
            ValueError,
            "expert_indices must have shape",
        ),
        (lambda: sequence_balance_loss(SCORES, IDX + 4), ValueError, r"expert_indices must lie"),
        (lambda: sequence_balance_loss(SCORES, IDX - 9), ValueError, r"expert_indices must lie"),
        (
            lambda: sequence_balance_loss(SCORES, np.concatenate([IDX[..., :1]] * 2, -1)),
            ValueError,
            "k distinct experts",
        ),
        (lambda: sequence_balance_loss(SCORES[:, :0], IDX[:, :0]), ValueError, "empty"),
        (lambda: sequence_balance_loss(SCORES[:0], IDX[:0]), ValueError, "empty"),
        (lambda: sequence_balance_loss(SCORES[..., :0], IDX), ValueError, "scores must not"),
        (
            lambda: sequence_balance_loss(np.where(SCORES > 1, np.nan, SCORES), IDX),
            ValueError,
            "scores must be finite",
        ),
        (
            lambda: sequence_balance_loss(np.where(SCORES > 1, np.inf, SCORES), IDX),
            ValueError,
            "scores must be finite",
        ),
        (lambda: sequence_balance_loss(SCORES.astype(int), IDX), TypeError, "scores"),
        (lambda: sequence_balance_loss(SCORES, IDX.astype(float)), TypeError, "expert_indices"),
        (lambda: sequence_balance_loss("scores", IDX), TypeError, "scores"),
    ],
)
def test_refused_with_the_parameter_named(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_frameworks_refuse_each_others_arrays():
    import torch

    from labs.moe import jax as moe_jax
    from labs.moe import torch as moe_torch

    with pytest.raises(TypeError, match="scores must be a torch.Tensor"):
        moe_torch.sequence_balance_loss(SCORES, torch.from_numpy(IDX))
    with pytest.raises(TypeError, match="expert_indices must be a torch.Tensor"):
        moe_torch.sequence_balance_loss(torch.from_numpy(SCORES), IDX)
    with pytest.raises(TypeError, match="scores must be a JAX or NumPy array"):
        moe_jax.sequence_balance_loss(torch.from_numpy(SCORES), IDX)
    with pytest.raises(TypeError, match="scores must be a NumPy array"):
        sequence_balance_loss(torch.from_numpy(SCORES), IDX)
    with pytest.raises(ValueError, match="k distinct experts"):
        moe_torch.sequence_balance_loss(torch.zeros(1, 2, 3), torch.zeros(1, 2, 2, dtype=int))
