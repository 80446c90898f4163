"""A committed PPO run repeats under the package's CPU pin: the first 10 steps of chapter 5's PPO
with its KL penalty in the loss (seed 3 of `ppo_kl_loss.json`, made on an AVX2 processor).

PPO's critic and policy multiply through MKL, which picks its kernels by the processor's
instruction set as PyTorch's own do. The pin (`labs.common.cpu_arithmetic`) caps MKL at AVX2 with
`MKL_ENABLE_INSTRUCTIONS`; its first version used MKL's reproducibility mode, `MKL_CBWR=AVX2`,
under which this run left its record in the first 10-step block (its KL curve) on an AVX-512
processor, while the retraining tests then in the suite, which MKL does not decide, passed. The
rerun's curves are compared with the record's first block (the record averages every 10 steps; the
learning rate is constant, so a 10-step run is the 150-step run's start). The first block is where
the wrong pin showed; 30 steps, three blocks, took 26 s on a slow 2-core processor.
"""

import pytest
import torch

from labs.common.cpu_arithmetic import record_arithmetic
from labs.common.tasks import AdditionTask
from labs.grpo.exact_kl import exact_ppo_run
from labs.grpo.kl_placement import _start
from labs.grpo.records import load_sweep

RECORD = load_sweep(task="ppo_kl_loss")
SEED, ARM, STEPS = 3, "lr x1 critic 0.001 kl in loss", 10


@pytest.mark.skipif(
    not record_arithmetic(RECORD["meta"]["processor"]),
    reason="needs the records' arithmetic: PyTorch's AVX2 kernels, MKL's AVX2 path and the "
    f"vendor of {RECORD['meta']['processor']} (MKL picks kernels by vendor too)",
)
def test_ten_steps_of_a_committed_ppo_run_repeat_bit_for_bit():
    torch.set_num_threads(1)
    task = AdditionTask()
    start, _ = _start(task, SEED)
    run = exact_ppo_run(task, start, SEED, "loss", steps=STEPS)
    old = RECORD["seeds"][str(SEED)]["ppo"][ARM]["curves"]
    assert set(run["curves"]) == {"kl", "reward", "length"}
    for name, curve in run["curves"].items():
        assert len(curve) == STEPS // 10
        assert curve == old[name][: len(curve)], name
