"""Model-state memory of an RL step from parameter counts, worked by hand."""

import pytest

from labs.common import fact
from labs.grpo import rl_memory_bytes


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
