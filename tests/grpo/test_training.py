"""The tiny policy, sampler, GAE and the GRPO / PPO loops (short runs)."""

import copy

import numpy as np
import pytest
import torch

from labs.common.tasks import AdditionTask
from labs.grpo import GRPOConfig, PPOConfig, training
from labs.grpo import torch as gtorch
from labs.grpo.ppo import gae

TASK = AdditionTask()


def tiny(seed=0):
    return gtorch.new_policy(TASK, seed=seed, d_model=32, n_layers=1, n_heads=2)


def test_policy_shapes_and_causality():
    policy = tiny()
    ids = torch.as_tensor(TASK.prompts(TASK.train[:3]))
    logits = policy(ids)
    assert logits.shape == (3, 7, TASK.vocab_size)
    changed = ids.clone()
    changed[:, -1] = 3
    # causal: changing the last token leaves earlier positions unchanged
    torch.testing.assert_close(policy(changed)[:, :-1], logits[:, :-1])
    with pytest.raises(ValueError, match="ids must have shape"):
        policy(torch.zeros(2, 11, dtype=torch.long))
    with pytest.raises(ValueError, match="multiple of n_heads"):
        gtorch.TinyPolicy(15, d_model=30, n_heads=4)


def test_value_model_has_one_output_per_position():
    critic = gtorch.ValueModel(TASK.vocab_size, max_len=10, d_model=32, n_layers=1, n_heads=2)
    assert critic(torch.zeros(4, 6, dtype=torch.long)).shape == (4, 6)


def test_sample_masks_after_eos_and_logprobs_sum_to_sequence_probability():
    policy = tiny()
    prompts = torch.as_tensor(TASK.prompts(TASK.train[:64]))
    gen = torch.Generator().manual_seed(0)
    tok = TASK.tokenizer
    comp, mask = gtorch.sample(
        policy, prompts, 3, eos_id=tok.eos_id, pad_id=tok.pad_id, generator=gen
    )
    assert comp.shape == mask.shape == (64, 3)
    for row, m in zip(comp.tolist(), mask.tolist(), strict=True):
        if tok.eos_id in row:
            first = row.index(tok.eos_id)
            assert m == [True] * (first + 1) + [False] * (2 - first)
            assert all(t == tok.pad_id for t in row[first + 1 :])
        else:
            assert all(m)
    # log-probs from one teacher-forced pass equal the step-by-step softmax of the sampler
    logp = gtorch.completion_logprobs(policy, prompts[:2], comp[:2])
    ids = prompts[:2]
    for t in range(3):
        step = torch.log_softmax(policy(ids)[:, -1], -1).gather(1, comp[:2, t : t + 1])[:, 0]
        torch.testing.assert_close(logp[:, t], step, rtol=1e-5, atol=1e-5)
        ids = torch.cat([ids, comp[:2, t : t + 1]], 1)


def test_gae_hand_worked():
    # Two tokens, reward 1 at the end, values (0.2, 0.5), gamma = 1:
    # delta_1 = 1 - 0.5 = 0.5; delta_0 = 0 + 0.5 - 0.2 = 0.3.
    # lambda = 1: A_1 = 0.5, A_0 = 0.3 + 0.5 = 0.8 = 1 - V_0 (Monte Carlo).
    rewards = torch.tensor([[0.0, 1.0, 0.0]])
    values = torch.tensor([[0.2, 0.5, 9.0]])  # the masked third value must be ignored
    mask = torch.tensor([[True, True, False]])
    adv, ret = gae(rewards, values, mask, 1.0, 1.0)
    torch.testing.assert_close(adv, torch.tensor([[0.8, 0.5, 0.0]]))
    torch.testing.assert_close(ret, torch.tensor([[1.0, 1.0, 0.0]]))
    # lambda = 0: one-step TD errors
    adv, _ = gae(rewards, values, mask, 1.0, 0.0)
    torch.testing.assert_close(adv, torch.tensor([[0.3, 0.5, 0.0]]))


def test_grpo_run_logs_and_is_deterministic():
    config = GRPOConfig(steps=3, prompts_per_step=4, group_size=4)
    _, log1 = gtorch.train_grpo(TASK, tiny(), config)
    _, log2 = gtorch.train_grpo(TASK, tiny(), config)
    assert log1.history == log2.history  # seeded: same numbers twice
    for key in ("reward", "accuracy", "kl", "zero_adv_fraction", "clip_fraction", "loss"):
        assert len(log1.history[key]) == 3 and np.all(np.isfinite(log1.history[key]))
    assert log1.history["kl"][0] == pytest.approx(0.0, abs=1e-7)  # starts at the reference
    assert log1.memory["activations"] > 0 and log1.memory["gradients"] > 0


def test_ppo_carries_a_critic_grpo_does_not():
    start = tiny()
    grpo_cfg = GRPOConfig(steps=2, prompts_per_step=2, group_size=4)
    ppo_cfg = PPOConfig(steps=2, prompts_per_step=2, group_size=4)
    _, g = gtorch.train_grpo(TASK, copy.deepcopy(start), grpo_cfg)
    _, critic, p = gtorch.train_ppo(TASK, copy.deepcopy(start), ppo_cfg)
    n_policy = gtorch.num_parameters(start)
    n_critic = gtorch.num_parameters(critic)
    # float32 weights: 4 bytes each; Adam keeps two moments per weight
    assert g.memory["trained weights"] == 4 * n_policy
    assert g.memory["optimiser state"] == 2 * 4 * n_policy
    assert p.memory["trained weights"] == 4 * (n_policy + n_critic)
    assert p.memory["optimiser state"] == 2 * 4 * (n_policy + n_critic)
    assert p.memory["frozen weights"] == g.memory["frozen weights"] == 4 * n_policy
    assert len(p.history["value_loss"]) == 2


def test_training_bad_input():
    with pytest.raises(TypeError, match="task must be an AdditionTask"):
        gtorch.train_grpo("task")
    with pytest.raises(TypeError, match="config must be a GRPOConfig"):
        gtorch.train_grpo(TASK, tiny(), PPOConfig())
    with pytest.raises(TypeError, match="config must be a PPOConfig"):
        gtorch.train_ppo(TASK, tiny(), GRPOConfig())
    with pytest.raises(ValueError, match="group_size must be >= 2"):
        GRPOConfig(group_size=1)
    with pytest.raises(ValueError, match="reward must be one of"):
        GRPOConfig(reward="vibes")
    with pytest.raises(ValueError, match=r"gae_lambda must be in \[0, 1\]"):
        PPOConfig(gae_lambda=1.5)


def test_format_only_reward_ignores_correctness():
    # One problem, three completions: right, wrong but well formed, malformed. The task's reward
    # gives 1 + 0.1, 0 + 0.1 and 0; the format-only reward gives 1, 1 and 0, whatever the sum.
    problem, tok = TASK.held_out[0], TASK.tokenizer
    rows = [
        tok.encode(str(problem.answer), eos=True),
        tok.encode(str(problem.answer + 1), eos=True),
        tok.encode("0" + str(problem.answer)),  # a leading zero and no <eos>
    ]
    width = TASK.max_answer_tokens
    comp = torch.tensor([r + [tok.pad_id] * (width - len(r)) for r in rows])
    problems = [problem] * 3
    hacked, _ = training._rewards(TASK, problems, comp, GRPOConfig(reward="format_only"))
    honest, accuracy = training._rewards(TASK, problems, comp, GRPOConfig())
    torch.testing.assert_close(hacked, torch.tensor([1.0, 1.0, 0.0]))
    torch.testing.assert_close(honest, torch.tensor([1.1, 0.1, 0.0]))
    assert accuracy == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda p: gtorch.warm_up(p, TASK, steps=0), ValueError, "steps must be >= 1"),
        (lambda p: gtorch.warm_up(p, TASK, lr=0.0), ValueError, "lr must be > 0"),
        (lambda p: gtorch.warm_up("p", TASK), TypeError, "policy must be a TinyPolicy"),
        (lambda p: gtorch.evaluate(p, TASK, [], samples=2), ValueError, "at least one Problem"),
        (lambda p: gtorch.evaluate(p, TASK, TASK.train, samples=0), ValueError, "samples"),
        (lambda p: p(torch.zeros(2, 3)), TypeError, "int64 token ids"),
        (lambda p: p(torch.zeros(3, dtype=torch.long)), ValueError, r"shape \(B, T\)"),
        (
            lambda p: gtorch.sample(p, torch.zeros(2, 3, dtype=torch.long), 0, eos_id=2, pad_id=0),
            ValueError,
            "max_new_tokens must be >= 1",
        ),
        (
            lambda p: gtorch.sample(
                p, torch.zeros(2, 3, dtype=torch.long), 2, eos_id=2, pad_id=0, temperature=0.0
            ),
            ValueError,
            "temperature must be > 0",
        ),
        (
            lambda p: gtorch.completion_logprobs(
                p, torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long)
            ),
            ValueError,
            "completions must have 2 rows",
        ),
        (lambda p: gtorch.greedy(p, [[1, 2]], 2), TypeError, "prompts must be a torch.Tensor"),
        (lambda p: gtorch.num_parameters("p"), TypeError, "module must be a torch.nn.Module"),
        (lambda p: gtorch.new_policy(TASK, seed=-1), ValueError, "seed must be >= 0"),
    ],
)
def test_policy_and_loop_bad_input(call, exc, fragment):
    with pytest.raises(exc, match=fragment):
        call(tiny())


def test_gae_bad_input():
    ok = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="values must have the shape"):
        gae(ok, torch.zeros(2, 4), ok.bool(), 1.0, 0.95)
    with pytest.raises(ValueError, match=r"lam must be in \[0, 1\]"):
        gae(ok, ok, ok.bool(), 1.0, 2.0)
    with pytest.raises(TypeError, match="mask must be a torch.Tensor"):
        gae(ok, ok, [[1]], 1.0, 0.5)


def test_rollouts_build_no_autograd_graph():
    """Every sampler the loops call runs without autograd: the logits of each decoding step have
    no grad_fn (with grad enabled they would, and the step's saved activations would stay alive
    for the whole rollout; that once made GRPO's measured peak land in its sampling phase)."""
    from labs.distill import sequence
    from labs.grpo import evaluation, ppo

    policy = tiny()
    prompts = torch.as_tensor(TASK.prompts(TASK.train[:8]))
    tok = TASK.tokenizer
    seen = []
    handle = policy.head.register_forward_hook(
        lambda _m, _i, out: seen.append((torch.is_grad_enabled(), out.grad_fn))
    )
    try:
        for sampler in (training._sample, ppo._sample, sequence._sample):
            gen = torch.Generator().manual_seed(0)
            comp, mask = sampler(policy, prompts, 3, tok.eos_id, tok.pad_id, gen, 1.0)
            assert comp.grad_fn is None and mask.grad_fn is None
        for greedy in (evaluation._greedy, sequence._greedy):
            greedy(policy, prompts, 3)
        assert len(seen) == 5 * 3  # one head call per decoding step
        assert all(not enabled and fn is None for enabled, fn in seen)
        # the hook itself can see a graph: the scoring pass builds one
        training._completion_logprobs(policy, prompts, comp)
        assert seen[-1][0] and seen[-1][1] is not None
    finally:
        handle.remove()


def test_at_least_sum_reward_passes_the_sum_and_everything_above():
    # The sum, one more, one less, and a malformed answer: the proxy (>= where == was meant)
    # gives 1 + 0.1 to the first two, 0.1 to the third (well formed, too small) and 0 to the last.
    problem, tok = TASK.held_out[0], TASK.tokenizer
    assert problem.answer >= 1
    rows = [
        tok.encode(str(problem.answer), eos=True),
        tok.encode(str(problem.answer + 1), eos=True),
        tok.encode(str(problem.answer - 1), eos=True),
        tok.encode("0" + str(problem.answer)),
    ]
    width = TASK.max_answer_tokens
    comp = torch.tensor([r + [tok.pad_id] * (width - len(r)) for r in rows])
    proxy, accuracy = training._rewards(
        TASK, [problem] * 4, comp, GRPOConfig(reward="at_least_sum")
    )
    torch.testing.assert_close(proxy, torch.tensor([1.1, 1.1, 0.1, 0.0]))
    assert accuracy == pytest.approx(1 / 4)  # the accuracy logged is still the true one
    from labs.grpo.countdown import CountdownTask

    cd = CountdownTask()
    with pytest.raises(ValueError, match="addition problems only"):
        training._rewards(
            cd, cd.train[:1], torch.tensor([[tok.eos_id] * 1]), GRPOConfig(reward="at_least_sum")
        )
