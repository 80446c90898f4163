"""Chapter 4 on a real distributed engine: a data-parallel training step of a DeepSeekMoE layer
with `torch.distributed` (gloo backend, processes on the CPU).

Taught in chapter 4, "Expert parallelism on eight devices" (its data-parallel prelude). Each of
`world_size` processes takes an equal slice of the batch, computes its gradients, and an
`all_reduce` averages them; the result must equal the gradients of one process on the whole batch
(the loss is a mean, so the mean of equal-sized slices' gradients is the full batch's gradient).
The routing bias is a buffer and moves with the summed load, the same on every rank.
"""

from __future__ import annotations

import os
import socket
import tempfile
from types import MappingProxyType

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from labs.common import validate
from labs.common.validate import size
from labs.moe.config import MoEConfig
from labs.moe.reference import init_params
from labs.moe.torch import DeepSeekMoE

__all__ = ["data_parallel_gradients", "single_process_gradients"]

_CONFIG = MoEConfig(d_model=8, d_expert=8, n_routed=4, n_shared=1, k=2)


def _batch(tokens: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((tokens, _CONFIG.d_model))
    return torch.from_numpy(x), torch.from_numpy(np.tanh(x[:, ::-1].copy()))


def _gradients(x: torch.Tensor, target: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    """Gradients of the mean squared error of the layer (float64, weights from `seed`)."""
    layer = DeepSeekMoE(_CONFIG).double().load_params(init_params(_CONFIG, seed=seed))
    loss = ((x + layer._forward(x) - target) ** 2).mean()
    loss.backward()
    return {name: p.grad.detach().clone() for name, p in layer.named_parameters()}


def _worker(rank: int, world_size: int, port: int, tokens: int, seed: int, out: str) -> None:
    """One rank: its slice of the batch, its gradients, an all-reduce, rank 0 saves the mean."""
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        x, target = _batch(tokens, seed)
        share = tokens // world_size
        mine = slice(rank * share, (rank + 1) * share)
        grads = _gradients(x[mine], target[mine], seed)
        for grad in grads.values():
            dist.all_reduce(grad, op=dist.ReduceOp.SUM)  # sum over ranks...
            grad /= world_size  # ...then the mean: each rank's loss averaged its own slice
        if rank == 0:
            torch.save(grads, out)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def data_parallel_gradients(world_size: int = 2, tokens: int = 16, seed: int = 0):
    """All-reduced gradients of a data-parallel step over `world_size` gloo processes (spawned on
    this machine, at most 8), each on tokens / world_size tokens. Returns {name: ndarray}."""
    world_size = size("world_size", world_size, maximum=8, why="processes on one CPU machine")
    tokens = size("tokens", tokens, maximum=4096)
    if tokens % world_size:
        raise ValueError(f"tokens={tokens} must divide evenly over world_size={world_size}")
    seed = validate.seed("seed", seed)
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "grads.pt")
        mp.spawn(_worker, args=(world_size, _free_port(), tokens, seed, out), nprocs=world_size)
        grads = torch.load(out)
    return MappingProxyType({name: g.numpy() for name, g in grads.items()})


def single_process_gradients(tokens: int = 16, seed: int = 0):
    """The same step's gradients in one process on the whole batch. Returns {name: ndarray}."""
    tokens = size("tokens", tokens, maximum=4096)
    seed = validate.seed("seed", seed)
    grads = _gradients(*_batch(tokens, seed), seed)
    return MappingProxyType({name: g.numpy() for name, g in grads.items()})
