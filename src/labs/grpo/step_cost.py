"""What one RL step holds in memory: weights, gradients, optimiser state and saved activations.

Taught in chapter 5, "PPO against GRPO, made fair", where the table of a step's bytes sets GRPO
(one trained model, one frozen reference) beside PPO (a trained value model too). Both training
loops (`labs.grpo.training.train_grpo`, `labs.grpo.ppo.train_ppo`) count their first step with
`measure_step`, which `labs.grpo.training` and `labs.grpo.torch` re-export.

The activations are the tensors autograd saves for the backward pass, counted with its
saved-tensor hooks (`_SavedActivations`): a parameter is left out (it counts in the weights),
and a tensor saved twice counts once.
"""

from __future__ import annotations

import torch

from labs.common.validate import integer
from labs.grpo.checks import check_items

__all__ = ["measure_step"]


def _bytes(tensors) -> int:
    return int(sum(t.numel() * t.element_size() for t in tensors))


class _SavedActivations:
    """Counts the bytes autograd saves for backward, leaving out parameters (weights)."""

    def __init__(self, *modules):
        self.param_ptrs = {p.data_ptr() for m in modules for p in m.parameters()}
        self.seen: set[int] = set()
        self.bytes = 0

    def pack(self, t: torch.Tensor):
        ptr = t.data_ptr()
        if ptr not in self.param_ptrs and ptr not in self.seen:
            self.seen.add(ptr)
            self.bytes += t.numel() * t.element_size()
        return t

    def __enter__(self):
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self.pack, lambda t: t)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def measure_step(trained, frozen, optimizers, activation_bytes: int) -> dict[str, int]:
    """Bytes of one RL step's state: weights of trained and frozen models, gradients, optimiser
    state (after at least one step), and the activations saved for backward.

    `trained` and `frozen` are sequences of torch modules, `optimizers` of torch optimisers.
    """
    trained = check_items("trained", trained, torch.nn.Module)
    frozen = check_items("frozen", frozen, torch.nn.Module, nonempty=False)
    optimizers = check_items("optimizers", optimizers, torch.optim.Optimizer, nonempty=False)
    activation_bytes = integer("activation_bytes", activation_bytes, minimum=0)
    params = [p for m in trained for p in m.parameters()]
    states = [
        v for opt in optimizers for s in opt.state.values() for v in s.values() if v.dim() > 0
    ]
    out = {
        "trained weights": _bytes(params),
        "frozen weights": _bytes(p for m in frozen for p in m.parameters()),
        "gradients": _bytes(p.grad for p in params if p.grad is not None),
        "optimiser state": _bytes(states),
        "activations": int(activation_bytes),
    }
    out["total"] = sum(out.values())
    return out
