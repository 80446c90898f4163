"""Chapter 8's ahead-of-time compile cell under each Triton it may meet: the course's pinned version
(the claims asserted, and failing when the figures contradict them), another version (the figures
printed, nothing asserted, and the cell says why), a compile that fails under another version
(skipped, and says why) and no Triton at all (skipped, and says why).

The cell is run from the notebook's own source with `compile_for_gpu` replaced by a stand-in that
returns ptxas-like rows, so these tests need neither Triton nor a GPU and take milliseconds. The
real compile is tested in test_aot.py."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

import labs.bench.aot as aot

NOTEBOOK = Path(__file__).resolve().parents[2] / "chapters" / "08_hardware.ipynb"
CELL_ID = "8152a143"  # "What a CPU can check of a GPU kernel": the Triton compile for sm_90


def cell_source() -> str:
    """The cell's code, with the cells it was cut into (tools/fold_cells.py numbers them
    CELL_ID-2, CELL_ID-3, ...), in the notebook's order."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    parts = [
        c for c in cells if c.get("id") == CELL_ID or c.get("id", "").startswith(CELL_ID + "-")
    ]
    assert parts and parts[0].get("id") == CELL_ID, f"no cell {CELL_ID} in {NOTEBOOK.name}"
    sources = (
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in parts
    )
    return "\n".join(sources)


def rows(
    version: str,
    four_warps_spill: int = 364,
    gemm_spill: int = 8,
    tile_spill: int = 552,
    thirty_two_registers: int = 218,
) -> dict:
    """Rows shaped like compile_for_gpu's, with Triton 3.8's figures for sm_90 (ptxas: the
    4-warp decode spills 364 bytes per thread, the 64-head one 552, the GEMM 8; the 32-head
    one takes 218 registers a thread and 132 KB of shared memory), spills as given."""
    common = {"triton": version, "arch": 90, "fp8_mma": False, "spill_loads": 0, "wgmma": False}
    decode = [
        {**common, "heads_per_block": 16, "num_warps": 4, "registers": 255,
         "spill_stores": four_warps_spill, "shared_bytes": 50_000},
        {**common, "heads_per_block": 16, "num_warps": 8, "registers": 214, "spill_stores": 0,
         "shared_bytes": 50_000},
        {**common, "heads_per_block": 32, "num_warps": 8, "registers": thirty_two_registers,
         "spill_stores": 0, "shared_bytes": 135_168},
        {**common, "heads_per_block": 64, "num_warps": 8, "registers": 255, "heads": 128,
         "latent": 512, "spill_stores": tile_spill, "shared_bytes": 147_456, "wgmma": True},
        {**common, "heads_per_block": 128, "num_warps": 8, "registers": 255, "spill_stores": 0,
         "shared_bytes": 300_000, "wgmma": True},
    ]  # fmt: skip
    gemm = [{**common, "block": 128, "block_m": 64, "num_warps": 8, "registers": 255,
             "spill_stores": gemm_spill, "shared_bytes": 40_000, "fp8_mma": True,
             "wgmma": True}]  # fmt: skip
    return {"mla_decode": decode, "fp8_gemm": gemm}


def fake_compile(version: str, **kw):
    """A stand-in for compile_for_gpu: the rows above, and the A100's refusal of E4M3."""
    made = rows(version, **kw)

    def compile_for_gpu(kernel, variants, arch=90):
        if arch == 80:
            raise RuntimeError(f"compiling {kernel} for sm_80 failed: type fp8e4nv not supported")
        return made[kernel]

    return compile_for_gpu


def run_cell(monkeypatch, compile_for_gpu, triton_version=None) -> None:
    monkeypatch.setattr(aot, "compile_for_gpu", compile_for_gpu)
    if triton_version is not None:  # what `import triton` finds in the RuntimeError branch
        monkeypatch.setitem(
            sys.modules, "triton", types.SimpleNamespace(__version__=triton_version)
        )
    exec(compile(cell_source(), "08_hardware.ipynb:aot", "exec"), {})


def test_the_pinned_triton_asserts_and_says_so(monkeypatch, capsys):
    run_cell(monkeypatch, fake_compile(aot.TESTED_TRITON))
    out = capsys.readouterr().out
    assert f"asserted with Triton {aot.TESTED_TRITON}" in out and "not asserted" not in out


def test_the_pinned_triton_still_fails_when_four_warps_do_not_spill(monkeypatch):
    """The asserts are not weakened: under the pinned version a contradicting figure fails."""
    with pytest.raises(AssertionError):
        run_cell(monkeypatch, fake_compile(aot.TESTED_TRITON, four_warps_spill=0))


def test_the_pinned_triton_fails_when_the_gemm_spills_otherwise_than_the_prose_says(monkeypatch):
    """The prose quotes the GEMM's 8 bytes of spill; a compile that spills none contradicts it."""
    with pytest.raises(AssertionError):
        run_cell(monkeypatch, fake_compile(aot.TESTED_TRITON, gemm_spill=0))


@pytest.mark.parametrize(
    ("row", "wgmma"),
    # 16 and 32 heads on 8 warps get none; 64 heads (one wgmma tall) get it
    [(1, True), (2, True), (3, False)],
    ids=["16_heads_with_wgmma", "32_heads_with_wgmma", "64_heads_without_wgmma"],
)
def test_the_pinned_triton_fails_when_a_decode_program_gets_the_other_mma(monkeypatch, row, wgmma):
    compile_for_gpu = fake_compile(aot.TESTED_TRITON)

    def flipped(kernel, variants, arch=90):
        made = [dict(r) for r in compile_for_gpu(kernel, variants, arch)]
        if kernel == "mla_decode":
            made[row]["wgmma"] = wgmma
        return made

    with pytest.raises(AssertionError):
        run_cell(monkeypatch, flipped)


def test_the_pinned_triton_fails_when_the_64_head_program_does_not_spill(monkeypatch):
    """The prose says Triton spills 552 bytes a thread at FlashMLA's 64-row tile."""
    with pytest.raises(AssertionError):
        run_cell(monkeypatch, fake_compile(aot.TESTED_TRITON, tile_spill=0))


def test_the_pinned_triton_fails_when_a_benchmark_variant_would_share_its_sm(monkeypatch):
    """The wave model assumes one program per SM: 32 heads on 8 warps at 120 registers a thread
    would take under half an SM's 65,536, and two programs could share it."""
    with pytest.raises(AssertionError):
        run_cell(monkeypatch, fake_compile(aot.TESTED_TRITON, thirty_two_registers=120))


def test_another_triton_prints_the_figures_and_says_why_nothing_is_asserted(monkeypatch, capsys):
    # the same contradicting figure passes silently under another version: printed, not asserted
    run_cell(monkeypatch, fake_compile("9.9.0", four_warps_spill=0))
    out = capsys.readouterr().out
    assert "MLA decode (heads_per_block 16, num_warps 4): 255 registers, 0 B spilled" in out
    assert "not asserted: Triton 9.9.0 compiled these" in out and aot.TESTED_TRITON in out
    assert "asserted with" not in out


def test_a_compile_that_fails_under_another_triton_is_skipped_with_its_reason(monkeypatch, capsys):
    def fails(kernel, variants, arch=90):
        raise RuntimeError("compiling mla_decode for sm_90 failed: some new compiler error")

    run_cell(monkeypatch, fails, triton_version="9.9.0")
    out = capsys.readouterr().out
    assert "skipped: Triton 9.9.0 is installed" in out and "some new compiler error" in out
    assert "nothing is compiled or asserted" in out and "registers," not in out


def test_a_compile_that_fails_under_the_pinned_triton_raises(monkeypatch):
    def fails(kernel, variants, arch=90):
        raise RuntimeError("compiling mla_decode for sm_90 failed: a regression")

    with pytest.raises(RuntimeError, match="a regression"):
        run_cell(monkeypatch, fails, triton_version=aot.TESTED_TRITON)


def test_without_triton_the_cell_is_skipped_with_its_reason(monkeypatch, capsys):
    def missing(kernel, variants, arch=90):
        raise ImportError("compile_for_gpu needs Triton (Linux), and it is not installed here")

    run_cell(monkeypatch, missing)
    out = capsys.readouterr().out
    assert "skipped: compile_for_gpu needs Triton" in out and "nothing is compiled" in out
    assert "registers," not in out
