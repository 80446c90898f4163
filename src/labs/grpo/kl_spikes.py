"""What a KL spike is: one run of the KL-placement sweep again, with a per-step look at its KL.

The sweeps record a run's KL as the mean over its last 30 steps of the logged k3 (eq. 4) of the
policy against the reference, averaged over the sampled answers' tokens. k3 = r - log r - 1
with r = pi_ref / pi is unbiased only on tokens drawn from pi itself. Here it is read at the last
of a step's updates (after three of four have moved pi) on tokens drawn from pi_old, where
E_{pi_old}[pi_ref / pi] != 1: biased, by an amount that depends on how far the updates moved the
policy, as well as heavy-tailed: one sampled token that the policy now gives a far smaller
probability than the reference does (r large) can lift a whole step's mean. The exact
KL(pi || pi_ref) at the same positions sums over the vocabulary instead of reading the sampled
token, so no single draw can lift it, and at each position it is exact (only the positions
themselves come from pi_old's answers).

`python -m labs.grpo.kl_spikes --seed 11 --kl-penalty reward` re-runs the cross sweep's run of
that seed and placement (`run_grpo_kl_cross_seed`: the seed's warm-up, GRPO's default learning
rate) and, beside the run's own log, records per step: the exact KL, the largest per-answer k3,
and the largest log(pi_ref / pi) of any sampled token. The look is the loop's `watch` hook
(`training._train_grpo`): it only reads the tensors (`torch.no_grad`, no random draw), and the
record says whether the rerun's final KL and curves equal the committed ones bit for bit. The
record is written to `--out` (`labs/grpo/data/kl_spike_seed11.json` for the command above).

Taught in chapter 5, "PPO against GRPO, made fair" (estimator or placement).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from labs.common.runtime import processor_name, provenance
from labs.common.tasks import AdditionTask
from labs.grpo import training
from labs.grpo.kl_placement import _start
from labs.grpo.ladder import BASE, block_means, ladder_config
from labs.grpo.records import _FILES, load_sweep
from labs.grpo.torch_kernels import _kl_k3

__all__: list[str] = []


def _exact_kl(policy, reference, prompts, completions, mask, temperature: float) -> torch.Tensor:
    """KL(pi || pi_ref) summed over the vocabulary at each answer position: (B, N)."""
    seq = torch.cat([prompts, completions], dim=1)
    start = prompts.shape[1] - 1
    lp = torch.log_softmax(policy._forward(seq[:, :-1])[:, start:].float() / temperature, -1)
    lr = torch.log_softmax(reference._forward(seq[:, :-1])[:, start:].float() / temperature, -1)
    return torch.where(mask, (lp.exp() * (lp - lr)).sum(-1), torch.zeros(()))


def _seq_mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    """Each answer's mean over its tokens, then the mean over answers (as the logged KL)."""
    counts = mask.sum(dim=1)
    per = torch.where(mask, values, torch.zeros(())).sum(dim=1) / counts.clamp_min(1)
    return float(per[counts > 0].mean())


def _look(temperature: float, rows: list):
    """A watch for `training._train_grpo`: appends each step's look to `rows`, read from the
    step's logged update (the policy before that update moves it). Only reads: the loop calls it
    under `torch.no_grad`, and it draws nothing."""

    def watch(step: int, policy, reference, batch: dict) -> None:
        mask, logp, ref_logp = batch["mask"], batch["logp"], batch["ref_logp"]
        k3 = _kl_k3(torch.where(mask, logp, 0.0), torch.where(mask, ref_logp, 0.0))
        exact = _exact_kl(policy, reference, batch["prompts"], batch["completions"], mask,
                          temperature)  # fmt: skip
        per_answer = torch.where(mask, k3, 0.0).sum(1) / mask.sum(1).clamp_min(1)
        rows.append({
            "k3": _seq_mean(k3, mask),
            "exact": _seq_mean(exact, mask),
            "max_answer_k3": float(per_answer.max()),
            "max_log_ratio": float(torch.where(mask, ref_logp - logp, -np.inf).max()),
        })  # fmt: skip

    return watch


def spike_run(seed: int, kl_penalty: str, steps: int = 150) -> dict:
    """The cross sweep's run of `seed` with `kl_penalty` again, with its per-step look: {"steps":
    {"kl" (the run's logged KL), "exact", "max_answer_k3", "max_log_ratio", "reward"} per step,
    "final" and "curves" (as `run_rung` computes them), "reproduced"}."""
    import copy

    task = AdditionTask()
    start, _ = _start(task, seed)
    policy, reference = copy.deepcopy(start), copy.deepcopy(start)
    for p in reference.parameters():
        p.requires_grad_(False)
    config = ladder_config("grpo", steps=steps, seed=seed, lr=BASE["lr"], kl_penalty=kl_penalty)
    rows: list = []
    _, log = training._train_grpo(
        task, policy, reference, config, "kl spike", watch=_look(config.temperature, rows)
    )
    per_step = {k: [r[k] for r in rows] for k in ("k3", "exact", "max_answer_k3", "max_log_ratio")}
    per_step["kl"], per_step["reward"] = log.history["kl"], log.history["reward"]
    final = {k: float(np.mean(log.history[k][-30:])) for k in ("reward", "kl")}
    curves = {k: block_means(log.history[k]) for k in ("reward", "kl")}
    name = "lr x1" + {"reward": " kl in reward", "reward_k3": " kl in reward_k3"}.get(
        kl_penalty, ""
    )
    committed = load_sweep(task="grpo_kl_cross")["seeds"][str(seed)]["grpo"][name]
    same = all(final[k] == committed["final"][k] for k in final) and all(
        curves[k] == committed["curves"][k] for k in curves
    )
    return {"steps": per_step, "final": final, "curves": curves, "reproduced": same}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--kl-penalty", nargs="+", default=["reward", "reward_k3"])
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = args.out or str(
        Path(training.__file__).parent / "data" / f"kl_spike_seed{args.seed}.json"
    )
    record = {
        "meta": {
            **provenance("labs.grpo.kl_spikes", argv),
            "processor": processor_name(),
            "of": _FILES["grpo_kl_cross"],
            "seed": args.seed,
        },  # fmt: skip
        "runs": {},
    }
    for placement in args.kl_penalty:
        record["runs"][placement] = spike_run(args.seed, placement)
        Path(out).write_text(json.dumps(record, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
