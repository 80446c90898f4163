"""Valid calls for chapter 4 (labs.moe): one small call per public callable (see harness.py).

Every layer is tiny (width 8, four experts of width 6) so the walker's hostile calls run in
seconds; training runs take a handful of steps.
"""

from __future__ import annotations

import numpy as np

from labs.moe import MoEConfig
from tests.hostile.harness import call

TINY = MoEConfig(d_model=8, d_expert=6, n_routed=4, n_shared=1, k=2)
# moe_layer_time spreads the routed experts evenly over 8 GPUs a node: 16 fill 2 nodes
SPREAD = MoEConfig(d_model=8, d_expert=6, n_routed=16, n_shared=1, k=2)
SCORES = np.random.default_rng(0).standard_normal((5, 4))
X = np.random.default_rng(1).standard_normal((6, 8))
INDICES = np.array([[0, 1], [2, 3], [0, 2]])
LOAD = np.array([3.0, 1.0, 2.0, 2.0])
# Two sequences of three tokens over 4 experts, top-2: logits (B, T, E) and experts (B, T, K).
SEQ_SCORES = np.random.default_rng(2).standard_normal((2, 3, 4))
SEQ_INDICES = np.array([[[0, 1], [2, 3], [0, 2]], [[1, 3], [1, 2], [0, 3]]])


def _float32():
    import torch

    return torch.float32


def _params():
    from labs.moe import init_params

    return init_params(TINY, seed=0)


def _torch_scores():
    import torch

    return call(
        scores=torch.from_numpy(SCORES.copy()), k=2, bias=torch.zeros(4, dtype=torch.float64)
    )


def _torch_node_route():
    import torch

    return call(
        scores=torch.from_numpy(SCORES.copy()),
        k=2,
        experts_per_node=2,
        max_nodes=1,
        bias=torch.zeros(4, dtype=torch.float64),
    )


def _jax_node_route():
    import jax.numpy as jnp

    return call(
        scores=jnp.asarray(SCORES, jnp.float32),
        k=2,
        experts_per_node=2,
        max_nodes=1,
        bias=jnp.zeros(4, jnp.float32),
    )


def _torch_sequence_balance():
    import torch

    return call(
        scores=torch.from_numpy(SEQ_SCORES.copy()), expert_indices=torch.tensor(SEQ_INDICES)
    )


def _jax_sequence_balance():
    import jax.numpy as jnp

    return call(
        scores=jnp.asarray(SEQ_SCORES, jnp.float32), expert_indices=jnp.asarray(SEQ_INDICES)
    )


def _torch_forward():
    import torch

    from labs.moe import torch as moe_torch

    module = moe_torch.DeepSeekMoE(TINY).double().load_params(_params())
    return call(module.forward, x=torch.from_numpy(X.copy()))


def _torch_load_params():
    from labs.moe import torch as moe_torch

    return call(moe_torch.DeepSeekMoE(TINY).load_params, params=_params())


def _jax_scores():
    import jax.numpy as jnp

    return call(scores=jnp.asarray(SCORES, jnp.float32), k=2, bias=jnp.zeros(4, jnp.float32))


def _jax_params():
    import jax.numpy as jnp

    return {k: jnp.asarray(v, jnp.float32) for k, v in _params().items()}


def _jax_forward():
    import jax.numpy as jnp

    return call(params=_jax_params(), config=TINY, x=jnp.asarray(X, jnp.float32))


def _expert_parallel():
    import jax
    import jax.numpy as jnp

    mesh = jax.make_mesh((1,), ("ep",))
    # mesh fixed: the walker cannot derive a hostile mesh; bad meshes are in tests/moe.
    return call(
        params=_jax_params(), x=jnp.asarray(X, jnp.float32), mesh=mesh, config=TINY,
        bias=jnp.zeros(4, jnp.float32), fixed=("mesh",),
    )  # fmt: skip


def _runs():
    from labs.moe.training import train_tiny_lm

    run = train_tiny_lm("bias", steps=3, batch=16)
    return {"bias": run}


def _tiny_run() -> dict:
    from labs.moe.training import train_tiny_lm

    return dict(train_tiny_lm("bias", steps=3, batch=16))


def _dense_sweep_run() -> dict:
    """A run of the committed sweep's length (compare_with_sweep checks it): the dense one,
    the fastest configuration."""
    from labs.moe.sweep import run_config

    return dict(run_config("dense", seed=0))


def _committed_sweep() -> dict:
    from labs.moe.sweep import load_sweep

    return load_sweep()


def _committed_ablation() -> dict:
    from labs.moe.granularity import load_ablation

    return load_ablation()


def _student_params(d_model, d_expert, n_routed, n_shared, k):
    expert = 3 * d_model * d_expert
    return expert * (n_routed + n_shared) + d_model * n_routed, expert * (
        k + n_shared
    ) + d_model * n_routed


def _student_route(scores, k, experts_per_device, max_devices):
    """DeepSeek-V2's device-limited routing, as a student might write it (exercise 4.2)."""
    affinity = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    best = affinity.reshape(len(scores), -1, experts_per_device).max(axis=-1)
    kept = np.argsort(-best, axis=1, kind="stable")[:, :max_devices]
    allowed = np.zeros(best.shape, dtype=bool)
    np.put_along_axis(allowed, kept, True, axis=1)
    masked = np.where(np.repeat(allowed, experts_per_device, axis=1), affinity, -np.inf)
    chosen = np.argsort(-masked, axis=1, kind="stable")[:, :k]
    return chosen, np.take_along_axis(affinity, chosen, axis=1)


def _student_remote(k, n_nodes, max_nodes):
    return max_nodes * (1 - (1 - 1 / max_nodes) ** k) * (n_nodes - 1) / n_nodes


EXAMPLES = {
    # configuration and cost models
    "labs.moe.config.MoEConfig": lambda: call(d_model=8, d_expert=6, n_routed=4, n_shared=1, k=2),
    "labs.moe.comm.v3_parameter_counts": lambda: call(),
    "labs.moe.comm.moe_flops_per_token": lambda: call(config=TINY),
    "labs.moe.comm.moe_layer_time": lambda: call(
        gpu="h800",
        n_nodes=2,
        max_nodes=1,
        config=SPREAD,
        tokens_per_gpu=64,
        mfu=0.4,
        nvlink_gbs=160.0,
        ib_gbs=50.0,
    ),
    # the roofline of one layer on one device
    "labs.moe.roofline.device_limits": lambda: call(device="T4"),
    "labs.moe.roofline.registry_device": lambda: call(gpu_name="NVIDIA H100 80GB HBM3"),
    "labs.moe.timing.routed_expert_seconds": lambda: call(
        d_model=8, n_experts=4, k=2, d_expert=4, tokens=16, repeats=1, seed=0, select="index"
    ),
    "labs.moe.timing.measured_layer_seconds": lambda: call(
        config=TINY, tokens=8, device="cpu", dtype=_float32(), repeats=1, seed=0
    ),
    "labs.moe.roofline.experts_hit": lambda: call(tokens=16, n_routed=8, k=2),
    "labs.moe.roofline.ridge_tokens": lambda: call(
        config=TINY, peak_flops=1e12, bandwidth=1e10, bytes_per_element=4.0
    ),
    "labs.moe.roofline.layer_seconds": lambda: call(
        config=TINY,
        tokens=64,
        peak_flops=1e12,
        bandwidth=1e10,
        bytes_per_element=2.0,
        backward=True,
        count_weights=False,
    ),
    "labs.moe.roofline.expert_crossover": lambda: call(
        config=TINY,
        tokens=64,
        peak_flops=1e12,
        bandwidth=1e10,
        bytes_per_element=2.0,
        count_weights=True,
        max_experts=64,
    ),
    "labs.moe.roofline.memory_bound_batch": lambda: call(
        config=TINY, peak_flops=1e12, bandwidth=1e10, bytes_per_element=2.0
    ),
    # NumPy reference
    "labs.moe.reference.route": lambda: call(scores=SCORES, k=2, bias=np.zeros(4)),
    "labs.moe.reference.node_limited_route": lambda: call(
        scores=SCORES, k=2, experts_per_node=2, max_nodes=1, bias=np.zeros(4)
    ),
    "labs.moe.reference.expert_load": lambda: call(expert_indices=INDICES, n_experts=4),
    "labs.moe.reference.load_imbalance": lambda: call(expert_load=LOAD),
    "labs.moe.reference.update_bias": lambda: call(bias=np.zeros(4), expert_load=LOAD, gamma=0.1),
    "labs.moe.reference.aux_balance_loss": lambda: call(
        probs=np.full((3, 4), 0.25), expert_indices=INDICES
    ),
    "labs.moe.reference.sequence_balance_loss": lambda: call(
        scores=SEQ_SCORES, expert_indices=SEQ_INDICES
    ),
    "labs.moe.reference.init_params": lambda: call(config=TINY, seed=0, dtype=np.float32),
    "labs.moe.reference.moe_forward": lambda: call(
        params=_params(), config=TINY, x=X, bias=np.zeros(4)
    ),
    # PyTorch
    "labs.moe.torch.route": _torch_scores,
    "labs.moe.torch.node_limited_route": _torch_node_route,
    "labs.moe.torch.sequence_balance_loss": _torch_sequence_balance,
    "labs.moe.torch.DeepSeekMoE": lambda: call(config=TINY),
    "labs.moe.torch.DeepSeekMoE.forward": _torch_forward,
    "labs.moe.torch.DeepSeekMoE.load_params": _torch_load_params,
    "labs.moe.training.best_loss": lambda: call(vocab=16, order=2, seed=0),
    "labs.moe.training.train_tiny_lm": lambda: call(
        balancing="aux",
        steps=2,
        seed=0,
        n_experts=4,
        k=2,
        d_model=8,
        d_expert=4,
        vocab=16,
        order=2,
        batch=8,
        gamma=0.01,
        alpha=0.01,
        skew=1.0,
        dense=False,
        ffn=True,
        lr=0.01,
        dense_width="active",
        init_noise=0.0,
    ),  # fmt: skip
    "labs.moe.training.cpu_limits": lambda: call(repeats=1),
    # the committed balancing sweep
    "labs.moe.sweep.run_config": lambda: call(name="bias", seed=0, steps=2, init_noise=0.0),
    "labs.moe.sweep.run_summary": lambda: call(run=_tiny_run(), early=1, late=2),
    "labs.moe.sweep.rounding_drift": lambda: call(sweep=_committed_sweep()),
    "labs.moe.sweep.compare_with_sweep": lambda: call(
        name="dense", seed=0, run=_dense_sweep_run(), sweep=_committed_sweep(), margin=1.5
    ),
    "labs.moe.sweep.load_sweep": lambda: call(path=None),
    "labs.moe.training.layer_throughput": lambda: call(
        d_model=8, n_experts=4, k=2, d_expert=4, tokens=16, repeats=1, seed=0
    ),
    # JAX
    "labs.moe.jax.route": _jax_scores,
    "labs.moe.jax.node_limited_route": _jax_node_route,
    "labs.moe.jax.sequence_balance_loss": _jax_sequence_balance,
    "labs.moe.jax.moe_forward": _jax_forward,
    "labs.moe.jax.expert_parallel_moe": _expert_parallel,
    # A check takes whatever the student wrote: tests/common/test_exercises_hostile.py attacks it.
    "labs.moe.exercises.check_moe_layer_params": lambda: call(fn=_student_params, fixed=("fn",)),
    "labs.moe.exercises.check_v2_device_route": lambda: call(fn=_student_route, fixed=("fn",)),
    "labs.moe.exercises.check_remote_nodes": lambda: call(fn=_student_remote, fixed=("fn",)),
    # the committed ablation of fine-grained and shared experts
    "labs.moe.granularity.expert_parameters": lambda: call(config=TINY),
    "labs.moe.granularity.run_ablation": lambda: call(name="no FFN", seed=0, steps=2),
    "labs.moe.granularity.paired_differences": lambda: call(
        variant="fine, m=4", baseline="coarse", ablation=_committed_ablation()
    ),
    "labs.moe.granularity.load_ablation": lambda: call(path=None),
    "labs.moe.granularity.moe_layer": lambda: call(name="fine, narrow router"),
    # widgets
    "labs.moe.widgets.plot_balancing": lambda: call(runs=_runs(), smooth=2),
    "labs.moe.widgets.plot_layer_time": lambda: call(gpu="h100", max_nodes=4, mfu=0.5),
    "labs.moe.widgets.layer_time_explorer": lambda: call(),
}

_SEED = "a seed in [0, 2**62] is valid (labs.common.validate.seed); 10**15 is one"
_COUNTS = "a load is a token count: integers are its natural dtype"

# (key, parameter, mutation) -> why this hostile class is a legitimate input there.
ACCEPTED: dict[tuple[str, str, str], str] = {
    ("labs.moe.reference.init_params", "seed", "huge-int"): _SEED,
    ("labs.moe.training.train_tiny_lm", "seed", "huge-int"): _SEED,
    ("labs.moe.training.layer_throughput", "seed", "huge-int"): _SEED,
    ("labs.moe.timing.routed_expert_seconds", "seed", "huge-int"): _SEED,
    ("labs.moe.timing.measured_layer_seconds", "seed", "huge-int"): _SEED,
    ("labs.moe.timing.measured_layer_seconds", "device", "none"): (
        "None is the default device (labs.common.runtime), as every device argument takes it"
    ),
    ("labs.moe.training.best_loss", "seed", "huge-int"): _SEED,
    ("labs.moe.sweep.run_config", "seed", "huge-int"): _SEED,
    ("labs.moe.granularity.run_ablation", "seed", "huge-int"): _SEED,
    ("labs.moe.reference.load_imbalance", "expert_load", "array-int-dtype"): _COUNTS,
    ("labs.moe.reference.update_bias", "expert_load", "array-int-dtype"): _COUNTS,
}
