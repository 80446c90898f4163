"""Chapter 6's test of the second candidate cause of the synchronized loss spikes: the rate.

In the dense record (`labs.distill.dense`, data/dense_correct.json) seeds 3, 6 and 11 spike to
131, 41 and 159 times their recent training loss between steps 1513 and 1539, and fall under the
90% line just after. The beta2 test (`labs.distill.adam_memory`) came out mixed: a shorter memory
moved the spikes 623 to 763 steps later but kept them. Read after that run: the three seeds' loss
falls under 0.01 from steps 1344 to 1392 while Adam keeps its constant rate of 3e-3. Adam divides
each gradient by its recent size, so its steps do not shrink as the loss does. The candidate: the
spikes need that full-size step at near-zero loss.

The test: seeds 3, 6 and 11 run again with the dense run's code, beta2 = 0.999 and all else the
same, except that every step after step 1200 runs at a tenth of the rate (3e-4). Why this schedule:
  * A fixed step, the same for every seed, leaves the first 1200 steps identical to the control, so
    the record checks the hook; a drop set off by the loss would hang on a noisy threshold.
  * Step 1200 comes before any of the three seeds' loss is under 0.01 (from step 1344) and before
    their spikes (from step 1513).
  * A tenfold drop shrinks each Adam step tenfold at the spikes' time. A cosine from step 1200 to
    the end would still run at 84% of the rate at step 1513: spikes that survived it would say
    little.
The control is the beta2 = 0.999 arm of data/adam_memory.json, which repeats the dense record
exactly; it is not run again.

The rules were committed before the run (commit "pre-register the learning-rate test"):
  * Spike size: as in the chapter, each 16-step stretch's largest training loss over the seed's
    median over the 10 stretches before. A seed's spike here is its largest ratio among the
    stretches after step 1200 (the 75 stretches the drop can change).
  * The run must repeat the control exactly up to step 1200: the same accuracy at the first 76
    evaluations and the same first 75 stretch records. If it does not, nothing below is read and
    the chapter says why.
  * Every seed's spike under 16x -> "consistent with the constant rate": with a smaller rate at
    near-zero loss the spikes do not come (this does not say why they came together). Every
    seed's spike 16x or more -> "not the constant rate": the spikes come without it. Anything else
    -> "mixed", reported seed by seed.
  * Printed, deciding nothing: each seed's evaluations under the line after step 1200, and where
    its loss falls under 0.01.

    python -m labs.distill.lr_decay     # writes data/lr_decay.json (about 2.5 CPU minutes)

The record keeps, per seed, the accuracy curve, the FLOPs and the stretch records of `run_dense`
(not the marks).
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

DEFAULT_RESULTS = Path(__file__).resolve().parent / "data" / "lr_decay.json"
SEEDS = (3, 6, 11)
DROP = {"lr_drop_after": 1200, "lr_drop_factor": 0.1}
RULES = {"spike_ratio": 16, "after_step": 1200}


def _main(argv: list[str]) -> None:
    if argv:
        raise SystemExit("python -m labs.distill.lr_decay takes no arguments")
    torch.set_num_threads(1)
    task = AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)
    teacher, _ = load_teacher()
    results = {"meta": {**DENSE, **DROP, "beta2": 0.999, "torch_threads": 1,
                        "seeds": list(SEEDS), "rules": RULES,
                        "runs": [{**provenance("labs.distill.lr_decay", argv),
                                  "processor": processor_name()}]},
               "seeds": {}}  # fmt: skip
    for seed in SEEDS:
        begin = time.time()
        rec = run_dense(task, teacher, seed, steps=DENSE["steps"], eval_every=DENSE["eval_every"],
                        **DROP)  # fmt: skip
        rec.pop("marks")
        results["seeds"][str(seed)] = rec
        DEFAULT_RESULTS.write_text(json.dumps(results) + "\n")
        print(f"seed {seed}: {rec['cpu_seconds']:.0f} CPU s, {time.time() - begin:.0f} s",
              flush=True)  # fmt: skip
    print(f"wrote {DEFAULT_RESULTS}")


if __name__ == "__main__":
    _main(sys.argv[1:])
