"""Where a Pallas kernel runs, and how it is called there: one source, three targets.

A Pallas kernel (`jax.experimental.pallas`) is lowered differently for each target:

- "interpret": Pallas' interpreter, on any backend (the CPU in tests and CI);
- "gpu": Triton on an NVIDIA GPU. The course's kernels are written for Triton (they load pages
  and K-blocks from global memory inside the loop, as Triton does). JAX 0.10 lowers a
  `pallas_call` through Mosaic GPU unless the call passes Triton's compiler parameters; JAX 0.11
  and later lower every `pallas_call` for a GPU through Triton (`bare_call_gpu_backend` says
  which the installed JAX does). So a GPU call always passes
  `jax.experimental.pallas.triton.CompilerParams`, which keeps it on Triton under either (JAX
  0.11 and later warn that Pallas' Triton back end is deprecated);
- "tpu": Mosaic on a TPU, where scalars that index memory (a page table, lengths) live in SMEM
  and a block's last two dimensions must be multiples of (8, 128) or whole.

`lower_for` lowers a jitted call for a platform that this machine need not have (JAX's
cross-platform lowering): the CPU tests use it to check that both kernels lower to Triton for
CUDA and to Mosaic for a TPU. Lowering is not compiling: what the GPU's compiler (register and
shared-memory limits) or the TPU's (VMEM) would still refuse is only found on the device.
"""

from __future__ import annotations

from labs.common import validate

__all__ = ["TARGETS", "bare_call_gpu_backend", "call_options", "lower_for", "resolve_target"]

TARGETS = ("interpret", "gpu", "tpu")
# The GPU a "cuda" lowering targets where JAX runs on no GPU here: compute capability 9.0, the
# one JAX 0.10 assumes by itself; JAX 0.11 and later must be told (an abstract device).
_ABSTRACT_GPU_KIND = "NVIDIA H100 80GB HBM3"


def resolve_target(interpret=None) -> str:
    """The target of a kernel call from its `interpret` argument and JAX's default backend.

    None interprets on a CPU and compiles elsewhere; True always interprets; False compiles,
    which needs a GPU or a TPU.
    """
    import jax

    backend = jax.default_backend()
    compiled = "tpu" if backend == "tpu" else "gpu"
    if interpret is None:
        return "interpret" if backend == "cpu" else compiled
    if validate.boolean("interpret", interpret):
        return "interpret"
    if backend == "cpu":
        raise ValueError(
            "interpret=False compiles the kernel, which needs a GPU or a TPU, but JAX's backend "
            "is the CPU: pass interpret=True (or None, which interprets on a CPU)"
        )
    return compiled


def call_options(target: str, num_warps: int | None = None) -> dict:
    """Keyword arguments of `pl.pallas_call` for `target` ("interpret", "gpu" or "tpu").

    `num_warps` is Triton's hint, the threads of one program / 32: None keeps its default,
    otherwise a power of two from 1 to 32. Other targets ignore it.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if num_warps is not None:
        num_warps = validate.power_of_two("num_warps", num_warps, maximum=32)
    if target == "interpret":
        return {"interpret": True}
    if target == "tpu":
        return {}
    from jax.experimental import pallas as pl

    try:  # JAX 0.6 and later
        from jax.experimental.pallas.triton import CompilerParams
    except ImportError:  # older JAX lowers pallas_call through Triton by default
        CompilerParams = getattr(pl, "TritonCompilerParams", None)  # noqa: N806
        if CompilerParams is None:
            return {}
    return {"compiler_params": CompilerParams(num_warps=num_warps)}


def bare_call_gpu_backend() -> str:
    """The back end that lowers, for an NVIDIA GPU, a `pallas_call` without compiler parameters.

    "mosaic_gpu" or "triton", as the installed JAX decides. JAX 0.10 follows its flag
    `jax_pallas_use_mosaic_gpu`, on by default (Mosaic GPU); JAX 0.11 has no such flag and lowers
    every `pallas_call` for a GPU through Triton (Mosaic GPU kernels are written with
    `plgpu.kernel` there). The flag is read, not the version number.
    """
    import jax

    try:
        uses_mosaic_gpu = jax.config.jax_pallas_use_mosaic_gpu
    except AttributeError:  # no flag: Triton is pallas_call's only GPU back end
        return "triton"
    return "mosaic_gpu" if uses_mosaic_gpu else "triton"


def _abstract_mesh(jax, device_kind: str, platform: str, num_cores: int | None):
    """A one-device mesh of a device this machine need not have, for lowering only."""
    try:  # jax.sharding.AbstractDevice where this JAX exports it; its private home otherwise
        abstract_device = jax.sharding.AbstractDevice
    except AttributeError:
        from jax._src.mesh import AbstractDevice as abstract_device
    device = abstract_device(device_kind=device_kind, num_cores=num_cores, platform=platform)
    mesh = jax.sharding.AbstractMesh((1,), ("x",), abstract_device=device)
    return jax.sharding.use_abstract_mesh(mesh)


def lower_for(function, args, platform: str, tpu_kind: str = "TPU v5 lite") -> str:
    """The StableHLO text of `jax.jit(function)(*args)` lowered for `platform` ("cuda", "tpu").

    `args` is a tuple of arrays or `jax.ShapeDtypeStruct`s: nothing runs or is allocated. A TPU
    lowering needs a TPU generation (its lanes and memories): `tpu_kind` names one as JAX spells
    it ("TPU v5 lite" is a v5e, "TPU v6 lite" a v6e). A "cuda" lowering targets the GPU JAX runs
    on; where JAX runs on none, an H100 (compute capability 9.0).
    """
    import contextlib

    import jax
    from jax import export

    if not callable(function):
        raise TypeError(f"function must be callable, got {validate.describe_value(function)}")
    if not isinstance(args, tuple):
        raise TypeError(f"args must be a tuple of arrays or shapes, got {type(args).__name__}")
    if platform not in ("cuda", "tpu"):
        raise ValueError(f"platform must be 'cuda' or 'tpu', got {platform!r}")
    tpu_kind = validate.text("tpu_kind", tpu_kind)
    context = contextlib.nullcontext()
    if platform == "tpu":
        context = _abstract_mesh(jax, tpu_kind, "tpu", num_cores=1)
    elif jax.default_backend() != "gpu":
        context = _abstract_mesh(jax, _ABSTRACT_GPU_KIND, "cuda", num_cores=None)
    triton = export.DisabledSafetyCheck.custom_call("__gpu$xla.gpu.triton")
    with context:
        exported = export.export(jax.jit(function), platforms=[platform], disabled_checks=[triton])(
            *args
        )
    return exported.mlir_module()
