"""Chapter 3's heads sweep (labs.mla.heads_sweep): the live sweep's shape, the paired growth
against hand-computed values, and the committed record the chapter reads its findings from."""

import json

import numpy as np
import pytest

from labs.mla.heads_sweep import (
    CONTEXT,
    HEADS,
    RECORDS,
    _cpuinfo_summary,
    cpu_environment,
    heads_sweep,
    load_heads_sweep,
    load_heads_sweep_records,
    paired_growth,
    product_ceilings,
)


def test_paired_growth_is_the_median_of_per_round_ratios():
    # round ratios 2.0, 1.5 and 1.2: the median is 1.5; the unpaired ratio of medians is 1.6
    speedup = {8: [1.0, 2.0, 2.5], 32: [2.0, 3.0, 3.0]}
    assert paired_growth(speedup, 8, 32) == pytest.approx(1.5)
    assert paired_growth(speedup, 32, 8) == pytest.approx(1 / 1.5)


@pytest.mark.parametrize(
    "speedup, error",
    [
        ({8: [1.0], 32: [1.0, 2.0]}, "equally long"),
        ({8: [], 32: []}, "equally long"),
        ({8: [1.0, float("nan")], 32: [1.0, 2.0]}, "finite and positive"),
        ({8: [1.0, 0.0], 32: [1.0, 2.0]}, "finite and positive"),
    ],
)
def test_paired_growth_refuses_bad_rounds(speedup, error):
    with pytest.raises(ValueError, match=error):
        paired_growth(speedup, 8, 32)


def test_paired_growth_names_a_missing_head_count():
    with pytest.raises(ValueError, match="high"):
        paired_growth({8: [1.0], 32: [1.0]}, 8, 16)


@pytest.mark.parametrize("heads", [(8,), (16, 8), (8, 8), (8, 18)])
def test_heads_must_be_increasing_multiples_of_four(heads):
    with pytest.raises(ValueError, match="heads"):
        heads_sweep(heads, context=8, rounds=1, steps=1, repeats=1, show_progress=False)


def test_a_tiny_sweep_returns_one_paired_value_per_round():
    out = heads_sweep((4, 8), context=16, rounds=2, steps=1, repeats=1, show_progress=False)
    assert set(out["speedup"]) == {4, 8}
    assert all(len(v) == 2 for v in out["speedup"].values()) and len(out["gqa4_over_mla"]) == 2
    values = np.concatenate([*out["speedup"].values(), out["gqa4_over_mla"]])
    assert np.all(np.isfinite(values)) and values.min() > 0


def test_product_ceilings_are_rates_for_each_head_count():
    out = product_ceilings((4, 8), context=64, latent=16, batch=1)
    assert set(out["skinny"]) == {4, 8} and out["square"] > 0
    assert all(v > 0 for v in out["skinny"].values())


@pytest.mark.parametrize("index", range(len(RECORDS)))
def test_each_committed_record_holds_what_the_chapter_reads(index):
    record = load_heads_sweep_records()[index]
    settings = record["meta"]["settings"]
    assert settings["heads"] == list(HEADS) and settings["context"] == CONTEXT
    rounds = settings["rounds"]
    assert rounds >= 10 and len(record["gqa4_over_mla"]) == rounds
    assert all(len(record["speedup"][h]) == rounds for h in HEADS)
    assert record["meta"]["processor"] and record["meta"]["command"].startswith(
        "python -m labs.mla.heads_sweep"
    )
    assert set(record["skinny"]) == set(HEADS) and len(record["limits"]) == 2


def test_the_records_are_distinct_runs_and_the_chapters_comes_first():
    records = load_heads_sweep_records()
    assert records[0] == load_heads_sweep()
    dates = [r["meta"]["date"] for r in records]
    assert len(set(dates)) == len(dates)  # six runs, not one file six times
    medians = {round(float(np.median(r["speedup"][8])), 3) for r in records}
    assert len(medians) == len(records)


def test_load_heads_sweep_refuses_another_results_file(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"meta": {}, "runs": {}}))
    with pytest.raises(ValueError, match="heads sweep"):
        load_heads_sweep(path)


_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Some Xeon
cpu MHz\t\t: 2100.000
flags\t\t: fpu sse2 sse4_2 avx avx2 fma avx512f avx512_bf16 amx_tile hypervisor pae

processor\t: 1
vendor_id\t: GenuineIntel
cpu MHz\t\t: 3400.500
flags\t\t: fpu sse2 sse4_2 avx avx2 fma avx512f avx512_bf16 amx_tile hypervisor pae
"""


def test_cpuinfo_summary_keeps_the_vector_flags_and_each_processors_clock():
    got = _cpuinfo_summary(_CPUINFO)
    assert got["vendor"] == "GenuineIntel"
    # the flags that pick kernels, and no others (fpu, sse2 and pae say nothing about the path)
    assert got["flags"] == [
        "amx_tile", "avx", "avx2", "avx512_bf16", "avx512f", "fma", "hypervisor", "sse4_2"
    ]  # fmt: skip
    assert got["mhz"] == {"min": 2100.0, "max": 3400.5, "processors": 2}
    # an AVX2-only machine reads as one: no avx512 flag appears from nowhere
    assert not any(f.startswith("avx512") for f in _cpuinfo_summary("flags : avx avx2\n")["flags"])
    assert "mhz" not in _cpuinfo_summary("flags : avx\n")


def test_cpu_environment_reports_this_process_threads_and_is_json():
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        env = cpu_environment()
    finally:
        torch.set_num_threads(before)
    assert env["torch_threads"] == 1
    assert env["torch_cpu_capability"] in {"DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "SVE256"}
    assert any(line.startswith("BLAS_INFO=") for line in env["torch_build"])
    assert json.loads(json.dumps(env)) == env


def test_the_committed_records_keep_their_fields_and_gain_none():
    # the environment is recorded from 2026-12-05 on; the first three records (one AMD EPYC)
    # predate it and were not re-run, so none of them claims one
    records = load_heads_sweep_records()
    assert len(records) == 6
    for record in records[:3]:
        assert "environment" not in record["meta"] and record["meta"]["processor"].startswith("AMD")
    # the fourth, from an Intel Xeon, holds it, with the last-level cache chapter 3 quotes (300 MiB)
    fourth = records[3]["meta"]
    assert fourth["processor"].startswith("Intel") and fourth["date"] > records[2]["meta"]["date"]
    assert fourth["environment"]["cpuinfo"]["vendor"] == "GenuineIntel"
    assert fourth["environment"]["last_level_cache_bytes"] == 300 * 2**20
    # the fifth and sixth, a minute apart on an AMD EPYC reporting family 23 (the first three report
    # family 25), hold it too, with the 8 MiB last-level cache chapter 3 quotes
    for later in records[4:]:
        meta = later["meta"]
        assert meta["processor"].startswith("AMD EPYC (cpu family 23,")
        assert meta["date"] > fourth["date"]
        assert meta["environment"]["cpuinfo"]["vendor"] == "AuthenticAMD"
        assert meta["environment"]["last_level_cache_bytes"] == 8 * 2**20
    assert records[4]["meta"]["date"] < records[5]["meta"]["date"]
