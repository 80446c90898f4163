"""labs.bench.aot: the Triton kernels compiled for a Hopper GPU (sm_90) on this CPU, with ptxas's
report. The figures are Triton 3.8's (the pinned version); another Triton may allocate
differently, which is why the registry of limits, not these numbers, carries the claims."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
from labs.common import triton_setup  # noqa: E402

try:
    triton_setup.load()
except ImportError:
    pytest.skip("Triton is not installed (it is Linux-only)", allow_module_level=True)

from labs.bench.aot import (  # noqa: E402
    HOPPER_SHARED_BYTES,
    MAX_REGISTERS,
    T4_SHARED_BYTES,
    compile_for_gpu,
)
from labs.bench.run import SIZES  # noqa: E402


@pytest.fixture(scope="module")
def decode():
    """V3's widths, pages of 64 rows: the benchmark's variants, then one that cannot fit."""
    variants = [{"heads_per_block": hb, "num_warps": w} for hb, w in
                SIZES["gpu"]["decode_kernel"]["variants"]]  # fmt: skip
    return compile_for_gpu("mla_decode", [*variants, {"heads_per_block": 128, "num_warps": 8}])


def test_the_benchmarks_decode_variants_fit_a_hopper_program(decode):
    *benchmarked, _ = decode
    for row in benchmarked:
        assert row["shared_bytes"] <= HOPPER_SHARED_BYTES, row
        assert row["registers"] <= MAX_REGISTERS and row["spill_stores"] == 0, row


def test_only_the_tall_tile_gets_hoppers_warpgroup_mma(decode):
    """The benchmark's programs (16 and 32 heads) multiply with Ampere's mma.sync; the 128-head
    control, a tile of 128 query rows, gets Hopper's wgmma. A finding of Triton 3.8, not a wish:
    a kernel that fits the registers gives up Hopper's own instruction."""
    *benchmarked, control = decode
    assert not any(row["wgmma"] for row in benchmarked), benchmarked
    assert control["wgmma"], control


def test_flashmlas_64_row_tile_gets_wgmma_and_spills():
    """64 heads per program, FlashMLA's tile and one wgmma tall: it fits a Hopper program's
    shared memory and gets wgmma, but its 64 x 512 FP32 accumulator (128 registers a thread on
    8 warps) leaves Triton too few registers for the rest, and it spills (552 bytes a thread
    with Triton 3.8), where FlashMLA splits the output over two warpgroups by hand."""
    (row,) = compile_for_gpu("mla_decode", [{"heads_per_block": 64, "num_warps": 8}])
    assert row["wgmma"] and row["shared_bytes"] <= HOPPER_SHARED_BYTES, row
    assert row["registers"] == MAX_REGISTERS and row["spill_stores"] > 0, row


def test_all_128_heads_in_one_program_cannot_launch_on_hopper(decode):
    """The control: a (128 x 512) FP32 accumulator per program. Its shared memory passes the
    227 KB a Hopper thread block can address, so the launch would fail."""
    control = decode[-1]
    assert control["heads_per_block"] == 128
    assert control["shared_bytes"] > HOPPER_SHARED_BYTES, control


def test_the_fp8_gemm_uses_fp8_tensor_cores_on_hopper():
    variants = [{"block_m": m, "num_warps": w} for m, w in SIZES["gpu"]["gemm_kernel"]["variants"]]
    for row in compile_for_gpu("fp8_gemm", variants):
        assert row["fp8_mma"] and row["wgmma"], row  # an E4M3 warpgroup MMA in the PTX
        assert row["shared_bytes"] <= HOPPER_SHARED_BYTES, row
        assert row["spill_stores"] <= 64, row  # Triton 3.8: 8 bytes


def test_the_fp8_gemm_promotes_out_of_the_tensor_cores_when_asked():
    """Triton's default on sm_90 chains a K-block's four m64n64k32 E4M3 WGMMAs in the tensor
    cores' accumulator, V3's N_C = 128 (§3.3.2), with no FP32 addition between them;
    max_num_imprecise_acc=32 keeps the four WGMMAs and adds each one's partial sum into FP32 on
    the CUDA cores. The control: 0 asks for no reduced-precision accumulation at all, and Triton
    then leaves the FP8 tensor cores (it converts the codes to FP16 for Ampere's mma.sync)."""
    default, every, none = compile_for_gpu(
        "fp8_gemm",
        [{"num_warps": 8}, {"num_warps": 8, "max_num_imprecise_acc": 32},
         {"num_warps": 8, "max_num_imprecise_acc": 0}],
    )  # fmt: skip
    assert default["wgmma_count"] == every["wgmma_count"] == 128 // 32, (default, every)
    assert default["fp8_mma"] and every["fp8_mma"]
    assert default["f32_adds"] == 0 and every["f32_adds"] > 0, (default, every)
    assert not none["wgmma"] and not none["fp8_mma"], none


def test_an_a100_has_no_e4m3_tensor_cores():
    """The control: sm_80 (A100) has no FP8 E4M3 type, and Triton says so."""
    with pytest.raises(RuntimeError, match="fp8e4nv not supported"):
        compile_for_gpu("fp8_gemm", [{"num_warps": 4}], arch=80)


@pytest.mark.parametrize("arch", [75, 80, 89])
def test_the_small_gpu_decode_fits_a_t4_an_a100_and_an_l4(arch):
    """The decode variant of a run on a GPU other than Hopper ("gpu_small": a T4, an A100, an
    L4) compiles for Turing (sm_75), Ampere (sm_80) and Ada (sm_89) within a T4's 64 KB of
    shared memory per program, without spilling. The control: the H100 benchmark's 16 heads on
    8 warps, at pages of 64 rows, needs more shared memory than a T4 has (the CPU's single
    program of all 128 heads fits not even Hopper's: see the test above)."""
    small = SIZES["gpu_small"]["decode_kernel"]
    variants = [
        {"heads_per_block": hb, "num_warps": w, "block": small["block"]}
        for hb, w in small["variants"]
    ]
    *rows, control = compile_for_gpu(
        "mla_decode", [*variants, {"heads_per_block": 16, "num_warps": 8, "block": 64}], arch=arch
    )
    for row in rows:
        assert row["shared_bytes"] <= T4_SHARED_BYTES and row["spill_stores"] == 0, row
        assert row["registers"] <= MAX_REGISTERS, row
    if arch == 75:  # Triton 3.8: 50 KB for the small variant, 164 KB for the control
        assert control["shared_bytes"] > T4_SHARED_BYTES, control


def test_an_a100_decode_has_no_warpgroup_mma():
    """The control of the wgmma flag: sm_80 has no wgmma, so even the 128-head tile lacks it."""
    (row,) = compile_for_gpu("mla_decode", [{"heads_per_block": 128, "num_warps": 8}], arch=80)
    assert not row["wgmma"], row


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"kernel": "gemm", "variants": [{}]}, ValueError, "kernel"),
        ({"kernel": "fp8_gemm", "variants": [{}], "arch": 70}, ValueError, "arch"),
        ({"kernel": "fp8_gemm", "variants": []}, ValueError, "variants"),
        ({"kernel": "fp8_gemm", "variants": [{"rows": 64}]}, ValueError, "unknown keys"),
        ({"kernel": "fp8_gemm", "variants": [{"block_m": 48}]}, ValueError, "power of two"),
        (
            {"kernel": "fp8_gemm", "variants": [{"max_num_imprecise_acc": -32}]},
            ValueError,
            "max_num_imprecise_acc",
        ),
        (  # more than the K-block the dot contracts
            {"kernel": "fp8_gemm", "variants": [{"block": 64, "max_num_imprecise_acc": 128}]},
            ValueError,
            "max_num_imprecise_acc",
        ),
        ({"kernel": "mla_decode", "variants": [{"heads_per_block": 256}]}, ValueError, "divide"),
        ({"kernel": "mla_decode", "variants": [{"dtype": "float16"}]}, ValueError, "dtype"),
        ({"kernel": "mla_decode", "variants": ["fast"]}, TypeError, "variants"),
    ],
)
def test_bad_requests_are_refused_before_compiling(kwargs, error, match):
    with pytest.raises(error, match=match):
        compile_for_gpu(**kwargs)


def test_without_triton_it_says_so_as_an_import_error(monkeypatch):
    # A machine without Triton (macOS, a CPU-only torch): the chapter skips on ImportError, so
    # the missing module must not surface as the child process's RuntimeError.
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "triton" else real(name, *a)
    )
    with pytest.raises(ImportError, match="needs Triton"):
        compile_for_gpu("fp8_gemm", [{"block_m": 64, "num_warps": 8}])


def test_one_compiler_process_serves_every_call(decode):
    from labs.bench import aot

    pid = aot._COMPILER.proc.pid  # the process the module's fixture compiled in
    compile_for_gpu("mla_decode", [{"heads_per_block": 16, "num_warps": 8}])
    assert aot._COMPILER.proc.pid == pid and aot._COMPILER.proc.poll() is None
