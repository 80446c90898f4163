"""Chapter 2's premise on every seed: how many decades the token gradient norms span.

The 0.25% verdict explains why E5M2 per tensor cannot be told apart from V3's recipe: this
model's gradients are narrow. This script trains the sweep's BF16 and FP8 (V3 recipe) runs of
every seed (the same task, training and seeds as `labs.fp8.sweep`), measures the span with
`labs.fp8.sweep._token_gradient_decades` and writes `src/labs/fp8/data/gradient_spans.json`.
The notebook measures seed 0 live and asserts it lands in the committed spread.

Run: `PYTHONPATH=src python tools/fp8_gradient_spans.py --seeds 12` (about 90 s on one core).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from labs.common.runtime import processor_name, provenance
from labs.fp8.sweep import TASK, TRAINING, _token_gradient_decades, task_tokens
from labs.fp8.torch_train import train_tiny_lm

OUT = Path(__file__).resolve().parents[1] / "src" / "labs" / "fp8" / "data" / "gradient_spans.json"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=12, help="seeds 0 .. seeds-1")
    args = parser.parse_args(argv)
    if not 1 <= args.seeds <= 100:
        parser.error(f"--seeds must be 1..100, got {args.seeds}")
    torch.set_num_threads(1)
    os.environ.setdefault("LABS_PROGRESS", "off")
    train, held_out, _ = task_tokens()
    spans = {"bf16": [], "fp8": []}
    for precision, values in spans.items():
        for seed in range(args.seeds):
            run = train_tiny_lm(precision, train, held_out, TASK["vocab"], **TRAINING, seed=seed)
            values.append(_token_gradient_decades(run["model"], train))
            print(f"{precision} seed {seed}: {values[-1]:.3f} decades", flush=True)
    made = {**provenance("tools.fp8_gradient_spans", argv), "torch_threads": 1}
    made["command"] = " ".join(["PYTHONPATH=src python tools/fp8_gradient_spans.py", *argv])
    meta = {**made, "processor": processor_name(), "task": TASK, "training": TRAINING}
    results = {"meta": {**meta, "seeds": args.seeds}, "token_gradient_decades": spans}
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
