"""Chapter 2's premise on every seed: how many decades this model's token gradient norms span.

Run as `python -m labs.fp8.gradient_spans --seeds 12` (about 90 s on one core). The 0.25% verdict
explains why E5M2 per tensor cannot be told apart from V3's recipe here: this model's gradients are
narrow. The script trains the sweep's BF16 and FP8 (V3 recipe) runs of every seed (the task,
training settings and seeds of `labs.fp8.sweep`), measures each trained model's span with
`token_gradient_decades` and writes `labs/fp8/data/gradient_spans.json` with the command, the
versions and the processor, which the chapter reads (`labs.fp8.sweep.load_sweep(name=...)`); the
notebook measures seed 0 live and asserts it lands in the committed spread.

Taught in chapter 2, "Training in FP8: does the loss notice?" (the 0.25% verdict).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from labs.common.runtime import processor_name, provenance
from labs.common.validate import instance, integer_array
from labs.fp8.sweep import TASK, TRAINING, task_tokens
from labs.fp8.torch_train import TinyLM, train_tiny_lm

__all__ = ["WINDOWS", "token_gradient_decades"]

WINDOWS = 256  # token windows in the one batch the gradients are read on
_RESULTS = "gradient_spans.json"


def token_gradient_decades(model: TinyLM, tokens) -> float:
    """Decades between the largest and smallest per-token gradient norm at `model`'s two hidden
    layers (fc1's and fc2's outputs), on one batch of `WINDOWS` windows from the start of `tokens`
    with next-token cross-entropy; the larger span of the two layers.

    Args:
        model: a `labs.fp8.torch_train.TinyLM` (trained or not).
        tokens: 1-D integer array of token ids in [0, model.vocab), at least
            WINDOWS + model.context long.
    """
    model = instance("model", model, TinyLM, "a labs.fp8.torch_train.TinyLM")
    tokens = integer_array("tokens", tokens, ndim=1, low=0, high=model.vocab)
    need = WINDOWS + model.context
    if tokens.size < need:
        raise ValueError(
            f"tokens must hold at least {need} ids ({WINDOWS} windows of {model.context} and "
            f"their next tokens), got {tokens.size}"
        )
    return _token_gradient_decades(model, np.asarray(tokens, dtype=np.int64))


def _token_gradient_decades(model: TinyLM, tokens: np.ndarray) -> float:
    c = model.context
    windows = torch.as_tensor(np.stack([tokens[i : i + WINDOWS] for i in range(c)], axis=1))
    h1 = model.fc1(model.embed(windows).flatten(1))  # (WINDOWS, hidden)
    h1.retain_grad()
    h2 = model.fc2(torch.nn.functional.gelu(h1))  # (WINDOWS, hidden)
    h2.retain_grad()
    logits = model.head(torch.nn.functional.gelu(h2))  # (WINDOWS, vocab)
    target = torch.as_tensor(tokens[c : c + WINDOWS])
    torch.nn.functional.cross_entropy(logits, target).backward()
    norms = [h.grad.norm(dim=1) for h in (h1, h2)]  # one norm per token window
    return max(float(torch.log10(n.max() / n.min())) for n in norms)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m labs.fp8.gradient_spans", description=__doc__)
    parser.add_argument("--seeds", type=int, default=12, help="seeds 0 .. seeds-1")
    parser.add_argument("--out", default=None, help=f"default: data/{_RESULTS}")
    args = parser.parse_args(argv)
    if not 1 <= args.seeds <= 100:
        parser.error(f"--seeds must be between 1 and 100, got {args.seeds}")
    out = Path(args.out or Path(__file__).parent / "data" / _RESULTS)
    torch.set_num_threads(1)
    os.environ.setdefault("LABS_PROGRESS", "off")
    train, held_out, _ = task_tokens()
    spans = {"bf16": [], "fp8": []}
    for precision, values in spans.items():
        for seed in range(args.seeds):
            run = train_tiny_lm(precision, train, held_out, TASK["vocab"], **TRAINING, seed=seed)
            values.append(token_gradient_decades(run["model"], train))
            print(f"{precision} seed {seed}: {values[-1]:.3f} decades", flush=True)
    meta = {
        **provenance("labs.fp8.gradient_spans", argv),
        "torch_threads": 1,
        "processor": processor_name(),
        "task": TASK,
        "training": TRAINING,
        "seeds": args.seeds,
    }
    out.write_text(json.dumps({"meta": meta, "token_gradient_decades": spans}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
