"""Model-state memory of an RL step from parameter counts, worked by hand."""

import pytest

from labs.common import fact
from labs.grpo import rl_memory_bytes, rl_step_memory


def test_bytes_per_parameter_come_from_zero():
    # ZeRO §3.1: 2 (fp16 weights) + 2 (fp16 gradients) + 4 + 4 + 4 (fp32 master, momentum,
    # variance) = 16 bytes per trained parameter.
    assert fact("grpo_mixed_adam_bytes_per_param").value == 2 + 2 + 4 + 4 + 4
    assert fact("grpo_bf16_bytes_per_param").value == 2


def test_grpo_and_ppo_memory_hand_worked():
    n = 7e9
    grpo = rl_memory_bytes(n)
    assert grpo["policy"] == 16 * n and grpo["reference"] == 2 * n
    assert grpo["critic"] == 0 and grpo["total"] == 18 * n  # 126 GB for a 7B policy
    ppo = rl_memory_bytes(n, critic_params=n)
    assert ppo["total"] == 34 * n
    assert ppo["total"] / grpo["total"] == pytest.approx(34 / 18)
    rlhf = rl_memory_bytes(n, critic_params=n, reward_model_params=n)
    assert rlhf["total"] == 36 * n
    custom = rl_memory_bytes(10, trained_bytes=4, frozen_bytes=4)
    assert custom["total"] == 80
    # beta = 0: no reference. GRPO 16 n, PPO 16 n + 16 n: the ratio is exactly 2.
    no_ref = rl_memory_bytes(n, reference=False)
    assert no_ref["reference"] == 0 and no_ref["total"] == 16 * n
    assert rl_memory_bytes(n, critic_params=n, reference=False)["total"] == 32 * n
    # A learned reward model of the policy's size in both: (16 + 16 + 2 + 2) / (16 + 2 + 2).
    assert rl_memory_bytes(n, critic_params=n, reward_model_params=n)["total"] / rl_memory_bytes(
        n, reward_model_params=n
    )["total"] == pytest.approx(36 / 20)
    with pytest.raises(TypeError, match="reference"):
        rl_memory_bytes(n, reference="no")


@pytest.mark.parametrize(
    "args, kwargs, exc, fragment",
    [
        ((0,), {}, ValueError, "policy_params must be > 0"),
        (("7B",), {}, TypeError, "policy_params must be a real number"),
        ((1e9,), {"critic_params": -1}, ValueError, "critic_params must be >= 0"),
        ((1e9,), {"trained_bytes": 0}, ValueError, "trained_bytes must be > 0"),
        ((1e9,), {"frozen_bytes": float("nan")}, ValueError, "frozen_bytes must be finite"),
    ],
)
def test_rl_memory_bad_input(args, kwargs, exc, fragment):
    with pytest.raises(exc, match=fragment):
        rl_memory_bytes(*args, **kwargs)


# A tiny transformer worked by hand: L = 2 layers, h = 8, a = 2 heads (head dim 4), s = 4 tokens.
SHAPE = {"n_layers": 2, "d_model": 8, "n_heads": 2, "seq_len": 4}


def test_step_memory_hand_worked():
    out = rl_step_memory(100, **SHAPE, train_batch=3, rollout_batch=5)
    # Model state: GRPO with a reference, 16 * 100 + 2 * 100 bytes.
    assert out["model state"] == 1_800
    # Activations per layer: s*b*h = 4 * 3 * 8 = 96; 5*a*s/h = 5 * 2 * 4 / 8 = 5;
    # 96 * (34 + 5) = 3,744 bytes per layer, two layers: 7,488.
    assert out["activations"] == 7_488
    # KV cache: K and V (2) x 2 layers x 2 KV heads x head dim 4 x 4 tokens x 5 sequences x 2 bytes.
    assert out["kv cache"] == 2 * 2 * 2 * 4 * 4 * 5 * 2 == 1_280
    # Gradients: 2 bytes (16-bit) per trained parameter, 200 bytes, part of the model state.
    assert out["gradients"] == 2 * 100 == 200
    # Training phase 1,800 + 7,488 = 9,288; generation (no gradients) 1,600 + 1,280 = 2,880.
    assert out["peak"] == 1_800 + 7_488  # the training pass is the larger phase here
    assert out["sum"] == 1_800 + 7_488 + 1_280


def test_step_memory_critic_checkpointing_and_gqa_hand_worked():
    ppo = rl_step_memory(100, **SHAPE, train_batch=3, rollout_batch=5, critic=True)
    assert ppo["model state"] == 3_400  # 16 * 100 twice + 2 * 100
    assert ppo["activations"] == 2 * 7_488  # the critic's training pass
    assert ppo["kv cache"] == 1_280  # only the policy generates
    assert ppo["gradients"] == 2 * 2 * 100  # the policy's and the critic's, 16-bit
    # Checkpointing: each layer's 16-bit input, 2 * 96 bytes, two layers, plus one layer (3,744).
    ckpt = rl_step_memory(100, **SHAPE, train_batch=3, rollout_batch=5, checkpointing=True)
    assert ckpt["activations"] == 2 * 2 * 96 + 3_744 == 4_128
    # One KV head shared by both query heads halves the cache; a large rollout makes it the peak.
    gqa = rl_step_memory(100, **SHAPE, train_batch=3, rollout_batch=50, n_kv_heads=1)
    assert gqa["kv cache"] == 2 * 2 * 1 * 4 * 4 * 50 * 2 == 6_400
    big = rl_step_memory(100, **SHAPE, train_batch=1, rollout_batch=50)
    assert big["activations"] == 7_488 / 3 and big["kv cache"] == 12_800
    # Generation is the larger phase: the state without the 200 bytes of gradients, plus the cache
    # (training: 1,800 + 2,496 = 4,296).
    assert big["peak"] == 1_800 - 200 + 12_800 == 14_400
    # Gradients kept through generation (zeroed in place, not freed): the state as a whole.
    held = rl_step_memory(100, **SHAPE, train_batch=1, rollout_batch=50,
                          grads_during_generation=True)  # fmt: skip
    assert held["peak"] == 1_800 + 12_800 and held["gradients"] == 200
    assert held["sum"] == big["sum"] == 1_800 + 2_496 + 12_800  # "sum" keeps everything
    # PPO: the state 3,400 without both models' gradients (400), plus the cache.
    ppo_big = rl_step_memory(100, **SHAPE, train_batch=1, rollout_batch=50, critic=True)
    assert ppo_big["peak"] == 3_400 - 400 + 12_800
    # No reference (beta = 0) and a learned reward model: 16 * 100 + 2 * 100 (reward model).
    rm = rl_step_memory(100, **SHAPE, train_batch=3, rollout_batch=5, reference=False,
                        reward_model_params=100)  # fmt: skip
    assert rm["model state"] == 1_800


def test_step_memory_without_attention_scores_hand_worked():
    # A fused attention kernel keeps no score matrix: 96 * 34 = 3,264 bytes per layer, two layers.
    out = rl_step_memory(100, **SHAPE, train_batch=3, rollout_batch=5, attention_scores=False)
    assert out["activations"] == 2 * 96 * 34 == 6_528
    assert out["kv cache"] == 1_280 and out["model state"] == 1_800  # nothing else moves
    ckpt = rl_step_memory(
        100, **SHAPE, train_batch=3, rollout_batch=5, checkpointing=True, attention_scores=False
    )
    assert ckpt["activations"] == 2 * 2 * 96 + 3_264
    with pytest.raises(TypeError, match="attention_scores must be True or False"):
        rl_step_memory(100, **SHAPE, train_batch=3, rollout_batch=5, attention_scores="no")


def test_step_memory_ratio_moves_toward_one_with_the_kv_cache():
    # PPO / GRPO: max(3,400 + 2A, 3,000 + K) / max(1,800 + A, 1,600 + K), gradients (400 and
    # 200 bytes) freed while generating; once K dominates both peaks carry the same K and the
    # ratio falls toward 1 as K grows.
    ratios = []
    for rollout in (1, 100, 1_000, 10_000):
        grpo = rl_step_memory(100, **SHAPE, train_batch=1, rollout_batch=rollout)["peak"]
        ppo = rl_step_memory(100, **SHAPE, train_batch=1, rollout_batch=rollout, critic=True)
        ratios.append(ppo["peak"] / grpo)
    # rollout 1: K = 256, A = 2,496: (3,400 + 4,992) / (1,800 + 2,496).
    assert ratios[0] == pytest.approx(8_392 / 4_296)
    # rollout 10,000: K = 2,560,000: (3,000 + K) / (1,600 + K).
    assert ratios[-1] == pytest.approx(2_563_000 / 2_561_600)
    assert ratios == sorted(ratios, reverse=True) and ratios[-1] < 1.001


@pytest.mark.parametrize(
    "kwargs, exc, fragment",
    [
        ({"n_heads": 3}, ValueError, "d_model"),
        ({"n_kv_heads": 3}, ValueError, "n_kv_heads must be <= 2"),
        ({"seq_len": 0}, ValueError, "seq_len must be >= 1"),
        ({"train_batch": 2.0}, TypeError, "train_batch must be an int"),
        ({"critic": 1}, TypeError, "critic must be True or False"),
        ({"kv_bytes": 16}, ValueError, "kv_bytes must be <= 8"),
        ({"grads_during_generation": "no"}, TypeError, "grads_during_generation must be True"),
    ],
)
def test_step_memory_bad_input(kwargs, exc, fragment):
    args = {**SHAPE, "train_batch": 1, "rollout_batch": 1, **kwargs}
    with pytest.raises(exc, match=fragment):
        rl_step_memory(100, **args)


def test_step_memory_at_deepseekmath_7b_hand_worked():
    # 30 layers, h = 4,096, a = 32, s = 1,024: 5*a*s/h = 5 * 32 * 1,024 / 4,096 = 40, so one
    # sequence keeps 1,024 * 4,096 * (34 + 40) = 310,378,496 bytes per layer, 9,311,354,880 in all.
    shape = {"n_layers": 30, "d_model": 4096, "n_heads": 32, "seq_len": 1024}
    out = rl_step_memory(7e9, **shape, train_batch=1, rollout_batch=1)
    assert out["activations"] == 9_311_354_880
    # KV cache: 2 x 30 layers x 4,096 x 1,024 tokens x 2 bytes = 503,316,480 bytes a sequence.
    assert out["kv cache"] == 503_316_480
    # All 1,024 rollouts at once: the cache (515 GB) outweighs the training pass. While generating
    # GRPO holds 126 GB of state less 14 GB of gradients (2 bytes x 7B), PPO 238 GB less 28 GB, so
    # PPO / GRPO is (210 GB + 515.4 GB) / (112 GB + 515.4 GB).
    kv = 1024 * 503_316_480
    grpo = rl_step_memory(7e9, **shape, train_batch=1, rollout_batch=1024)["peak"]
    ppo = rl_step_memory(7e9, **shape, train_batch=1, rollout_batch=1024, critic=True)["peak"]
    assert grpo == 112e9 + kv and ppo == 210e9 + kv
    assert ppo / grpo == pytest.approx(725.396 / 627.396, abs=1e-5)  # 515.396 GB of cache
    # With the gradients kept through generation: (238 + 515.4) / (126 + 515.4).
    held = {"train_batch": 1, "rollout_batch": 1024, "grads_during_generation": True}
    grpo_held = rl_step_memory(7e9, **shape, **held)["peak"]
    ppo_held = rl_step_memory(7e9, **shape, **held, critic=True)["peak"]
    assert grpo_held == 126e9 + kv and ppo_held == 238e9 + kv
    assert ppo_held / grpo_held == pytest.approx(753.396 / 641.396, abs=1e-5)
