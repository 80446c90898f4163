"""Valid calls for chapter 3 (labs.mla): one small call per public callable (see harness.py).

Every config is tiny (d_model 8, two heads of 4) so that the walker's hundreds of hostile calls
run in seconds.
"""

from __future__ import annotations

import numpy as np

from labs.mla import AttentionConfig
from tests.hostile.harness import call

MLA = AttentionConfig(
    kind="mla",
    n_layers=1,
    d_model=8,
    n_heads=2,
    head_dim=4,
    kv_lora_rank=6,
    q_lora_rank=5,
    rope_head_dim=2,
)
GQA = AttentionConfig(kind="gqa", n_layers=1, d_model=8, n_heads=2, head_dim=4, n_kv_heads=1)
X = np.random.default_rng(0).standard_normal((1, 3, 8))
ROPE_X = np.random.default_rng(1).standard_normal((1, 3, 2, 4))


def _params(config=MLA):
    from labs.mla import init_params

    return init_params(config, seed=0)


def _np_cache():
    from labs.mla import new_cache

    return new_cache(MLA, batch=1, max_len=4)


def _torch_module(cls=None):
    import torch

    from labs.mla import torch as mla_torch

    cls = cls or mla_torch.MultiHeadLatentAttention
    config = MLA if cls is mla_torch.MultiHeadLatentAttention else GQA
    return cls(config).to(torch.float64).load_params(_params(config))


def _torch_x():
    import torch

    return torch.from_numpy(X.copy())


def _jax_params():
    import jax.numpy as jnp

    return {k: jnp.asarray(v, jnp.float32) for k, v in _params().items()}


def _jax_x():
    import jax.numpy as jnp

    return jnp.asarray(X, jnp.float32)


def _jax_cache():
    from labs.mla import jax as mla_jax

    return mla_jax.new_cache(MLA, 1, 4)


def _forward_mla():
    module = _torch_module()
    return call(module.forward, x=_torch_x(), cache=module.new_cache(1, 4), absorbed=True)


def _forward_gqa():
    from labs.mla import torch as mla_torch

    module = _torch_module(mla_torch.GroupedQueryAttention)
    return call(module.forward, x=_torch_x(), cache=module.new_cache(1, 4))


def _torch_rope():
    import torch

    return call(
        x=torch.from_numpy(ROPE_X.copy()), positions=torch.arange(3), base=10000.0, interleaved=True
    )


def _jax_rope():
    import jax.numpy as jnp

    return call(
        x=jnp.asarray(ROPE_X, jnp.float32), positions=jnp.arange(3), base=10000.0, interleaved=True
    )


def _torch_cache_filled():
    module = _torch_module()
    return call(module.new_cache(1, 4).filled, name="c_kv")


def _student_bytes(
    kind, n_layers, n_kv_heads, head_dim, kv_lora_rank=0, rope_head_dim=0, fp8_tile=0
):
    def stored(n):
        return 2 * n if fp8_tile == 0 else n + 4 * -(-n // fp8_tile)

    if kind == "mla":
        return n_layers * (stored(kv_lora_rank) + 2 * rope_head_dim)
    return n_layers * 2 * n_kv_heads * stored(head_dim)


def _student_repeat_kv(k, n_heads):
    return np.repeat(k, n_heads // k.shape[1], axis=1)


def _student_scores(q, w_uk, c_kv):
    return np.einsum("chd,hd->hc", w_uk, q) @ c_kv.T


def _student_bound(config, tensor_parallel, peak_flops_per_s, peak_bytes_per_s):
    return "memory"


def _torch_dtype():
    import torch

    return torch.float32


_SINGLE_HEAD = dict(
    q=np.random.default_rng(2).standard_normal(4),
    w_uk=np.random.default_rng(3).standard_normal((6, 4)),
    c_kv=np.random.default_rng(4).standard_normal((5, 6)),
    q_position=4,
)

EXAMPLES = {
    # configuration, formulas (labs.mla.config, labs.mla.cache_size)
    "labs.mla.config.AttentionConfig": lambda: call(
        kind="mla",
        n_layers=2,
        d_model=8,
        n_heads=2,
        head_dim=4,
        kv_lora_rank=6,
        q_lora_rank=5,
        rope_head_dim=2,
    ),
    "labs.mla.config.param_shapes": lambda: call(config=MLA),
    "labs.mla.config.cache_shapes": lambda: call(config=MLA, batch=2, max_len=16),
    "labs.mla.cache_size.kv_cache_elements_per_layer": lambda: call(config=MLA),
    "labs.mla.cache_size.kv_cache_elements_per_token": lambda: call(config=GQA),
    "labs.mla.cache_size.kv_cache_bytes_per_token": lambda: call(config=MLA, bits_per_element=6.0),
    "labs.mla.cache_size.kv_cache_bytes": lambda: call(
        config=MLA, tokens=4096, batch=2, bits_per_element=16.0
    ),
    "labs.mla.cache_size.equivalent_gqa_groups": lambda: call(config=MLA),
    # cost model (labs.mla.cost)
    "labs.mla.cost.attention_flops_and_bytes": lambda: call(
        config=MLA, phase="decode", context=64, batch=2, absorbed=False, bits_per_element=8.0
    ),
    "labs.mla.cost.mla_cache_bytes_per_layer": lambda: call(
        config=MLA, latent_bits=8.0, rope_bits=16.0, scale_bits=32.0, scale_tile=3
    ),
    "labs.mla.cost.absorption_costs": lambda: call(config=MLA),
    "labs.mla.cost.roofline_seconds": lambda: call(
        flops=1e9, nbytes=1e6, peak_flops_per_s=1e12, peak_bytes_per_s=1e11
    ),
    "labs.mla.cost.max_batch_throughput": lambda: call(
        config=MLA,
        context=64,
        memory_bytes=1e9,
        weight_bytes=1e8,
        active_params=5e7,
        peak_flops_per_s=1e12,
        peak_bytes_per_s=1e11,
        bits_per_element=6.0,
        tensor_parallel=2,
    ),
    # NumPy reference
    "labs.mla.reference.init_params": lambda: call(config=MLA, seed=3, dtype=np.float32),
    "labs.mla.rope.apply_rope": lambda: call(
        x=ROPE_X, positions=np.arange(3), base=500.0, interleaved=True
    ),
    "labs.mla.reference.attention": lambda: call(params=_params(), config=MLA, x=X),
    "labs.mla.reference.absorb_weights": lambda: call(params=_params(), config=MLA),
    "labs.mla.reference.new_cache": lambda: call(config=MLA, batch=1, max_len=4, dtype=np.float32),
    "labs.mla.reference.KVCache": lambda: call(
        config=MLA,
        arrays={"c_kv": np.zeros((1, 4, 6)), "k_rope": np.zeros((1, 4, 2))},
        length=1,
    ),
    "labs.mla.reference.decode": lambda: call(
        params=_params(), config=MLA, x=X, cache=_np_cache(), absorbed=True
    ),
    "labs.mla.rope.coupled_rope_scores": lambda: call(**_SINGLE_HEAD),
    "labs.mla.rope.scores_absorbed_without_rotation": lambda: call(**_SINGLE_HEAD),
    # PyTorch
    "labs.mla.torch.apply_rope": _torch_rope,
    "labs.mla.torch.attention_module": lambda: call(config=GQA),
    "labs.mla.torch.GroupedQueryAttention": lambda: call(config=GQA),
    "labs.mla.torch.MultiHeadLatentAttention": lambda: call(config=MLA),
    # dtype fixed: the walker's array test calls `value.is_floating_point()` on a torch.dtype,
    # whose is_floating_point is a property (TypeError inside the harness). Bad dtypes are
    # covered in tests/mla/test_bad_input.py instead.
    "labs.mla.torch.KVCache": lambda: call(
        config=MLA, batch=1, max_len=4, dtype=_torch_dtype(), device="cpu", fixed=("dtype",)
    ),
    "labs.mla.torch.KVCache.filled": _torch_cache_filled,
    "labs.mla.torch.GroupedQueryAttention.forward": _forward_gqa,
    "labs.mla.torch.MultiHeadLatentAttention.forward": _forward_mla,
    "labs.mla.torch.MultiHeadLatentAttention.load_params": lambda: call(
        _torch_module().load_params, params=_params()
    ),
    "labs.mla.torch.MultiHeadLatentAttention.new_cache": lambda: call(
        _torch_module().new_cache, batch=2, max_len=8
    ),
    "labs.mla.torch.MultiHeadLatentAttention.absorbed_weights": lambda: call(
        _torch_module().absorbed_weights
    ),
    # JAX
    "labs.mla.jax.apply_rope": _jax_rope,
    "labs.mla.jax.attention": lambda: call(params=_jax_params(), config=MLA, x=_jax_x()),
    "labs.mla.jax.absorb_weights": lambda: call(params=_jax_params(), config=MLA),
    "labs.mla.jax.new_cache": lambda: call(config=MLA, batch=1, max_len=4),
    "labs.mla.jax.decode": lambda: call(
        params=_jax_params(), config=MLA, x=_jax_x(), cache=_jax_cache(), absorbed=True
    ),
    # benchmark
    "labs.mla.benchmark.bench_configs": lambda: call(d_model=16, n_heads=4, head_dim=4),
    "labs.mla.heads_sweep.heads_sweep": lambda: call(
        heads=(4, 8), context=8, rounds=1, steps=1, repeats=1, device="cpu", show_progress=False
    ),
    "labs.mla.heads_sweep.product_ceilings": lambda: call(
        heads=(4, 8), context=16, latent=8, batch=1
    ),
    "labs.mla.heads_sweep.paired_growth": lambda: call(
        speedup={8: [0.9, 1.0], 32: [1.4, 1.6]}, low=8, high=32
    ),
    "labs.mla.heads_sweep.load_heads_sweep": lambda: call(path=None),
    "labs.mla.heads_sweep.load_heads_sweep_records": lambda: call(),
    "labs.mla.heads_sweep.cpu_environment": lambda: call(),
    "labs.mla.benchmark.absorbed_roof_rounds": lambda: call(
        config=MLA, context=8, batch=1, steps=1, rounds=1, repeats=1
    ),
    "labs.mla.benchmark.batched_product_flops": lambda: call(
        rows=4, inner=8, cols=16, batch=2, repeats=1, clock="cpu", seed=0
    ),
    "labs.mla.benchmark.decode_benchmark": lambda: call(
        config=MLA,
        context=4,
        batch=1,
        steps=1,
        absorbed=True,
        device="cpu",
        repeats=1,
        seed=0,
        cpu_threads=1,
    ),
    "labs.mla.benchmark.measure_device_limits": lambda: call(
        device="cpu", cpu_threads=1, repeats=1
    ),
    # A check takes whatever the student wrote: tests/common/test_exercises_hostile.py attacks it.
    "labs.mla.exercises.check_cache_bytes_per_token": lambda: call(
        fn=_student_bytes, fixed=("fn",)
    ),
    "labs.mla.exercises.check_repeat_kv": lambda: call(fn=_student_repeat_kv, fixed=("fn",)),
    "labs.mla.exercises.check_absorbed_scores": lambda: call(fn=_student_scores, fixed=("fn",)),
    "labs.mla.exercises_bound.check_decode_bound": lambda: call(fn=_student_bound, fixed=("fn",)),
    # widgets
    "labs.mla.widgets.plot_cache": lambda: call(
        configs={"tiny MLA": MLA, "tiny GQA": GQA}, tokens=1024, batch=2, bits_per_element=8.0
    ),
    "labs.mla.widgets.cache_calculator": lambda: call(configs={"tiny MLA": MLA}),
}

_FORMULA = "a formula over Python ints: a huge count allocates nothing and cannot overflow"
_SEED = "a seed in [0, 2**62] is valid (labs.common.validate.seed); 10**15 is one"

# (key, parameter, mutation) -> why this hostile class is a legitimate input there.
ACCEPTED: dict[tuple[str, str, str], str] = {
    ("labs.mla.cache_size.kv_cache_bytes", "tokens", "huge-int"): _FORMULA,
    ("labs.mla.cache_size.kv_cache_bytes", "batch", "huge-int"): _FORMULA,
    ("labs.mla.cost.roofline_seconds", "flops", "huge-int"): _FORMULA,
    ("labs.mla.cost.roofline_seconds", "nbytes", "huge-int"): _FORMULA,
    ("labs.mla.cost.roofline_seconds", "peak_flops_per_s", "huge-int"): _FORMULA,
    ("labs.mla.cost.roofline_seconds", "peak_bytes_per_s", "huge-int"): _FORMULA,
    ("labs.mla.widgets.plot_cache", "tokens", "huge-int"): _FORMULA + " (bars in GiB)",
    ("labs.mla.widgets.plot_cache", "batch", "huge-int"): _FORMULA + " (bars in GiB)",
    ("labs.mla.reference.init_params", "seed", "huge-int"): _SEED,
    ("labs.mla.benchmark.decode_benchmark", "seed", "huge-int"): _SEED,
    (
        "labs.mla.benchmark.batched_product_flops",
        "seed",
        "huge-int",
    ): _SEED,
}


# --- The Pallas decode kernel (labs.mla.pallas): a paged cache, so the table is attacked too --
def _pallas_decode():
    rng = np.random.default_rng(0)
    f32 = np.float32
    return call(
        q_latent=rng.standard_normal((2, 4, 16)).astype(f32),
        q_rope=rng.standard_normal((2, 4, 4)).astype(f32),
        c_kv=rng.standard_normal((5, 4, 16)).astype(f32),  # a pool of 5 pages of 4 rows
        k_rope=rng.standard_normal((5, 4, 4)).astype(f32),
        lengths=np.array([6, 3], np.int32),
        scale=0.25,
        block=4,
        splits=2,
        block_table=np.array([[4, 0], [2, 1]], np.int32),
        heads_per_block=2,
        interpret=True,
    )


EXAMPLES["labs.mla.pallas.mla_decode"] = _pallas_decode


# --- The Triton decode kernel (labs.mla.triton): the same paged call over torch tensors ---------
def _triton_decode():
    import torch

    example = _pallas_decode()
    tensors = {
        k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
        for k, v in example.kwargs.items()
        if k != "interpret"
    }
    return call(**tensors, num_warps=4)


EXAMPLES["labs.mla.triton.mla_decode"] = _triton_decode
