"""Chapter 4's live ablation run, where PyTorch's CPU kernels round otherwise.

The chapter re-runs the coarse MoE of the committed ablation on seed 0. Under the records' AVX2
kernels it must equal seed 0's committed loss; elsewhere (an ARM processor, PyTorch's generic
kernels) the chapter asks only that it lie inside the committed seeds' range, with a tenth of
that range spare. This test runs it with the generic kernels in a fresh interpreter (the choice
is made when PyTorch loads) and checks both halves: the arithmetic did change (the loss differs
from the record: the control that the switch took effect) and the chapter's rule still holds.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from labs.common.cpu_arithmetic import OPT_OUT, PIN
from labs.moe import granularity

ROOT = Path(__file__).resolve().parents[2]
RUN = (
    "import json, labs, torch\n"
    "from labs.moe import granularity\n"
    "torch.set_num_threads(1)\n"
    "loss = granularity.run_ablation('coarse', seed=0)['held_out']\n"
    "print(json.dumps([torch.backends.cpu.get_cpu_capability(), loss]))\n"
)


def test_the_live_coarse_run_keeps_the_chapters_rule_under_generic_kernels():
    env = {k: v for k, v in os.environ.items() if k not in PIN and k != OPT_OUT}
    env.update(ATEN_CPU_CAPABILITY="default", LABS_CPU_ISA="native", PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(
        [sys.executable, "-c", RUN], env=env, capture_output=True, text=True, timeout=600,
        check=True,
    )  # fmt: skip
    kernels, live = json.loads(done.stdout.splitlines()[-1])
    kept = np.array(granularity.load_ablation()["held_out"]["coarse"])
    assert kernels == "DEFAULT"
    # the control: other rounding, another run (measured: 2.4835 against seed 0's 2.4797)
    assert abs(live - kept[0]) > 1e-4, (live, kept[0])
    # the drift the chapter takes as the resolution of one paired difference, about 0.004 nats
    # (measured here: 0.0038); within a factor of 2, as another processor's rounding may differ
    drift = abs(live - kept[0])
    assert granularity.ROUNDING_DRIFT / 2 < drift < 2 * granularity.ROUNDING_DRIFT, drift
    slack = 0.1 * np.ptp(kept)
    assert kept.min() - slack <= live <= kept.max() + slack, (live, kept)
