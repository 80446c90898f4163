"""labs.bench.run on the CPU: the JSON it writes, kernels checked against references, and a
failing kernel recorded as an error while the others still run."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("jax")
pytest.importorskip("torch")

from labs.bench import decode, gemm, load_results  # noqa: E402
from labs.bench.run import main, run_benchmarks, write_results  # noqa: E402
from labs.bench.timing import _timer  # noqa: E402
from labs.common.runtime import processor_name  # noqa: E402


@pytest.fixture
def jax_on_the_gpu(monkeypatch):
    """The GPU branch run on this CPU as on a GPU machine whose JAX sees the GPU: JAX's compiled
    kernels then fail here, and say so in their rows, while the rest runs."""
    from labs.bench import timing

    monkeypatch.setattr(timing, "_jax_measures", lambda kind: True)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "tiny.json"
    assert main(["--out", str(path), "--sizes", "tiny", "--repeats", "1"]) == 0
    assert [p.name for p in path.parent.iterdir()] == ["tiny.json"]  # no partial file left
    return json.loads(path.read_text())


def test_json_names_the_device_the_versions_and_the_command(written):
    assert written["command"] == "python -m labs.bench --out " + written["command"].split()[4] + (
        " --sizes tiny --repeats 1"
    )
    assert written["device"]["kind"] == "cpu" and written["device"]["peaks"] is None
    assert written["device"]["name"] == processor_name()  # a CPU timing names its processor
    assert set(written["versions"]) >= {"python", "torch", "jax", "numpy"}
    assert "interpret" in written["note"] and written["targets"] == "not measured: no GPU"
    assert written["complete"] is True


def test_every_kernel_ran_and_the_kernels_agree_with_their_references(written):
    (case,) = written["mla_decode"]
    assert (case["batch"], case["context"], case["heads"], case["latent"]) == (1, 256, 128, 512)
    rows = case["kernels"]
    assert set(rows) == {"pallas_hb128", "einsum_jax", "einsum_torch", "sdpa_torch"}
    for name, row in rows.items():
        assert row["seconds"] > 0, name
        assert row["rel_error"] < 1e-4, name  # float32 against NumPy float64
    assert rows["pallas_hb128"]["mode"].startswith("interpret")
    (case,) = written["fp8_gemm"]
    pallas = case["kernels"]["pallas_fp8"]
    assert pallas["rel_error_vs_fp8_reference"] < 1e-5  # same codes and scales, float32 sums
    # FP8's own rounding: far above float32's, far below a wrong scale's
    assert 1e-3 < pallas["rel_error"] < 0.1
    assert case["kernels"]["bf16_torch"]["rel_error"] < pallas["rel_error"]  # BF16 is finer


def test_a_failing_kernel_becomes_an_error_row(monkeypatch):
    def broken(*args):
        raise RuntimeError("no such kernel on this device")

    monkeypatch.setattr(decode, "_sdpa_decode_torch", broken)
    monkeypatch.setattr(gemm, "_bf16_dot", broken)
    kernel = {"block": 64, "variants": ((None, None),), "min_programs": 1}
    case = decode._decode_case("cpu", 1, 64, kernel, None, _timer("cpu", 1), 0)
    assert case["kernels"]["sdpa_torch"] == {"error": "RuntimeError: no such kernel on this device"}
    assert case["kernels"]["einsum_torch"]["seconds"] > 0  # the others still ran
    assert not any("sdpa" in k for k in case["ratios"])
    kernel = {"block": 128, "variants": ((64, None),)}
    case = gemm._gemm_case("cpu", 128, 128, 128, kernel, None, _timer("cpu", 1), 0)
    assert "error" in case["kernels"]["bf16_jax"] and "seconds" in case["kernels"]["pallas_fp8"]


def test_committed_cpu_results_are_complete():
    results = load_results("cpu")
    assert results["device"]["kind"] == "cpu" and results["command"].startswith(
        "python -m labs.bench"
    )
    assert "(cpu family" in results["device"]["name"]  # the processor, with its numbers
    for section in ("mla_decode", "fp8_gemm"):
        for case in results[section]:
            assert all("seconds" in row or "error" in row for row in case["kernels"].values())


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: run_benchmarks("tpu"), "sizes"),
        (lambda: run_benchmarks("tiny", repeats=0), "repeats"),
        (lambda: run_benchmarks("tiny", seed=-1), "seed"),
        (lambda: write_results([], "x.json"), "results"),
        (lambda: load_results("h100_never_run"), "name"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_a_failing_size_is_recorded_and_each_size_is_saved_as_it_ends(monkeypatch, jax_on_the_gpu):
    from labs.bench import run

    def out_of_memory(*args):
        raise MemoryError("the cache does not fit")

    monkeypatch.setattr(run, "_decode_case", out_of_memory)
    saved = []  # each checkpoint as the file would hold it then
    checkpoint = lambda results: saved.append(json.loads(json.dumps(results)))  # noqa: E731
    results = run._run_benchmarks("gpu", "NVIDIA H200", "tiny", 1, 0, checkpoint=checkpoint)
    assert results["mla_decode"] == [
        {"shape": [1, 256], "error": "MemoryError('the cache does not fit')"}
    ]
    assert "pallas_fp8" in results["fp8_gemm"][0]["kernels"]  # the GEMM still ran
    assert len(saved) == 2  # after the GEMM size, after the decode size
    # a run cut short after the GEMM leaves a file that says so and judges what it measured
    assert saved[0]["complete"] is False and list(saved[0]["targets"]) == ["fp8 gemm 128x128x128"]
    assert saved[0]["mla_decode"] == [] and results["complete"] is True


def test_the_gpu_variants_run_in_interpret_mode():
    """The GPU sizes' variants (blocks of heads, a warp count for Triton) are the same kernels:
    here, interpreted, they must agree with the references too."""
    kernel = {"block": 64, "variants": ((64, 8),), "min_programs": 4}
    case = decode._decode_case("cpu", 1, 128, kernel, None, _timer("cpu", 1), 1)
    row = case["kernels"]["pallas_hb64_w8"]
    assert (row["heads_per_block"], row["splits"], row["rel_error"] < 1e-5) == (64, 2, True)
    kernel = {"block": 128, "variants": ((128, 8),)}
    case = gemm._gemm_case("cpu", 128, 128, 256, kernel, None, _timer("cpu", 1), 1)
    assert case["kernels"]["pallas_fp8_m128_w8"]["rel_error_vs_fp8_reference"] < 1e-5


def test_targets_are_judged_on_the_best_variant():
    """Hand-made GPU figures: 70% of the roofline and 5x the einsum meet the decode targets,
    a GEMM 1.2x the BF16 one misses its target."""
    from labs.bench.run import _verdicts

    fast = {"seconds": 1.0, "pct_roofline": 70.0}
    slow = {"seconds": 2.0, "pct_roofline": 35.0}
    results = {
        "mla_decode": [
            {
                "batch": 32,
                "context": 4096,
                "kernels": {
                    "pallas_hb16_w4": slow,
                    "pallas_hb64_w8": fast,
                    "einsum_torch": {"seconds": 5.0},
                },
            },
            {"batch": 128, "context": 4096, "kernels": {"pallas_hb16_w4": {"error": "x"}}},
        ],
        "fp8_gemm": [
            {
                "m": 8192,
                "n": 8192,
                "k": 8192,
                "kernels": {
                    "pallas_fp8_m64_w4": {"seconds": 1.0, "rel_error_vs_fp8_reference": 1e-4},
                    "bf16_torch": {"seconds": 1.2},
                },
            }
        ],
    }
    verdicts = _verdicts(results)
    assert verdicts["decode B=32 S=4096"] == "met: 70% of roofline, 5.0x"
    assert verdicts["decode B=128 S=4096"] == "no figure"
    assert verdicts["fp8 gemm 8192x8192x8192"].startswith("missed: 1.20x BF16")


def test_the_gpu_path_on_a_cpu_keeps_going_and_says_why(jax_on_the_gpu):
    """The GPU branch (bf16, compiled Pallas, registry peaks) run where it cannot compile: the
    Pallas rows hold the compiler's reason, the baselines get shares of the H200's roofline."""
    from labs.bench import run

    results = run._run_benchmarks("gpu", "NVIDIA H200", "tiny", 1, 0)
    (case,) = results["mla_decode"]
    assert case["kernels"]["pallas_hb128"]["error"].split(":")[0].endswith("Error")
    assert "For simplicity" not in case["kernels"]["pallas_hb128"]["error"]
    assert case["roofline"]["bound"] == "memory"  # B=1, S=256: the queries weigh in
    assert 0 < case["kernels"]["einsum_torch"]["pct_roofline"] < 100
    assert case["kernels"]["einsum_torch"]["dtype"] == "bfloat16"
    assert results["targets"] == {
        "decode B=1 S=256": "no figure",
        "fp8 gemm 128x128x128": "no figure",
    }


def test_every_gpu_configuration_of_the_benchmark_lowers_for_cuda():
    """What `tools/gpu_check.sh` will compile, lowered here first at the GPU sizes (abstract
    shapes: nothing is allocated): each decode variant at batch 32/128 and context 4K/32K, each
    GEMM variant at 8192^3, all through Triton. A session with a GPU should not spend its
    minutes on a kernel that could not even lower."""
    import re

    import jax
    import jax.numpy as jnp

    from labs.bench.decode import V3_WIDTHS, _kernel_variants
    from labs.bench.run import SIZES
    from labs.common.pallas import lower_for
    from labs.fp8.pallas import _block_scaled_matmul
    from labs.mla.pallas import _mla_decode_paged

    sd, gpu = jax.ShapeDtypeStruct, SIZES["gpu"]
    heads, latent, rope = V3_WIDTHS["heads"], V3_WIDTHS["latent"], V3_WIDTHS["rope"]
    kernel, lowered = gpu["decode_kernel"], 0
    for batch, context in gpu["decode"]:
        pages = context // kernel["block"]
        args = (
            sd((batch, heads, latent), jnp.bfloat16),
            sd((batch, heads, rope), jnp.bfloat16),
            sd((batch * pages, kernel["block"], latent), jnp.bfloat16),
            sd((batch * pages, kernel["block"], rope), jnp.bfloat16),
            sd((batch,), jnp.int32),
            sd((batch, pages), jnp.int32),
        )
        for hb, splits, warps in _kernel_variants(batch, context, heads, kernel):
            text = lower_for(
                lambda *a, hb=hb, splits=splits, warps=warps: _mla_decode_paged(
                    *a, 0.07, splits, hb, "gpu", warps
                ),
                args,
                platform="cuda",
            )
            grid = [int(g) for g in re.findall(r"grid_[xyz] = (\d+)", text)]
            assert grid == [heads // hb, batch, splits] and batch * heads // hb * splits >= 256
            lowered += 1
    (m, n, k), block = gpu["gemm"][0], gpu["gemm_kernel"]["block"]
    args = (
        sd((m, k), jnp.float8_e4m3fn),
        sd((m, k // block), jnp.float32),
        sd((k, n), jnp.float8_e4m3fn),
        sd((k // block, n // block), jnp.float32),
    )
    for block_m, warps in gpu["gemm_kernel"]["variants"]:
        text = lower_for(
            lambda *a, block_m=block_m, warps=warps: _block_scaled_matmul(
                *a, block, block_m, "gpu", warps
            ),
            args,
            platform="cuda",
        )
        assert [int(g) for g in re.findall(r"grid_[xyz] = (\d+)", text)] == [
            m // block_m,
            n // block,
            1,
        ]
        lowered += 1
    assert lowered == len(gpu["decode"]) * len(kernel["variants"]) + len(
        gpu["gemm_kernel"]["variants"]
    )


def test_the_gpu_only_triton_rows_run_in_the_interpreter():
    """The Triton rows that only a GPU run times, called here through Triton's interpreter at a
    small size: names, arguments and results are right before a GPU session spends time on them."""
    from labs.common import triton_setup

    try:  # the course's loader, not importorskip: it must pick the interpreter before the import
        triton_setup.load()
    except ImportError:
        pytest.skip("Triton is not installed (it is Linux-only)")
    import jax.numpy as jnp
    import numpy as np
    import torch

    from labs.bench import decode, gemm
    from labs.fp8.reference import fp8_matmul
    from labs.mla.pallas import mla_decode

    rng = np.random.default_rng(0)
    b, h, c, r, s = 2, 32, 64, 16, 96
    host = [rng.standard_normal(shape).astype(np.float32) for shape in
            [(b, h, c), (b, h, r), (b, s, c), (b, s, r)]]  # fmt: skip
    tq = dict(zip(("q", "qr", "c", "kr"), map(torch.from_numpy, host), strict=True))
    lengths = jnp.array([96, 50], jnp.int32)
    want = np.asarray(mla_decode(*host, np.asarray(lengths), 0.1, block=32, interpret=True))
    rows: dict = {}

    def measure(fn, mode, *rest):
        out = fn().numpy()
        return {"mode": mode, "rel_error": float(np.abs(out - want).max() / np.abs(want).max())}

    kernel = {"block": 32, "variants": ((8, 4), (None, None)), "min_programs": 8}
    decode._triton_rows(rows, measure, tq, lengths, 0.1, b, s, h, kernel)
    assert set(rows) == {"triton_hb8_w4", "triton_hb32"}, rows
    assert all(row.get("rel_error", 1.0) < 1e-5 for row in rows.values()), rows
    assert rows["triton_hb8_w4"]["splits"] == 1 and rows["triton_hb32"]["splits"] == 3

    a = rng.standard_normal((40, 256)).astype(np.float32)
    w = (rng.standard_normal((256, 128)) / 16).astype(np.float32)
    want = fp8_matmul(a, w, "tile", "block", "fp32", block=128)
    rows = {}
    gemm._triton_rows(
        rows, measure, torch.from_numpy(a), torch.from_numpy(w),
        {"block": 128, "variants": ((16, None),)}, None, None, (1.0, 1.0),
    )  # fmt: skip
    assert set(rows) == {"triton_fp8_m16"} and rows["triton_fp8_m16"]["rel_error"] < 1e-5, rows


def test_without_jax_on_the_gpu_pytorch_alone_is_timed(monkeypatch):
    """A GPU machine whose jaxlib lacks its CUDA plugin: JAX falls back to the CPU, where the GPU
    sizes would run for hours (and PyTorch's tensors, read from JAX's, would sit there too). The
    run then draws its inputs with PyTorch on the GPU, times PyTorch's kernels and says why JAX's
    rows are missing. Here PyTorch's "GPU" is this CPU."""
    from labs.bench import timing

    monkeypatch.setattr(timing, "_jax_measures", lambda kind: False)
    monkeypatch.setattr(timing, "_torch_device", lambda kind: "cpu")
    absent = "not measured: JAX's backend is cpu, not the GPU"
    kernel = {"block": 64, "variants": ((None, None),), "min_programs": 1}
    case = decode._decode_case("gpu", 1, 256, kernel, None, _timer("cpu", 1), 0)
    rows = case["kernels"]
    assert rows["pallas_hb128"] == rows["einsum_jax"] == {"error": absent}
    assert case["dtype"] == "bfloat16" and case["reference"] == "NumPy float64"
    for name in ("einsum_torch", "sdpa_torch"):  # bf16 probabilities: about 3 digits
        assert rows[name]["seconds"] > 0 and rows[name]["rel_error"] < 2e-2, (name, rows[name])
    kernel = {"block": 128, "variants": ((64, None),)}
    case = gemm._gemm_case("gpu", 128, 128, 128, kernel, None, _timer("cpu", 1), 0)
    rows = case["kernels"]
    assert rows["pallas_fp8"] == rows["bf16_jax"] == {"error": absent}
    assert 0 < rows["bf16_torch"]["rel_error"] < 1e-2  # BF16's rounding, not a wrong product


def test_the_large_size_references_without_jax_agree_with_numpy():
    """The float64 references PyTorch computes on the GPU when JAX has none (sizes too large for
    NumPy in seconds), here on small inputs against the NumPy references, and a control each."""
    import numpy as np
    import torch

    from labs.fp8 import triton as fp8_triton
    from labs.fp8.reference import fp8_matmul

    rng = np.random.default_rng(0)
    q, qr, c, kr = (
        rng.standard_normal(s) for s in [(2, 4, 32), (2, 4, 8), (2, 40, 32), (2, 40, 8)]
    )
    want = decode._reference_decode_numpy(q, qr, c, kr, 0.1)
    got = decode._reference_decode_torch(*map(torch.from_numpy, (q, qr, c, kr)), 0.1)
    assert np.abs(got - want).max() < 1e-12 * np.abs(want).max()
    short = decode._reference_decode_torch(
        *map(torch.from_numpy, (q, qr, c[:, 1:], kr[:, 1:])), 0.1
    )
    assert np.abs(short - want).max() > 1e-3 * np.abs(want).max()  # one token fewer: the control
    a = rng.standard_normal((16, 256)).astype(np.float32)
    b = (rng.standard_normal((256, 128)) / 16).astype(np.float32)
    operands = fp8_triton._quantize_operands(torch.from_numpy(a), torch.from_numpy(b), 128)
    got = gemm._dequantised_product_torch(*operands)
    want = fp8_matmul(a, b, "tile", "block", "fp32", block=128)
    assert np.abs(got - want).max() < 1e-5 * np.abs(want).max()  # float64 vs float32 sums
    coarse = fp8_matmul(a, b, "tensor", "tensor", "fp32", block=128)
    assert np.abs(got - coarse).max() > 1e-3 * np.abs(want).max()  # another recipe: the control


def test_a_gpu_without_bf16_units_gets_figures_without_a_roofline(jax_on_the_gpu):
    """A T4 (Colab's GPU) has no BF16 peak in the registry: the decode size still runs, its
    figures without shares of a roofline, instead of failing whole."""
    from labs.bench import device_peaks

    kernel = {"block": 64, "variants": ((None, None),), "min_programs": 1}
    case = decode._decode_case("gpu", 1, 256, kernel, device_peaks("Tesla T4"), _timer("cpu", 1), 0)
    assert case["roofline"] is None
    row = case["kernels"]["einsum_torch"]
    assert row["seconds"] > 0 and "pct_roofline" not in row and row["rel_error"] < 2e-2


def test_the_command_line_on_an_h200_writes_its_peaks_and_verdicts(
    monkeypatch, tmp_path, jax_on_the_gpu, capsys
):
    """`python -m labs.bench` end to end as tools/gpu_check.sh runs it, with the device name an
    H200 reports to PyTorch: the registry's H200 peaks, the verdicts and the printed table."""
    from labs.bench import run

    monkeypatch.setattr(run, "_device", lambda: ("gpu", "NVIDIA H200"))
    path = tmp_path / "bench_gpu.json"
    assert main(["--out", str(path), "--sizes", "tiny", "--repeats", "1"]) == 0
    written = json.loads(path.read_text())
    assert written["device"]["name"] == "NVIDIA H200" and written["complete"] is True
    assert written["device"]["peaks"] == {
        "name": "H200 SXM", "memory_gbs": 4800.0, "bf16_tflops": 989.5, "fp8_tflops": 1979.0,
    }  # fmt: skip
    assert written["targets"] == {
        "decode B=1 S=256": "no figure",  # the Pallas kernels cannot compile here
        "fp8 gemm 128x128x128": "no figure",
    }
    shares = [r["pct_roofline"] for r in written["mla_decode"][0]["kernels"].values()
              if "pct_roofline" in r]  # fmt: skip
    assert shares and all(0 < s < 100 for s in shares)
    out = capsys.readouterr().out
    assert "% of roofline" in out and "wrote" in out and "(NVIDIA H200)" in out
    assert f"1 of 2 sizes saved in {path}" in out  # the log of a run cut short says how far


def test_a_cpu_run_keeps_jax_on_the_host(monkeypatch):
    """Where torch sees no GPU the run measures the host CPU, and JAX's inputs must live there:
    on a TPU runtime JAX's default device is the TPU, whose arrays `torch.from_dlpack` refuses.
    Each case runs with JAX's default device pinned to the CPU; without the pin it is None."""
    import jax

    from labs.bench import run

    seen = []

    def case(kind, *args):
        seen.append(jax.config.jax_default_device)
        raise RuntimeError("recorded")

    monkeypatch.setattr(run, "_decode_case", case)
    monkeypatch.setattr(run, "_gemm_case", case)
    results = run._run_benchmarks("cpu", "a CPU", "tiny", 1, 0)
    assert seen == [jax.devices("cpu")[0]] * 2, seen
    assert results["device"]["jax_backend"] == "cpu" and results["complete"]
    assert jax.config.jax_default_device is None  # restored after the run


def test_the_small_gpu_sizes_are_the_cpus_with_a_smaller_decode_program():
    """A GPU other than Hopper re-measures the CPU's sizes, with a program of fewer heads than
    the CPU's one program of all 128 (which no GPU can launch: tests/bench/test_aot.py)."""
    from labs.bench.run import SIZES

    small, cpu = SIZES["gpu_small"], SIZES["cpu"]
    assert small["decode"] == cpu["decode"] and small["gemm"] == cpu["gemm"]
    ((hb, warps),) = small["decode_kernel"]["variants"]
    assert cpu["decode_kernel"]["variants"] == ((None, None),) and hb < 128 and warps is not None
    with pytest.raises(ValueError, match="sizes"):
        run_benchmarks("gpu_tiny", repeats=1)


@pytest.mark.parametrize(
    ("kind", "capability", "want"),
    [("cpu", None, "cpu"), ("gpu", (7, 5), "gpu_small"), ("gpu", (8, 9), "gpu_small"),
     ("gpu", (9, 0), "gpu")],
)  # fmt: skip
def test_the_default_sizes_fit_the_device(monkeypatch, kind, capability, want):
    # V3's sizes only on Hopper, whose shared memory their decode variants need (a T4's 64 KB,
    # an L4's or an A100's do not hold them: test_aot); a CPU gets the committed record's sizes
    from labs.bench import run

    def hopper_only():
        if capability is None:
            raise AssertionError("a CPU run must not ask for a GPU's capability")
        return capability

    monkeypatch.setattr(run.torch.cuda, "get_device_capability", hopper_only)
    assert run._default_sizes(kind) == want
