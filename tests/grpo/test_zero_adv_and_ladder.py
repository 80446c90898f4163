"""Zero-advantage groups (informative_groups, DAPO's dynamic sampling), REINFORCE, the fair PPO
setting, pass@k / maj@k and the ladder's configurations (issue 19).

Expected values are worked out by hand in the comments or computed independently (pass@k by
enumerating every subset of k samples), never taken from the code under test.
"""

import itertools
import math

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from labs.common.tasks import AdditionTask
from labs.grpo import (
    GRPOConfig,
    PPOConfig,
    informative_groups,
    majority_at_k,
    pass_at_k,
    ppo,
    training,
)
from labs.grpo import jax as gjax
from labs.grpo import torch as gtorch
from labs.grpo.ladder import RUNGS, block_means, ladder_config, run_rung
from labs.grpo.sweep import load_sweep

TASK = AdditionTask()


def tiny(seed=0):
    return gtorch.new_policy(TASK, seed=seed, d_model=16, n_layers=1, n_heads=2)


# --- informative_groups ------------------------------------------------------------------------

# Groups of 3: (1, 1, 1) flat, (0, 1, 0) informative, (0, 0, 0) flat, (0.1, 1.1, 0.1) informative.
REWARDS = np.array([1.0, 1, 1, 0, 1, 0, 0, 0, 0, 0.1, 1.1, 0.1])
WANT = np.array([False, True, False, True])


@pytest.mark.parametrize("framework", ["numpy", "torch", "jax"])
def test_informative_groups_by_hand_in_every_framework(framework):
    if framework == "numpy":
        got = informative_groups(REWARDS, 3)
    elif framework == "torch":
        got = gtorch.informative_groups(torch.as_tensor(REWARDS), 3).numpy()
    else:
        got = np.asarray(gjax.informative_groups(jnp.asarray(REWARDS, jnp.float32), 3))
    np.testing.assert_array_equal(got, WANT)
    # The zero-advantage share the loss reports is the share of False: 2 of 4 groups.
    assert 1 - got.mean() == 0.5


def test_informative_groups_refuses_bad_input():
    with pytest.raises(ValueError, match="multiple of group_size"):
        informative_groups(np.ones(5), 2)
    with pytest.raises(ValueError, match="group_size"):
        informative_groups(np.ones(4), 1)
    with pytest.raises(TypeError, match="rewards"):
        informative_groups(np.ones(4, dtype=np.int64), 2)


# --- REINFORCE and dynamic sampling inside the loop -------------------------------------------


def test_reinforce_uses_the_raw_reward_and_grpo_the_group_relative_one():
    r = torch.tensor([1.0, 0.0, 0.1, 0.1])
    raw = training._advantages(r, GRPOConfig(group_size=2, baseline=False))
    torch.testing.assert_close(raw, r)
    centred = training._advantages(r, GRPOConfig(group_size=2, scale_by_std=False))
    torch.testing.assert_close(centred, torch.tensor([0.5, -0.5, 0.0, 0.0]))


def _fake_rewards(pattern):
    """A reward function whose groups follow `pattern` (True: informative) round after round."""
    calls = iter(itertools.cycle(pattern))

    def fake(task, problems, completions, config):
        g = config.group_size
        values = []
        for _ in range(len(problems) // g):
            values += [1.0] + [0.0] * (g - 1) if next(calls) else [0.0] * g
        return torch.tensor(values), 0.0

    return fake


def test_dynamic_sampling_keeps_only_informative_groups_and_counts_what_it_sampled(monkeypatch):
    # 4 prompts a round; the pattern gives 1 informative group in 4: four rounds are needed.
    monkeypatch.setattr(training, "_rewards", _fake_rewards([True, False, False, False]))
    config = GRPOConfig(
        steps=1, prompts_per_step=4, group_size=2, dynamic_sampling=True, max_sampling_rounds=6
    )
    gens = training._generators(0)
    batch, zero_adv, sampled = training._sample_groups(TASK, tiny(), config, *gens)
    rewards = batch[3]
    assert rewards.shape == (8,)  # 4 groups of 2 kept
    assert informative_groups(rewards.numpy(), 2).all()
    assert zero_adv == 0.75  # of the first round: 3 flat groups of 4
    assert sampled == 16  # four rounds of 4 questions
    # Without the filter the first round is trained as drawn, flat groups included.
    plain = GRPOConfig(steps=1, prompts_per_step=4, group_size=2)
    batch, zero_adv, sampled = training._sample_groups(TASK, tiny(), plain, *gens)
    assert not informative_groups(batch[3].numpy(), 2).all() and sampled == 4


def test_dynamic_sampling_skips_a_step_with_no_signal_and_leaves_the_policy_alone(monkeypatch):
    monkeypatch.setattr(training, "_rewards", _fake_rewards([False]))
    policy = tiny()
    before = [p.detach().clone() for p in policy.parameters()]
    config = GRPOConfig(steps=2, prompts_per_step=2, group_size=2, dynamic_sampling=True,
                        max_sampling_rounds=3)  # fmt: skip
    _, log = gtorch.train_grpo(TASK, policy, config)
    assert log.history["zero_adv_fraction"] == [1.0, 1.0]
    assert log.history["sampled_groups"] == [6.0, 6.0]  # 3 rounds of 2 questions each step
    assert all(torch.equal(a, b) for a, b in zip(before, policy.parameters(), strict=True))
    # Negative control: the same run with informative groups moves the policy, so the check
    # above can fail.
    monkeypatch.setattr(training, "_rewards", _fake_rewards([True]))
    moved = tiny()
    _, log = gtorch.train_grpo(TASK, moved, config)
    assert log.history["sampled_groups"] == [2.0, 2.0]  # one round was enough
    assert any(not torch.equal(a, b) for a, b in zip(before, moved.parameters(), strict=True))


def test_ppo_refuses_grpo_only_settings():
    with pytest.raises(ValueError, match="dynamic_sampling"):
        PPOConfig(dynamic_sampling=True)
    with pytest.raises(ValueError, match="baseline"):
        PPOConfig(baseline=False)
    with pytest.raises(TypeError, match="distinct_prompts"):
        PPOConfig(distinct_prompts="yes")
    with pytest.raises(ValueError, match="max_sampling_rounds"):
        GRPOConfig(max_sampling_rounds=17)


# --- the fair comparison: the same questions per step ------------------------------------------


def _questions(monkeypatch, module):
    seen = []
    real = module._rewards

    def spy(task, problems, completions, config):
        seen.append(sorted((p.a, p.b) for p in problems))
        return real(task, problems, completions, config)

    monkeypatch.setattr(module, "_rewards", spy)
    return seen


def test_ppo_sees_the_questions_grpo_sees_at_each_step(monkeypatch):
    settings = {"steps": 3, "prompts_per_step": 3, "group_size": 2, "seed": 5}
    grpo_seen = _questions(monkeypatch, training)
    gtorch.train_grpo(TASK, tiny(), GRPOConfig(**settings))
    ppo_seen = _questions(monkeypatch, ppo)
    gtorch.train_ppo(TASK, tiny(), PPOConfig(**settings))
    assert len(grpo_seen) == 3 and grpo_seen == ppo_seen
    distinct = _questions(monkeypatch, ppo)
    gtorch.train_ppo(TASK, tiny(), PPOConfig(**settings, distinct_prompts=True))
    # Negative control: PPO's usual setting, 6 different questions per step, not GRPO's 3 x 2.
    assert distinct != grpo_seen and len(set(map(tuple, distinct[0]))) > 3


# --- pass@k and maj@k --------------------------------------------------------------------------


def brute_pass_at_k(row, k):
    """The share of all k-subsets of the samples holding at least one correct one."""
    subsets = list(itertools.combinations(row, k))
    return sum(any(s) for s in subsets) / len(subsets)


def test_pass_at_k_by_hand_and_by_enumeration():
    # n = 4, c = 1, k = 2: 1 - C(3, 2) / C(4, 2) = 1 - 3/6 = 0.5; c = 0: 0; c = 4: 1.
    correct = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]])
    assert math.isclose(pass_at_k(correct, 2), (0.5 + 0 + 1) / 3)
    assert math.isclose(pass_at_k(correct, 1), (0.25 + 0 + 1) / 3)  # k = 1: c / n
    rng = np.random.default_rng(0)
    rows = rng.uniform(size=(6, 7)) < 0.3
    for k in (1, 2, 3, 7):
        want = np.mean([brute_pass_at_k(r, k) for r in rows])
        assert math.isclose(pass_at_k(rows, k), want, rel_tol=1e-12)


def test_majority_at_k_by_hand():
    answers = np.array([[3, 3, 5, -1], [4, 5, 5, 4], [-1, -1, 7, 7]])
    targets = np.array([3, 4, 7])
    # k = 2 runs: [3,3] right; [5,-1] votes 5, wrong; [4,5] tie -> first (4) right; [5,4] tie ->
    # 5, wrong; [-1,-1] no vote, wrong; [7,7] right: 3 of 6.
    assert majority_at_k(answers, targets, 2) == 0.5
    # k = 4: [3,3,5,-1] -> 3 right; [4,5,5,4] tie -> 4 right; [-1,-1,7,7] -> 7 right.
    assert majority_at_k(answers, targets, 4) == 1.0
    assert majority_at_k(answers, targets, 1) == 6 / 12  # k = 1: accuracy, 2 right per row


def test_at_k_refuses_bad_input():
    with pytest.raises(ValueError, match="k must divide"):
        majority_at_k(np.zeros((2, 4), dtype=int), np.zeros(2, dtype=int), 3)
    with pytest.raises(ValueError, match="k"):
        pass_at_k(np.zeros((2, 4)), 5)
    with pytest.raises(ValueError, match="only 0 and 1"):
        pass_at_k(np.full((2, 4), 0.5), 2)
    with pytest.raises(ValueError, match="targets"):
        majority_at_k(np.zeros((2, 4), dtype=int), np.zeros(3, dtype=int), 2)
    with pytest.raises(ValueError, match="divide samples"):
        gtorch.evaluate_at_k(tiny(), TASK, TASK.held_out[:2], samples=4, ks=(3,))


def test_evaluate_at_k_properties_on_a_sampled_policy():
    # Two independent routes agree at k = 1 (pass@1 and maj@1 are both the accuracy of single
    # samples); pass@k cannot fall as k grows; the sampled accuracy matches `evaluate`'s own.
    policy = tiny()
    gtorch.warm_up(policy, TASK, steps=30, seed=0)
    problems = TASK.held_out[:20]
    out = gtorch.evaluate_at_k(policy, TASK, problems, samples=8, ks=(1, 2, 8), seed=3)
    assert out["pass@1"] == out["maj@1"]
    assert out["pass@1"] <= out["pass@2"] <= out["pass@8"]
    assert 0 < out["pass@8"]  # the warmed-up policy gets something right


# --- the ladder --------------------------------------------------------------------------------


def test_ladder_rungs_add_one_piece_at_a_time():
    assert list(RUNGS) == [
        "reinforce", "group_mean", "std_norm", "clip_updates", "grpo", "dapo", "dr_grpo"
    ]  # fmt: skip
    c = {name: ladder_config(name, steps=5, seed=1) for name in RUNGS}
    assert not c["reinforce"].baseline and c["group_mean"].baseline
    assert not c["group_mean"].scale_by_std and c["std_norm"].scale_by_std
    assert c["std_norm"].updates_per_batch == 1 and c["clip_updates"].updates_per_batch == 4
    assert c["clip_updates"].beta == 0.0 and c["grpo"].beta == 0.04
    assert (c["dapo"].loss_type, c["dapo"].clip_eps_high, c["dapo"].beta) == ("dapo", 0.28, 0.0)
    assert (c["dr_grpo"].loss_type, c["dr_grpo"].scale_by_std) == ("dr_grpo", False)
    # Same budget on every rung: the same questions and completions per step.
    assert {x.samples_per_step for x in c.values()} == {128}
    assert {x.steps for x in c.values()} == {5}
    with pytest.raises(ValueError, match="rung"):
        ladder_config("ppo")


def test_block_means_by_hand():
    assert block_means([1, 2, 3, 4, 5], 2) == [1.5, 3.5, 5.0]


def test_run_rung_reports_what_the_chapter_plots():
    out = run_rung(TASK, tiny(), ladder_config("dapo", steps=2, prompts_per_step=2, group_size=2))
    assert set(out) == {"held_out", "at_k", "cpu_seconds", "final", "curves", "sampled_groups"}
    assert set(out["at_k"]) == {"pass@1", "maj@1", "pass@4", "maj@4", "pass@16", "maj@16"}
    assert out["at_k"]["pass@16"] >= out["at_k"]["pass@1"]
    assert out["sampled_groups"] == 4  # 2 steps of 2 questions


def test_the_committed_sweep_names_its_command_and_versions():
    sweep = load_sweep()
    meta = sweep["meta"]
    assert meta["command"].startswith("python -m labs.grpo.sweep")
    assert {"python", "torch", "numpy"} <= set(meta["versions"])
    assert len(sweep["seeds"]) >= 3
    for seed in sweep["seeds"].values():
        assert set(seed["rungs"]) == set(RUNGS)
    with pytest.raises(ValueError, match="json"):
        load_sweep("/nonexistent.json")
    countdown = load_sweep(task="countdown")
    assert (
        countdown["meta"]["command"]
        == "python -m labs.grpo.sweep --task countdown --seeds 3 --steps 150"
    )
    assert len(countdown["seeds"]) == 3 and {"python", "torch"} <= set(
        countdown["meta"]["versions"]
    )


# --- which KL the k3 penalty's gradient follows ------------------------------------------------


def test_kl_gradients_match_autograd_and_k3_follows_the_forward_kl():
    from labs.grpo.kl_gradients import kl_gradients

    rng = np.random.default_rng(0)
    z, zr = rng.normal(size=6), rng.normal(size=6)
    got = kl_gradients(z, zr)
    # Independent route: torch autograd on the exact sums over the 6 outcomes.
    zt = torch.tensor(z, requires_grad=True)
    ref_logp = torch.log_softmax(torch.tensor(zr), 0)

    def grad(fn):
        zt.grad = None
        fn().backward()
        return zt.grad.numpy().copy()

    def held(values):  # sum_x pi(x) f(x) with pi(x) held fixed: the sampled-token expectation
        pi = torch.softmax(zt, 0).detach()
        return (pi * values).sum()

    logp = lambda: torch.log_softmax(zt, 0)  # noqa: E731
    k1 = lambda: logp() - ref_logp  # noqa: E731
    k3 = lambda: torch.expm1(ref_logp - logp()) - (ref_logp - logp())  # noqa: E731
    # In the reward: the REINFORCE surrogate log pi(x) * f(x), f computed once and held fixed
    want = {
        "k3_in_loss": grad(lambda: held(k3())),
        "k1_in_loss": grad(lambda: held(k1())),
        "k1_in_reward": grad(lambda: held(logp() * k1().detach())),
        "k3_in_reward": grad(lambda: held(logp() * k3().detach())),
        "reverse_kl": grad(lambda: (logp().exp() * (logp() - ref_logp)).sum()),
        "forward_kl": grad(lambda: (ref_logp.exp() * (ref_logp - logp())).sum()),
    }
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], atol=1e-12, err_msg=key)
    np.testing.assert_allclose(got["k3_in_loss"], got["forward_kl"], atol=1e-12)
    # ...and not the reverse KL whose value it estimates: they differ by far more than rounding.
    assert np.abs(got["k3_in_loss"] - got["reverse_kl"]).max() > 0.01
    with pytest.raises(ValueError, match="one shape"):
        kl_gradients(np.zeros(3), np.zeros(4))


def test_k1_in_the_reward_follows_the_kl_and_k3_in_the_reward_the_difference():
    from labs.grpo import torch as grpo_torch
    from labs.grpo.kl_gradients import kl_gradients

    # A pair away from the reference (KL 0.18 nats), where the two directions differ.
    rng = np.random.default_rng(5)
    z, zr = rng.normal(size=5), 1.5 * rng.normal(size=5)
    got = kl_gradients(z, zr)
    # The table's closed forms, from the two KL gradients
    np.testing.assert_allclose(got["k1_in_reward"], got["reverse_kl"], atol=1e-12)
    np.testing.assert_allclose(
        got["k3_in_reward"], got["reverse_kl"] - got["forward_kl"], atol=1e-12
    )
    # Monte Carlo as a training loop sees it: tokens drawn from pi, the penalty computed from a
    # detached copy and held fixed, autograd of mean(log pi(x) * f(x)).
    zt = torch.tensor(z, requires_grad=True)
    ref_logp = torch.log_softmax(torch.tensor(zr), 0)
    x = torch.multinomial(
        torch.softmax(torch.tensor(z), 0), 200_000, True, generator=torch.Generator().manual_seed(0)
    )
    mc = {}
    for name in ("k1", "k3"):
        zt.grad = None
        lp = torch.log_softmax(zt, 0)[x]
        old = lp.detach()
        f = old - ref_logp[x] if name == "k1" else grpo_torch.kl_k3(old, ref_logp[x])
        (lp * f).mean().backward()
        mc[name] = zt.grad.numpy().copy()
    # 200,000 draws: sampling error of order 1e-3 per entry; 0.01 is several standard errors
    np.testing.assert_allclose(mc["k1"], got["k1_in_reward"], atol=0.01)
    np.testing.assert_allclose(mc["k3"], got["k3_in_reward"], atol=0.01)
    # Negative control: k3 in the reward is not the gradient of KL(pi || pi_ref) here, by far more
    # than the sampling error, and it is not k3 in the loss either.
    assert np.abs(mc["k3"] - got["reverse_kl"]).max() > 0.1
    assert np.abs(mc["k3"] - got["k3_in_loss"]).max() > 0.1
    # Near the reference it vanishes to first order: ten times closer, about a hundred times
    # smaller (second order), while k1 in the reward shrinks only tenfold (first order).
    near = kl_gradients(zr + 0.1 * (z - zr), zr)
    nearer = kl_gradients(zr + 0.01 * (z - zr), zr)
    shrink = {
        k: np.linalg.norm(near[k]) / np.linalg.norm(nearer[k])
        for k in ("k1_in_reward", "k3_in_reward", "k3_in_loss")
    }
    assert 8 < shrink["k1_in_reward"] < 12 and 8 < shrink["k3_in_loss"] < 12
    assert 80 < shrink["k3_in_reward"] < 120


def test_kl_gradients_stay_finite_where_a_probability_underflows():
    from labs.grpo.kl_gradients import kl_gradients

    # Logits (0, 1000): pi = (e^-1000, 1) underflows to (0, 1); pi_ref = (0.5, 0.5). By hand,
    # E[d k3 / dz] = pi - pi_ref = (-0.5, 0.5), and d KL(pi || pi_ref) / dz = pi * (L - E_pi L)
    # = (0, 0). The ratio pi_ref / pi is inf at the first outcome: 0 * inf gave NaN before.
    got = kl_gradients(np.array([0.0, 1000.0]), np.zeros(2))
    np.testing.assert_allclose(got["k3_in_loss"], [-0.5, 0.5], atol=1e-15)
    np.testing.assert_allclose(got["reverse_kl"], [0.0, 0.0], atol=1e-15)
    # In the reward: k1 gives d KL(pi || pi_ref) / dz = (0, 0), k3 that minus pi - pi_ref
    np.testing.assert_allclose(got["k1_in_reward"], [0.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(got["k3_in_reward"], [0.5, -0.5], atol=1e-15)
    # ...and just inside float64's range (pi ~ e^-720 is a denormal, pi_ref / pi overflows).
    got = kl_gradients(np.array([0.0, -720.0]), np.zeros(2))
    np.testing.assert_allclose(got["k3_in_loss"], [0.5, -0.5], atol=1e-15)
    with pytest.raises(ValueError, match="logits must be at most 10000"):
        kl_gradients(np.array([-1e308, 1e308]), np.zeros(2))
    with pytest.raises(ValueError, match="ref_logits must be at most"):
        kl_gradients(np.zeros(2), np.array([0.0, 2e4]))


def test_the_sweep_rerun_repeats_the_sweep_with_the_same_settings():
    # a second realization: the same seeds and settings; its runs differ from the first file's
    sweep, rerun = load_sweep(), load_sweep(task="rerun")
    assert sorted(rerun["seeds"]) == sorted(sweep["seeds"])
    for key in ("task", "warm_up_steps", "steps", "base"):
        assert rerun["meta"][key] == sweep["meta"][key], key
    # each rung's settings over the base (the first file's DAPO rung left clip_eps to the base,
    # 0.2, which the ladder now states explicitly)
    base = sweep["meta"]["base"]
    for rung, settings in rerun["meta"]["rungs"].items():
        assert {**base, **settings} == {**base, **sweep["meta"]["rungs"][rung]}, rung
    assert rerun["meta"]["command"].startswith("python -m labs.grpo.sweep --seeds 5")
    assert set(rerun["seeds"]["0"]) == set(sweep["seeds"]["0"])
    # the starting scores of seeds 0 and 1 agree to every digit, those of seeds 2-4 do not
    same = [
        rerun["seeds"][s]["before"]["held_out"] == sweep["seeds"][s]["before"]["held_out"]
        for s in sorted(sweep["seeds"])
    ]
    assert same == [True, True, False, False, False]
    ppo = [rerun["seeds"][s]["ppo"]["final"]["kl"] for s in rerun["seeds"]]
    assert ppo != [sweep["seeds"][s]["ppo"]["final"]["kl"] for s in rerun["seeds"]]


def test_the_countdown_rerun_repeats_the_countdown_sweep_with_three_more_seeds():
    # a second realization: the same task, settings and rungs; seeds 0-2 again plus 3-5; the same
    # warm-ups on seeds 0-2 (their starting scores agree), RL runs that part
    first, again = load_sweep(task="countdown"), load_sweep(task="countdown_rerun")
    assert sorted(again["seeds"], key=int) == ["0", "1", "2", "3", "4", "5"]
    for key in ("task", "warm_up_steps", "steps", "base", "rungs"):
        assert again["meta"][key] == first["meta"][key], key
    assert again["meta"]["command"].startswith("python -m labs.grpo.sweep --task countdown")
    assert again["meta"]["processor"].startswith("AMD EPYC")
    for s in first["seeds"]:
        assert again["seeds"][s]["before"] == first["seeds"][s]["before"]
        assert set(again["seeds"][s]) == set(first["seeds"][s])
    kl = [again["seeds"][s]["rungs"]["grpo"]["final"]["kl"] for s in first["seeds"]]
    assert kl != [first["seeds"][s]["rungs"]["grpo"]["final"]["kl"] for s in first["seeds"]]
