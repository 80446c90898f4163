"""Chapter 6's test of one candidate cause of the synchronized loss spikes of R1's filtering.

In the dense record (`labs.distill.dense`, data/dense_correct.json) the three deepest late dips,
seeds 3, 6 and 11, each follow the three largest training-loss spikes of the 12 runs (131x, 41x
and 159x the seed's recent level), all between steps 1513 and 1539. The candidate: Adam's running
estimate of each gradient's square forgets over about 1/(1 - beta2) = 1,000 steps. While the loss
sits near zero the estimate shrinks, so the next large gradient takes an outsized step. This
script re-runs the three seeds with the dense run's code twice: with beta2 = 0.999 (the control)
and with beta2 = 0.99 (a memory of about 100 steps), all else unchanged.

The rules were committed before the run (commit "pre-register the beta2 test"):
  * Spike size: as in the chapter, each 16-step stretch's largest training loss over the seed's
    median over the 10 stretches before; a seed's spike is its largest ratio over the run.
  * The control (beta2 = 0.999) must repeat data/dense_correct.json exactly: the same accuracy at
    all 151 evaluations and the same stretch records. If it does not, nothing below is read and
    the chapter says why.
  * beta2 = 0.99: the largest spike under 16x in all three seeds -> "consistent with Adam's
    second-moment memory"; a spike of 16x or more within 100 steps of 1513-1539 in all three ->
    "not beta2"; anything else -> "mixed", reported seed by seed.
  * The other candidate (a constant rate of 3e-3, so Adam's normalised step stays large as the
    loss falls): from the control's new update-norm record. If the largest update of each spike's
    stretch comes before the spike's step and is over 3x the seed's median largest update over
    the 10 stretches before, an outsized step precedes the spike; if it comes at or after the
    spike's step, the large step answers the spike and does not cause it. This reading decides no
    verdict; it is printed.

    python -m labs.distill.adam_memory     # writes data/adam_memory.json (about 5 CPU minutes)

The record keeps, per beta2 and seed, the accuracy curve, the FLOPs and the stretch records of
`run_dense` (not the marks).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from labs.common.runtime import processor_name, provenance
from labs.common.tasks import AdditionTask
from labs.distill.dense import DENSE, run_dense
from labs.distill.teacher import load_teacher

__all__: list[str] = []

DEFAULT_RESULTS = Path(__file__).resolve().parent / "data" / "adam_memory.json"
SEEDS = (3, 6, 11)
BETA2 = ("0.999", "0.99")  # the control first
RULES = {"spike_ratio": 16, "near_steps": [1513 - 100, 1539 + 100], "update_ratio": 3}


def _main(argv: list[str]) -> None:
    if argv:
        raise SystemExit("python -m labs.distill.adam_memory takes no arguments")
    torch.set_num_threads(1)
    task = AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)
    teacher, _ = load_teacher()
    results = {"meta": {**DENSE, "torch_threads": 1, "seeds": list(SEEDS), "rules": RULES,
                        "runs": [{**provenance("labs.distill.adam_memory", argv),
                                  "processor": processor_name()}]},
               "beta2": {}}  # fmt: skip
    for beta2 in BETA2:
        for seed in SEEDS:
            begin = time.time()
            rec = run_dense(task, teacher, seed, steps=DENSE["steps"],
                            eval_every=DENSE["eval_every"], beta2=float(beta2))  # fmt: skip
            rec.pop("marks")
            results["beta2"].setdefault(beta2, {})[str(seed)] = rec
            DEFAULT_RESULTS.write_text(json.dumps(results) + "\n")
            print(f"beta2 {beta2} seed {seed}: {rec['cpu_seconds']:.0f} CPU s, "
                  f"{time.time() - begin:.0f} s", flush=True)  # fmt: skip
    print(f"wrote {DEFAULT_RESULTS}")


if __name__ == "__main__":
    _main(sys.argv[1:])
