"""The argument checks of chapter 4, written once for the NumPy, PyTorch and JAX entry points.

Used by every section of chapter 4 that runs code: the public functions of `reference`, `torch`,
`jax` and `comm` call these, then a bare kernel. They read `.shape` and `.dtype`; values (NaN,
id ranges) are read only for host-resident data (`labs.common.validate`).

Caps, and why: more than `MAX_EXPERTS` (65,536) experts or a width above `MAX_WIDTH` (65,536) is a
typo, not a model (DeepSeek-V3 has 256 routed experts of width 2,048 in a model of width 7,168);
more than `MAX_NODES` (65,536) nodes is larger than any cluster built.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from labs.common import validate
from labs.common.validate import describe_value, integer, real_number, size

__all__ = ["MAX_EXPERTS", "MAX_NODES", "MAX_WIDTH", "PARAM_NAMES"]

MAX_EXPERTS = 2**16
MAX_WIDTH = 2**16
MAX_NODES = 2**16
_EXPERTS_WHY = "no model has that many experts; a larger value is a typo"
_WIDTH_WHY = "no layer is that wide; a larger value is a typo"
# A row of router probabilities sums to 1 up to rounding: float16 carries about 3 decimal digits.
_SUM_TOLERANCE = 1e-3

# The weights of a DeepSeekMoE layer: x @ w with w of shape (d_in, d_out), experts stacked first.
PARAM_NAMES = ("router", "shared_w1", "shared_w3", "shared_w2", "w1", "w3", "w2")


class MoEFieldChecks:
    """The field rules of an MoE configuration (base class of `labs.moe.MoEConfig`)."""

    def __post_init__(self) -> None:
        size("d_model", self.d_model, maximum=MAX_WIDTH, why=_WIDTH_WHY)
        size("d_expert", self.d_expert, maximum=MAX_WIDTH, why=_WIDTH_WHY)
        size("n_routed", self.n_routed, maximum=MAX_EXPERTS, why=_EXPERTS_WHY)
        size("n_shared", self.n_shared, minimum=0, maximum=MAX_EXPERTS, why=_EXPERTS_WHY)
        size("k", self.k, maximum=MAX_EXPERTS, why=_EXPERTS_WHY)
        if self.k > self.n_routed:
            raise ValueError(f"k={self.k} must be <= n_routed={self.n_routed}")


def check_config(config, name: str = "config"):
    """`config` if it is an MoEConfig."""
    return validate.instance(name, config, MoEFieldChecks, "an MoEConfig")


def check_scores(scores, framework: str = "numpy"):
    """Router scores: a finite float array of shape (tokens, experts)."""
    scores = validate.array("scores", scores, framework=framework, ndim=2)
    if scores.shape[1] > MAX_EXPERTS:
        raise ValueError(f"scores must have at most {MAX_EXPERTS} experts, got {scores.shape[1]}")
    return scores


def check_k(k, n_experts: int) -> int:
    """k in [1, n_experts]."""
    k = integer("k", k, minimum=1)
    if k > n_experts:
        raise ValueError(f"k={k} must be <= the number of experts ({n_experts})")
    return k


def check_bias(bias, n_experts: int, framework: str = "numpy", name: str = "bias"):
    """None, or a finite float vector of one bias per expert."""
    if bias is None:
        return None
    bias = validate.array(name, bias, framework=framework, ndim=1)
    if bias.shape[0] != n_experts:
        raise ValueError(f"{name} must have shape ({n_experts},), one per expert, got {bias.shape}")
    return bias


def check_route(scores, k, bias, framework: str = "numpy"):
    """The arguments of `route`."""
    scores = check_scores(scores, framework)
    return scores, check_k(k, scores.shape[1]), check_bias(bias, scores.shape[1], framework)


def check_node_route(scores, k, experts_per_node, max_nodes, bias, framework: str = "numpy"):
    """The arguments of `node_limited_route`: experts split evenly into nodes, k reachable."""
    scores, k, bias = check_route(scores, k, bias, framework)
    n_experts = scores.shape[1]
    experts_per_node = size(
        "experts_per_node", experts_per_node, maximum=MAX_EXPERTS, why=_EXPERTS_WHY
    )
    if n_experts % experts_per_node:
        raise ValueError(
            f"experts_per_node={experts_per_node} must divide the number of experts "
            f"({n_experts}) into whole nodes"
        )
    n_nodes = n_experts // experts_per_node
    max_nodes = integer("max_nodes", max_nodes, minimum=1, maximum=n_nodes)
    if k > max_nodes * experts_per_node:
        raise ValueError(
            f"k={k} experts cannot fit on max_nodes={max_nodes} nodes of {experts_per_node} "
            "experts each"
        )
    return scores, k, experts_per_node, max_nodes, bias


def check_load(expert_load, name: str = "expert_load", framework: str = "numpy"):
    """Per-expert token counts: a non-negative, finite 1-D array with a positive total."""
    load = validate.array(name, expert_load, framework=framework, dtype=("float", "int"), ndim=1)
    host = validate.host_values(load)
    if host is not None:
        if (host < 0).any():
            raise ValueError(f"{name} must be >= 0 (token counts), got a value of {host.min()}")
        if host.sum() <= 0:
            raise ValueError(f"{name} must have a positive total (no expert received a token)")
    return load


def check_gamma(gamma) -> float:
    """The bias update speed: a finite real number >= 0."""
    return real_number("gamma", gamma, nonnegative=True)


def check_indices(expert_indices, n_experts: int, framework: str = "numpy"):
    """Chosen experts: integer ids in [0, n_experts), shape (tokens, k)."""
    return validate.integer_array(
        "expert_indices", expert_indices, framework=framework, ndim=2, low=0, high=n_experts
    )


def check_aux(probs, expert_indices, framework: str = "numpy"):
    """Router probabilities (tokens, experts) and the chosen experts (tokens, k)."""
    probs = validate.array("probs", probs, framework=framework, ndim=2)
    host = validate.host_values(probs)
    if host is not None:  # logits or unnormalised scores would give a wrong loss, not an error
        if host.min() < 0 or host.max() > 1:
            raise ValueError(
                "probs must hold router probabilities in [0, 1] (a softmax of the scores, not "
                f"the scores themselves), got values from {host.min():.4g} to {host.max():.4g}"
            )
        sums = host.sum(axis=1, dtype=np.float64)
        worst = int(np.argmax(np.abs(sums - 1)))
        if abs(sums[worst] - 1) > _SUM_TOLERANCE:
            raise ValueError(
                f"probs must have rows that sum to 1 (each token's router probabilities), got "
                f"a row summing to {sums[worst]:.6g} (row {worst})"
            )
    indices = check_indices(expert_indices, probs.shape[1], framework)
    if indices.shape[0] != probs.shape[0] or indices.shape[1] > probs.shape[1]:
        raise ValueError(
            f"expert_indices must have shape ({probs.shape[0]}, k <= {probs.shape[1]}), "
            f"got {tuple(indices.shape)}"
        )
    return probs, indices


def check_sequence_balance(scores, expert_indices, framework: str = "numpy"):
    """Router logits (sequences, tokens, experts) and the chosen experts (sequences, tokens, k):
    the same sequences and tokens, k <= experts, and (for host data) k distinct experts per
    token, since a repeated expert would count one routing slot twice in f_i (eq. 18)."""
    scores = validate.array("scores", scores, framework=framework, ndim=3)
    if scores.shape[2] > MAX_EXPERTS:
        raise ValueError(f"scores must have at most {MAX_EXPERTS} experts, got {scores.shape[2]}")
    indices = validate.integer_array(
        "expert_indices", expert_indices, framework=framework, ndim=3, low=0, high=scores.shape[2]
    )
    if tuple(indices.shape[:2]) != tuple(scores.shape[:2]) or indices.shape[2] > scores.shape[2]:
        raise ValueError(
            f"expert_indices must have shape ({scores.shape[0]}, {scores.shape[1]}, "
            f"k <= {scores.shape[2]}), one row of experts per token of scores, got "
            f"{tuple(indices.shape)}"
        )
    host = validate.host_values(indices)
    if host is not None and host.shape[2] > 1:
        repeated = np.diff(np.sort(host, axis=-1), axis=-1) == 0  # (B, T, K - 1)
        if repeated.any():
            seq, tok = (int(i) for i in np.argwhere(repeated.any(-1))[0])
            raise ValueError(
                "expert_indices must name k distinct experts per token (as top-k does), got "
                f"{host[seq, tok].tolist()} at sequence {seq}, token {tok}"
            )
    return scores, indices


def check_params(params, config, framework: str = "numpy") -> dict:
    """A dict of exactly the weights of `config`, finite floats of the right shapes."""
    expected = param_shapes(config)
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of arrays, got {describe_value(params)}")
    if set(params) != set(expected):
        raise ValueError(f"params must have the keys {sorted(expected)}, got {sorted(params)}")
    checked = {}
    for key, shape in expected.items():
        shared = key.startswith("shared")  # n_shared = 0 leaves the shared weights empty
        value = validate.array(
            f"params[{key!r}]", params[key], framework=framework, nonempty=not shared
        )
        if tuple(value.shape) != shape:
            raise ValueError(f"params[{key!r}] must have shape {shape}, got {tuple(value.shape)}")
        checked[key] = value
    return checked


def param_shapes(config) -> dict[str, tuple[int, ...]]:
    """The weight shapes of an MoE layer: router (D, E), shared (S, D, F) and routed (E, D, F)."""
    d, f, e, s = config.d_model, config.d_expert, config.n_routed, config.n_shared
    return {
        "router": (d, e),
        "shared_w1": (s, d, f),
        "shared_w3": (s, d, f),
        "shared_w2": (s, f, d),
        "w1": (e, d, f),
        "w3": (e, d, f),
        "w2": (e, f, d),
    }


def check_update_bias(bias, expert_load, gamma):
    """The arguments of `update_bias`: a bias vector, a load of its shape, gamma >= 0."""
    bias = validate.array("bias", bias, ndim=1)
    load = check_load(expert_load)
    if load.shape != bias.shape:
        raise ValueError(f"expert_load must have shape {bias.shape}, got {load.shape}")
    return bias, load, check_gamma(gamma)


def check_layer_input(x, config, like):
    """x (..., d_model): a floating torch tensor of the layer's dtype and device (`like`)."""
    x = validate.array("x", x, framework="torch", min_ndim=1)
    if x.shape[-1] != config.d_model:
        raise ValueError(f"x must have shape (..., {config.d_model}), got {tuple(x.shape)}")
    if (x.dtype, x.device) != (like.dtype, like.device):
        raise TypeError(
            f"x must have the layer's dtype {like.dtype} and device {like.device}, "
            f"got {x.dtype} on {x.device}"
        )
    return x


def check_expert_parallel(params, x, mesh, config, bias):
    """The arguments of `expert_parallel_moe`: a 1-D mesh whose size divides the experts and
    the tokens of x (T, d_model)."""
    from jax.sharding import Mesh

    config = check_config(config)
    params = check_params(params, config, framework="jax")
    x = validate.array("x", x, framework="jax", ndim=2)
    check_tokens(x, config, framework="jax")
    bias = check_bias(bias, config.n_routed, framework="jax")
    validate.instance("mesh", mesh, Mesh, "a jax.sharding.Mesh")
    if len(mesh.axis_names) != 1:
        raise ValueError(f"mesh must have one axis, got axes {mesh.axis_names}")
    n = mesh.devices.size
    if config.n_routed % n or x.shape[0] % n:
        raise ValueError(
            f"mesh has {n} devices: they must divide n_routed={config.n_routed} and the "
            f"{x.shape[0]} tokens of x"
        )
    return params, x, config, bias


def check_tokens(x, config, framework: str = "numpy"):
    """x of shape (..., d_model), floating and finite."""
    x = validate.array("x", x, framework=framework, min_ndim=1)
    if x.shape[-1] != config.d_model:
        raise ValueError(f"x must have shape (..., {config.d_model}), got {tuple(x.shape)}")
    return x
