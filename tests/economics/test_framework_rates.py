"""The three-framework table (labs.economics.framework_rates): its shape, the thread counts it
restores, the agreement it exists to show, and bad input."""

import pytest
import torch

from labs.economics.framework_rates import FRAMEWORKS, blas_widths, matmul_rounds


def test_rounds_hold_one_positive_rate_per_framework_size_and_round():
    rates = matmul_rounds((16, 32), rounds=2, repeats=1, show_progress=False)
    assert set(rates) == set(FRAMEWORKS)
    for framework in FRAMEWORKS:
        assert set(rates[framework]) == {16, 32}
        for values in rates[framework].values():
            assert len(values) == 2 and all(v > 0 for v in values)


def test_torch_threads_are_restored_even_when_a_call_fails():
    before = torch.get_num_threads()
    matmul_rounds((8,), rounds=1, repeats=1, show_progress=False)
    assert torch.get_num_threads() == before


def test_the_frameworks_agree_on_a_large_product():
    # One thread each, CPU time: at n = 512, the size chapter 7 asserts on, every framework runs a
    # compiled kernel at its full rate, so their best rates differ by far less than 2x. Not at 256:
    # there single-threaded OpenBLAS runs about 3.5x slower than torch (9.5 against 33 GFLOP/s)
    # when the process starts with OPENBLAS_NUM_THREADS=1, as `make unit` starts it.
    # NumPy against PyTorch: both multiply on the calling thread, whose CPU time the clock counts
    # exactly; JAX's CPU client uses threads of its own, counted late (chapter 7 prints it only).
    # Where NumPy's BLAS multiplies with wider vectors than PyTorch's MKL (an AVX-512 OpenBLAS
    # beside the course's AVX2 cap, on an Intel Xeon), width alone buys NumPy up to 2x: measured
    # 1.79 to 1.82 there; the bound then allows that on top of the noise.
    rates = matmul_rounds((512,), rounds=3, repeats=2, show_progress=False)
    best = {f: max(rates[f][512]) for f in FRAMEWORKS}
    widths = blas_widths()
    bound = 2.0 if widths["numpy"] == widths["torch"] else 3.0
    assert 1 / 2.0 < best["numpy"] / best["torch"] < bound, (best, widths)


def _openblas(core, path="numpy.libs/libscipy_openblas64_.so"):
    return {"user_api": "blas", "internal_api": "openblas", "architecture": core, "filepath": path}


INTEL_512, AMD_512 = "flags : avx2 avx512f GenuineIntel", "flags : avx2 avx512f AuthenticAMD"


@pytest.mark.parametrize(
    ("info", "environ", "cpuinfo", "expected"),
    [
        # the Xeon of 2026-12-06 under the course's pin: AVX-512 OpenBLAS, MKL capped at AVX2
        ([_openblas("SkylakeX")], {"MKL_ENABLE_INSTRUCTIONS": "AVX2"}, INTEL_512,
         {"numpy": "AVX-512", "torch": "AVX2"}),
        ([_openblas("Haswell")], {"MKL_ENABLE_INSTRUCTIONS": "AVX2"}, INTEL_512,
         {"numpy": "AVX2", "torch": "AVX2"}),
        # no cap: MKL takes AVX-512 on Intel; on another vendor its choice is unknown
        ([_openblas("SkylakeX")], {}, INTEL_512, {"numpy": "AVX-512", "torch": "AVX-512"}),
        ([_openblas("Zen")], {}, AMD_512, {"numpy": "AVX2", "torch": None}),
        # an OpenBLAS core not in the table, and no BLAS at all: unknown
        ([_openblas("Prescott")], {}, "flags : sse2", {"numpy": None, "torch": None}),
        ([], {"MKL_ENABLE_INSTRUCTIONS": "AVX2"}, "", {"numpy": None, "torch": "AVX2"}),
        # SciPy's own OpenBLAS listed first: NumPy's is the one under numpy.libs
        ([_openblas("Haswell", "scipy.libs/libscipy_openblas.so"), _openblas("SkylakeX")],
         {"MKL_ENABLE_INSTRUCTIONS": "AVX2"}, INTEL_512, {"numpy": "AVX-512", "torch": "AVX2"}),
        # NumPy built on MKL multiplies as PyTorch does
        ([{"user_api": "blas", "internal_api": "mkl", "filepath": "numpy/libmkl_rt.so"}],
         {"MKL_ENABLE_INSTRUCTIONS": "AVX2"}, INTEL_512, {"numpy": "AVX2", "torch": "AVX2"}),
    ],
)  # fmt: skip
def test_blas_widths_reads_each_library_s_kernel(info, environ, cpuinfo, expected):
    assert blas_widths(info, environ, cpuinfo) == expected


def test_blas_widths_refuses_what_is_not_its_input():
    with pytest.raises(TypeError, match="blas_info"):
        blas_widths("openblas", {}, "")
    with pytest.raises(TypeError, match="cpuinfo"):
        blas_widths([], {}, 3)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        (dict(sizes=(64, 32)), ValueError, "sizes"),
        (dict(sizes=()), ValueError, "sizes"),
        (dict(sizes="128"), TypeError, "sizes"),
        (dict(sizes=(4,)), ValueError, r"sizes\[0\]"),
        (dict(sizes=(8, 4096)), ValueError, r"sizes\[1\]"),
        (dict(sizes=(8, 16.0)), TypeError, r"sizes\[1\]"),
        (dict(rounds=0), ValueError, "rounds"),
        (dict(repeats=21), ValueError, "repeats"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(show_progress="no"), TypeError, "show_progress"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, error, name):
    with pytest.raises(error, match=name):
        matmul_rounds(**{"sizes": (8, 16), "rounds": 1, "repeats": 1, **kwargs})
