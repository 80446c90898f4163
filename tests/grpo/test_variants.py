"""The GRPO variants (issue 19): loss_type, scale_by_std, clip-higher, and the temperature fix.

Expected values are worked out by hand in the comments (from TRL's documented definitions of
each `loss_type`, Dr. GRPO and DAPO), never taken from the code under test.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from labs.common.tasks import AdditionTask
from labs.grpo import GRPOConfig, group_advantages, grpo_loss, training
from labs.grpo import jax as gjax
from labs.grpo import torch as gtorch

FRAMEWORKS = ["numpy", "torch", "jax"]
LOSS_TYPES = ["grpo", "bnpo", "dr_grpo", "dapo"]


def loss3(framework, *arrays, **kwargs):
    """grpo_loss of one framework on float64 NumPy arrays: (float loss, float stats)."""
    if framework == "numpy":
        return grpo_loss(*arrays, **kwargs)
    if framework == "torch":
        loss, stats = gtorch.grpo_loss(*[torch.as_tensor(a) for a in arrays], **kwargs)
        return float(loss), stats
    loss, stats = gjax.grpo_loss(*[jnp.asarray(a, jnp.float32) for a in arrays], **kwargs)
    return float(loss), {k: float(v) for k, v in stats.items()}


def grad3(framework, *arrays, **kwargs):
    """d loss / d logp in torch (float64) or JAX (float32)."""
    if framework == "torch":
        lp = torch.tensor(arrays[0], requires_grad=True)
        gtorch.grpo_loss(lp, *[torch.as_tensor(a) for a in arrays[1:]], **kwargs)[0].backward()
        return lp.grad.numpy()
    rest = [jnp.asarray(a, jnp.float32) for a in arrays[1:]]
    fn = lambda x: gjax.grpo_loss(x, *rest, **kwargs)[0]  # noqa: E731
    return np.asarray(jax.grad(fn)(jnp.asarray(arrays[0], jnp.float32)))


# --- loss_type: hand-worked values ------------------------------------------------------------

# logp = old = ref: ratio 1 and KL 0, so each token's loss is -A. Sequence 1 has three tokens
# with A = 1 (loss -1 each), sequence 2 one token with A = -0.5 (loss +0.5): 4 tokens, sum -2.5.
LP = np.log(np.array([[0.5, 0.4, 0.3], [0.3, 0.2, 0.9]]))
ADV = np.array([1.0, -0.5])
MASK = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
HAND = {
    ("grpo", None): (-1.0 + 0.5) / 2,  # per sequence (-1, +0.5), then over 2 sequences: -0.25
    ("bnpo", None): -2.5 / 4,  # over the 4 unmasked tokens of the batch: -0.625
    ("dapo", None): -2.5 / 4,  # the same in one process: -0.625
    ("dr_grpo", None): -2.5 / (2 * 3),  # B = 2 times T = 3 (None: the width of logp)
    ("dr_grpo", 5): -2.5 / (2 * 5),  # B = 2 times max_completion_length = 5: -0.25
    ("grpo", 5): -0.25,  # other loss types ignore max_completion_length
    ("bnpo", 5): -0.625,
}


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("loss_type, max_len", list(HAND))
def test_each_loss_type_hand_worked(framework, loss_type, max_len):
    loss, stats = loss3(
        framework, LP, LP, LP, ADV, MASK, loss_type=loss_type, max_completion_length=max_len
    )
    assert loss == pytest.approx(HAND[loss_type, max_len], rel=1e-6)
    assert stats["ratio_mean"] == pytest.approx(1.0) and stats["clip_fraction"] == 0.0


# At ratio 1 (unclipped), d loss / d logp_it = -A_i / divisor: the divisor is where the variants
# differ, and where the length bias of "grpo" shows (a token of a long answer weighs less).
HAND_GRAD = {
    "grpo": np.array([[-1 / (2 * 3)] * 3, [0.5 / (2 * 1), 0, 0]]),  # 1 / (n_seq * |o_i|)
    "bnpo": np.array([[-1 / 4] * 3, [0.5 / 4, 0, 0]]),  # 1 / n_tokens
    "dapo": np.array([[-1 / 4] * 3, [0.5 / 4, 0, 0]]),
    "dr_grpo": np.array([[-1 / 6] * 3, [0.5 / 6, 0, 0]]),  # 1 / (B * T)
}


@pytest.mark.parametrize("framework", ["torch", "jax"])
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_each_loss_type_gradient_hand_worked(framework, loss_type):
    got = grad3(framework, LP, LP, LP, ADV, MASK, beta=0.0, loss_type=loss_type)
    np.testing.assert_allclose(got, HAND_GRAD[loss_type], atol=1e-6)


def test_grpo_weighs_a_short_answer_more_than_the_others_do():
    # The length bias Dr. GRPO names: under "grpo" the lone token of the short answer gets a
    # gradient 3x that of a token of the long one, for advantages of equal size.
    adv = np.array([1.0, -1.0])
    g = {t: grad3("torch", LP, LP, LP, adv, MASK, beta=0.0, loss_type=t) for t in LOSS_TYPES}
    assert abs(g["grpo"][1, 0]) == pytest.approx(3 * abs(g["grpo"][0, 0]))
    for loss_type in ("bnpo", "dapo", "dr_grpo"):
        assert abs(g[loss_type][1, 0]) == pytest.approx(abs(g[loss_type][0, 0]))


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_no_token_anywhere_gives_zero_for_every_loss_type(framework, loss_type):
    loss, stats = loss3(framework, LP, LP, LP, ADV, np.zeros_like(MASK), loss_type=loss_type)
    assert loss == 0.0 and stats["kl"] == 0.0 and stats["clip_fraction"] == 0.0


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_kl_statistic_is_a_token_mean_outside_grpo(framework):
    # A = 0; pi = 0.5, pi_ref = 0.25 on every token: k3 = log 2 - 0.5 per token, so every
    # average of it is that number, and the loss is beta times it except for "dr_grpo" (4 of 6
    # slots hold a token: 4/6 of it).
    ref = np.log(np.full((2, 3), 0.25))
    lp = np.log(np.full((2, 3), 0.5))
    k3 = math.log(2) - 0.5
    for loss_type, share in (("grpo", 1.0), ("bnpo", 1.0), ("dapo", 1.0), ("dr_grpo", 4 / 6)):
        loss, stats = loss3(framework, lp, lp, ref, np.zeros(2), MASK, loss_type=loss_type)
        assert stats["kl"] == pytest.approx(k3, rel=1e-6)
        assert loss == pytest.approx(0.04 * k3 * share, rel=1e-6)


# --- clip-higher ------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(
    "ratio, adv, low, high, expected_loss, clipped",
    [
        (1.5, 1.0, 0.2, 0.28, -1.28, 1.0),  # min(1.5, 1.28): clip-higher caps later
        (1.5, 1.0, 0.2, 0.6, -1.5, 0.0),  # 1.5 < 1.6: not clipped at all
        (1.25, 1.0, 0.2, 0.28, -1.25, 0.0),  # symmetric 0.2 would clip this one (-1.2)
        (0.5, -1.0, 0.2, 0.28, 0.8, 1.0),  # min(-0.5, -0.8): the low side still at 0.2
        (0.5, -1.0, 0.6, 0.28, 0.5, 0.0),  # a wider low side: min(-0.5, -0.4) = -0.5
    ],
)
def test_asymmetric_clip_hand_worked(framework, ratio, adv, low, high, expected_loss, clipped):
    old = np.array([[math.log(0.4)]])
    lp = old + math.log(ratio)
    loss, stats = loss3(
        framework, lp, old, lp, np.array([adv]), np.ones((1, 1)), beta=0.0,
        clip_eps_low=low, clip_eps_high=high,
    )  # fmt: skip
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    assert stats["clip_fraction"] == clipped


def random_batch(seed, b=6, t=5):
    rng = np.random.default_rng(seed)
    old = np.log(rng.uniform(0.05, 1.0, size=(b, t)))
    lp = np.minimum(old + rng.normal(0, 0.3, size=(b, t)), 0.0)  # ratios ~0.4 to ~2.5
    ref = np.minimum(old + rng.normal(0, 0.3, size=(b, t)), 0.0)  # log-probabilities: <= 0
    adv = rng.normal(size=b)
    mask = (rng.uniform(size=(b, t)) < 0.7).astype(np.float64)
    mask[0] = 0.0  # one empty sequence
    return lp, old, ref, adv, mask


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_default_clip_is_the_symmetric_clip(framework):
    args = random_batch(0)
    base = loss3(framework, *args, clip_eps=0.05)
    explicit = loss3(framework, *args, clip_eps=0.05, clip_eps_low=0.05, clip_eps_high=0.05)
    assert base == explicit
    assert base[1]["clip_fraction"] > 0  # the batch has clipped tokens
    higher = loss3(framework, *args, clip_eps=0.05, clip_eps_high=0.5)
    lower = loss3(framework, *args, clip_eps=0.05, clip_eps_low=0.5)
    assert higher[0] != base[0] and lower[0] != base[0]  # each side is read where it belongs
    assert higher[1]["clip_fraction"] < base[1]["clip_fraction"]


# --- parity: every loss_type, clip and scale_by_std -------------------------------------------

SETTINGS = [
    {"loss_type": t, **clip}
    for t in LOSS_TYPES
    for clip in ({}, {"clip_eps_low": 0.2, "clip_eps_high": 0.28}, {"clip_eps_low": 0.1})
] + [{"loss_type": "dr_grpo", "max_completion_length": 16}]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_parity_numpy_torch_jax_every_setting(seed, settings):
    args = random_batch(seed)
    ref_loss, ref_stats = grpo_loss(*args, group_size=2, **settings)
    t_loss, t_stats = loss3("torch", *args, group_size=2, **settings)
    j_loss, j_stats = loss3("jax", *args, group_size=2, **settings)
    # torch float64 does the same operations (rounding, 1e-12); JAX float32 (~1e-7 per op).
    assert t_loss == pytest.approx(ref_loss, rel=1e-12, abs=1e-12)
    assert j_loss == pytest.approx(ref_loss, rel=1e-5, abs=1e-6)
    for key, value in ref_stats.items():
        assert t_stats[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
        assert j_stats[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def finite_difference_grad(args, h=1e-6, **kwargs):
    lp = args[0]
    grad = np.zeros_like(lp)
    for idx in np.ndindex(lp.shape):
        up, down = lp.copy(), lp.copy()
        up[idx] += h
        down[idx] -= h
        diff = grpo_loss(up, *args[1:], **kwargs)[0] - grpo_loss(down, *args[1:], **kwargs)[0]
        grad[idx] = diff / (2 * h)
    return grad


@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_gradients_match_finite_differences_every_setting(settings):
    args = random_batch(1)
    fd = finite_difference_grad(args, **settings)
    np.testing.assert_allclose(grad3("torch", *args, **settings), fd, atol=1e-7)
    np.testing.assert_allclose(grad3("jax", *args, **settings), fd, atol=1e-5)  # float32


# --- group_advantages(scale_by_std=False): Dr. GRPO --------------------------------------------


def advantages3(framework, rewards, g, **kwargs):
    if framework == "numpy":
        return group_advantages(rewards, g, **kwargs)
    if framework == "torch":
        return gtorch.group_advantages(torch.from_numpy(rewards), g, **kwargs).numpy()
    return np.asarray(gjax.group_advantages(jnp.asarray(rewards, jnp.float32), g, **kwargs))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_advantages_without_std_hand_worked(framework):
    # Group 1: (1, 0, 0, 0), mean 1/4: (0.75, -0.25, -0.25, -0.25), no division.
    # Group 2: (1, 1, 1, 0), mean 3/4: (0.25, 0.25, 0.25, -0.75). Group 3 flat: zeros.
    rewards = np.array([1.0, 0, 0, 0, 1, 1, 1, 0, 0.3, 0.3, 0.3, 0.3])
    got = advantages3(framework, rewards, 4, scale_by_std=False)
    want = [0.75, -0.25, -0.25, -0.25, 0.25, 0.25, 0.25, -0.75, 0, 0, 0, 0]
    np.testing.assert_allclose(got, want, atol=1e-7)
    assert np.all(got[8:] == 0)  # a flat group: exactly 0, not rounding noise
    # With the std (ddof = 1, 0.5 in both groups) the lone correct answer of group 1 gets 1.5,
    # twice the 0.75 Dr. GRPO gives it: the difficulty weighting the std introduces.
    scaled = advantages3(framework, rewards, 4, eps=1e-12)
    assert scaled[0] == pytest.approx(1.5, rel=1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_advantages_without_std_scale_with_rewards(framework):
    rng = np.random.default_rng(0)
    rewards = rng.uniform(size=12)
    base = advantages3(framework, rewards, 3, scale_by_std=False)
    scaled = advantages3(framework, 3.0 * rewards + 2.0, 3, scale_by_std=False)
    np.testing.assert_allclose(scaled, 3.0 * base, rtol=1e-5, atol=1e-6)  # shift-, not scale-free
    np.testing.assert_allclose(base.reshape(4, 3).sum(axis=1), 0.0, atol=1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("value", [0.1, 1.1, -3.7])
def test_flat_groups_without_std_give_exact_zeros(framework, value):
    # 0.1 * 3 / 3 != 0.1 in floating point: the zero must come from the flat-group rule.
    got = advantages3(framework, np.full(6, value), 3, scale_by_std=False)
    assert np.array_equal(got, np.zeros(6))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_scale_by_std_bad_input(framework):
    with pytest.raises(TypeError, match="scale_by_std must be True or False"):
        advantages3(framework, np.ones(4), 2, scale_by_std=1)


# --- bad settings -----------------------------------------------------------------------------

BAD = [
    ({"loss_type": "ppo"}, ValueError, "loss_type must be one of"),
    ({"loss_type": None}, ValueError, "loss_type must be one of"),
    ({"clip_eps_high": 0.0}, ValueError, "clip_eps_high must be > 0"),
    ({"clip_eps_low": float("nan")}, ValueError, "clip_eps_low"),
    ({"clip_eps_high": "0.28"}, TypeError, "clip_eps_high must be a real number"),
    ({"max_completion_length": 2}, ValueError, "max_completion_length must be at least"),
    ({"max_completion_length": 3.0}, TypeError, "max_completion_length must be an int"),
    ({"max_completion_length": 2**40}, ValueError, "max_completion_length must be <="),
]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("kwargs, exc, fragment", BAD)
def test_grpo_loss_bad_settings(framework, kwargs, exc, fragment):
    with pytest.raises(exc, match=fragment):
        loss3(framework, LP, LP, LP, ADV, MASK, **kwargs)


def test_config_checks_the_variant_fields():
    assert GRPOConfig().loss_type == "grpo" and GRPOConfig().scale_by_std
    with pytest.raises(ValueError, match="loss_type"):
        GRPOConfig(loss_type="Dr. GRPO")
    with pytest.raises(TypeError, match="scale_by_std"):
        GRPOConfig(scale_by_std="no")
    with pytest.raises(ValueError, match="clip_eps_high"):
        GRPOConfig(clip_eps_high=-0.1)


# --- temperature: sampled and scored from the same distribution --------------------------------

TASK = AdditionTask()


def tiny(seed=0):
    return gtorch.new_policy(TASK, seed=seed, d_model=32, n_layers=1, n_heads=2)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_logprobs_score_the_distribution_the_sampler_draws_from(temperature):
    policy = tiny()
    prompts = torch.as_tensor(TASK.prompts(TASK.train[:1]))
    vocab = TASK.vocab_size
    every = torch.arange(vocab)[:, None]  # each token as a one-token completion
    logp = gtorch.completion_logprobs(
        policy, prompts.expand(vocab, -1), every, temperature=temperature
    )[:, 0]
    # Independent of the code under test: the softmax of the logits divided by T.
    with torch.no_grad():
        want = torch.log_softmax(policy(prompts)[0, -1] / temperature, -1)
    torch.testing.assert_close(logp, want, rtol=1e-5, atol=1e-5)
    assert (logp - torch.log_softmax(policy(prompts)[0, -1], -1)).abs().max() > 0.05  # T matters
    # ...and it is the distribution `sample` draws from: 20,000 first tokens, frequencies within
    # 5 binomial standard deviations (sqrt(p (1 - p) / n) <= 0.0036) of exp(logp).
    n, tok = 20_000, TASK.tokenizer
    gen = torch.Generator().manual_seed(0)
    comp, _ = gtorch.sample(
        policy, prompts.expand(n, -1), 1, eos_id=tok.eos_id, pad_id=tok.pad_id,
        generator=gen, temperature=temperature,
    )  # fmt: skip
    freq = torch.bincount(comp[:, 0], minlength=vocab).double() / n
    p = logp.exp().double()
    assert torch.all((freq - p).abs() <= 5 * torch.sqrt(p * (1 - p) / n) + 1e-9)


def test_the_training_loop_scores_at_the_sampling_temperature(monkeypatch):
    # Every log-probability the GRPO loop takes (reference, pi_old, pi_theta) must be at the
    # temperature it sampled at; the loop before the fix scored at T = 1.
    seen = []
    real = training._completion_logprobs

    def spy(*args):  # (policy, prompts, completions[, temperature]); T = 1 when left out
        seen.append(args[3] if len(args) > 3 else 1.0)
        return real(*args)

    monkeypatch.setattr(training, "_completion_logprobs", spy)
    config = GRPOConfig(steps=1, prompts_per_step=2, group_size=2, temperature=0.7)
    gtorch.train_grpo(TASK, tiny(), config)
    assert seen == [0.7, 0.7, 0.7]
