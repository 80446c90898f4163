"""Where a Pallas kernel runs, and how it is called there: one source, three targets.

A Pallas kernel (`jax.experimental.pallas`) is lowered differently for each target:

- "interpret": Pallas' interpreter, on any backend (the CPU in tests and CI);
- "gpu": Triton on an NVIDIA GPU. JAX 0.10 lowers `pallas_call` through Mosaic GPU unless the
  call passes Triton's compiler parameters, and the course's kernels are written for Triton
  (they load pages and K-blocks from global memory inside the loop, as Triton does); so a GPU
  call always passes `jax.experimental.pallas.triton.CompilerParams`;
- "tpu": Mosaic on a TPU, where scalars that index memory (a page table, lengths) live in SMEM
  and a block's last two dimensions must be multiples of (8, 128) or whole.

`lower_for` lowers a jitted call for a platform that this machine need not have (JAX's
cross-platform lowering): the CPU tests use it to check that both kernels lower to Triton for
CUDA and to Mosaic for a TPU. Lowering is not compiling: what the GPU's compiler (register and
shared-memory limits) or the TPU's (VMEM) would still refuse is only found on the device.
"""

from __future__ import annotations

from labs.common import validate

__all__ = ["TARGETS", "call_options", "lower_for", "resolve_target"]

TARGETS = ("interpret", "gpu", "tpu")


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


def lower_for(function, args, platform: str, tpu_kind: str = "TPU v5 lite") -> str:
    """The StableHLO text of `jax.jit(function)(*args)` lowered for `platform` ("cuda", "tpu").

    `args` is a tuple of arrays or `jax.ShapeDtypeStruct`s: nothing runs or is allocated. A TPU
    lowering needs a TPU generation (its lanes and memories): `tpu_kind` names one as JAX spells
    it ("TPU v5 lite" is a v5e, "TPU v6 lite" a v6e).
    """
    import contextlib

    import jax
    from jax import export
    from jax._src import mesh as mesh_lib

    if not callable(function):
        raise TypeError(f"function must be callable, got {validate.describe_value(function)}")
    if not isinstance(args, tuple):
        raise TypeError(f"args must be a tuple of arrays or shapes, got {type(args).__name__}")
    if platform not in ("cuda", "tpu"):
        raise ValueError(f"platform must be 'cuda' or 'tpu', got {platform!r}")
    tpu_kind = validate.text("tpu_kind", tpu_kind)
    context = contextlib.nullcontext()
    if platform == "tpu":
        device = mesh_lib.AbstractDevice(device_kind=tpu_kind, num_cores=1, platform="tpu")
        mesh = jax.sharding.AbstractMesh((1,), ("x",), abstract_device=device)
        context = jax.sharding.use_abstract_mesh(mesh)
    triton = export.DisabledSafetyCheck.custom_call("__gpu$xla.gpu.triton")
    with context:
        exported = export.export(jax.jit(function), platforms=[platform], disabled_checks=[triton])(
            *args
        )
    return exported.mlir_module()
