"""The expert loop of `DeepSeekMoE._forward`: unbinding the stacked weights once and joining the
experts' outputs with one `cat` gives the same numbers, to the bit, as the loop it replaced,
which indexed `self.w1[e]` per expert and wrote each output into a slot buffer in place.

The old loop's backward cost grew with the number of experts for every expert (a zero tensor of
all E experts' weights per `w[e]`, a copy of the whole buffer's gradient per slice write); the
new one does not (chapter 4, "When does sparsity pay?", and `labs.moe.timing`). Only the cost
may change: adding zeros is exact, so outputs and gradients must be bit-identical."""

from __future__ import annotations

import pytest
import torch

from labs.moe import MoEConfig
from labs.moe.torch import DeepSeekMoE, _route, _swiglu


def _old_forward(layer: DeepSeekMoE, x: torch.Tensor) -> torch.Tensor:
    """The loop as it was before the change, kept here as the reference."""
    flat = x.reshape(-1, x.shape[-1])
    out = torch.zeros_like(flat)
    for s in range(layer.config.n_shared):
        out = out + _swiglu(flat, layer.shared_w1[s], layer.shared_w3[s], layer.shared_w2[s])
    scores = layer._scores(flat)
    idx, gates = _route(scores, layer.config.k, layer.bias)
    order = idx.reshape(-1).argsort(stable=True)
    counts = torch.bincount(idx.reshape(-1), minlength=layer.config.n_routed).tolist()
    token = order // layer.config.k
    y = torch.empty(order.shape[0], flat.shape[1], dtype=flat.dtype, device=flat.device)
    start = 0
    for e, count in enumerate(counts):
        if count:
            rows = token[start : start + count]
            y[start : start + count] = _swiglu(flat[rows], layer.w1[e], layer.w3[e], layer.w2[e])
        start += count
    weighted = y * gates.reshape(-1)[order, None]
    return out.index_add(0, token, weighted).reshape(x.shape)


CASES = [  # (config, tokens, expert kept idle by its bias or None, dtype)
    (MoEConfig(d_model=8, d_expert=6, n_routed=8, n_shared=1, k=2), 16, 3, torch.float32),
    (MoEConfig(d_model=12, d_expert=4, n_routed=6, n_shared=2, k=3), 10, None, torch.float64),
    (MoEConfig(d_model=8, d_expert=4, n_routed=4, n_shared=0, k=1), 7, 0, torch.float32),
    (MoEConfig(d_model=16, d_expert=8, n_routed=32, n_shared=1, k=2), 64, 31, torch.float32),
]


def _run(forward, layer, x, upstream):
    """Output, input gradient and every parameter's gradient of one forward and backward."""
    layer.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    out = forward(x)
    out.backward(upstream)
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in layer.named_parameters()}
    return out.detach(), x.grad.clone(), grads


@pytest.mark.parametrize(("config", "tokens", "idle", "dtype"), CASES)
def test_new_loop_is_bit_identical_to_the_old_one(config, tokens, idle, dtype):
    torch.manual_seed(0)
    layer = DeepSeekMoE(config).to(dtype)
    if idle is not None:  # the bias only chooses: -100 keeps this expert from every token
        layer.bias[idle] = -100.0
    x = torch.randn(2, tokens, config.d_model, dtype=dtype)
    upstream = torch.randn(2, tokens, config.d_model, dtype=dtype)
    new = _run(layer._forward, layer, x, upstream)
    counts = torch.bincount(layer.last_indices.reshape(-1), minlength=config.n_routed)
    if idle is not None:
        assert counts[idle] == 0 and (counts > 0).sum() > 1  # an empty expert among used ones
    old = _run(lambda inp: _old_forward(layer, inp), layer, x, upstream)
    assert torch.equal(new[0], old[0])  # the output
    assert torch.equal(new[1], old[1])  # the input's gradient
    assert new[2].keys() == old[2].keys() and len(new[2]) == 7
    for name, grad in new[2].items():
        if grad is None:  # no shared expert: its (0, D, F) weights get no gradient either way
            assert config.n_shared == 0 and name.startswith("shared") and old[2][name] is None
        else:
            assert torch.equal(grad, old[2][name]), name
    # the check could fail: the gradients are not all zero, and a perturbed run differs
    # (the router's may be: with k = 1 every gate is 1)
    assert all(new[2][name].abs().sum() > 0 for name in ("w1", "w3", "w2"))
    assert not torch.equal(_run(layer._forward, layer, x, 1.01 * upstream)[2]["w1"], new[2]["w1"])
