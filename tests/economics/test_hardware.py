"""The hardware registry: sources, the H800's one cut, missing precisions, device-name lookup."""

import pytest

from labs.bench.roofline import device_peaks
from labs.common.facts import FACTS, fact
from labs.economics import HARDWARE, hardware, hardware_for_device_name

REQUIRED = ("H100 SXM", "H800 SXM", "H200 SXM", "A100 SXM", "L4", "T4", "TPU v5e")


def test_registry_holds_the_required_chips_with_sources():
    assert set(REQUIRED) <= set(HARDWARE)
    for spec in HARDWARE.values():
        for field in ("memory_gbs", "interconnect_gbs", "usd_per_hour"):
            assert getattr(spec, field) > 0
        assert spec.bf16_tflops or spec.fp16_tflops  # every chip has a half-precision peak
    # Every price is a fact that says it is an assumption.
    prices = [f for k, f in FACTS.items() if k.startswith("econ_") and "usd_per_hour" in k]
    assert len(prices) == len(HARDWARE)
    assert all("assumption" in f.note for f in prices)


def test_h800_differs_from_h100_only_in_interconnect():
    h100, h800 = hardware("H100 SXM"), hardware("H800 SXM")
    assert h800.bf16_tflops == h100.bf16_tflops and h800.fp8_tflops == h100.fp8_tflops
    assert h800.memory_gbs == h100.memory_gbs
    assert (h800.interconnect_gbs, h100.interconnect_gbs) == (400.0, 900.0)


def test_h200_is_the_h100_with_more_memory_bandwidth():
    # NVIDIA prints the same 1,979 (BF16) and 3,958 (FP8) TFLOP/s with sparsity for the H200 SXM
    # as for the H100 SXM, 4.8 TB/s of HBM3e against 3.35 TB/s, and the same 900 GB/s of NVLink.
    h100, h200 = hardware("H100 SXM"), hardware("H200 SXM")
    assert (h200.bf16_tflops, h200.fp8_tflops) == (1979 / 2, 3958 / 2)
    assert (h200.bf16_tflops, h200.fp8_tflops) == (h100.bf16_tflops, h100.fp8_tflops)
    assert (h200.memory_gbs, h100.memory_gbs) == (4800.0, 3350.0)
    assert (h200.interconnect_gbs, h200.interconnect) == (900.0, "NVLink")
    assert h200.fp16_tflops is None and h200.key == "h200_sxm"


def test_h200_entry_reads_its_facts():
    # Every figure of the entry is the registry's fact, the price included (an assumption, above
    # the H100's assumed price: the H200 rents at a premium).
    h200 = hardware("H200 SXM")
    for field in ("bf16_tflops", "fp8_tflops", "memory_gbs", "interconnect_gbs"):
        assert getattr(h200, field) == fact(f"econ_h200_sxm_{field}").value, field
    price = fact("econ_h200_usd_per_hour")
    assert h200.usd_per_hour == price.value and price.cite == "course_price_assumptions"
    assert "assumption" in price.note and h200.usd_per_hour > hardware("H100 SXM").usd_per_hour


def test_dense_peaks_are_half_the_sparse_datasheet_figures():
    # NVIDIA prints 1,979 (BF16) and 3,958 (FP8) TFLOP/s with sparsity for the H100 SXM.
    assert hardware("H100 SXM").peak_tflops("bf16") == pytest.approx(1979 / 2, abs=0.5)
    assert hardware("H100 SXM").peak_flops("fp8") == pytest.approx(3958e12 / 2, rel=1e-3)


def test_missing_precisions_raise():
    with pytest.raises(ValueError, match="no fp8 peak"):
        hardware("A100 SXM").peak_tflops("fp8")
    with pytest.raises(ValueError, match="no bf16 peak"):
        hardware("T4").peak_tflops("bf16")
    assert hardware("T4").peak_tflops("fp16") == 65.0
    with pytest.raises(ValueError, match="precision must be"):
        hardware("L4").peak_tflops("int8")


def test_unknown_names():
    with pytest.raises(ValueError, match="H800 SXM"):
        hardware("H20")
    with pytest.raises(TypeError):
        hardware(800)
    with pytest.raises(TypeError):
        hardware_for_device_name(None)


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA H800", "H800 SXM"),
        ("NVIDIA H200", "H200 SXM"),
        ("NVIDIA A100-SXM4-80GB", "A100 SXM"),
        ("NVIDIA L4", "L4"),
        ("Tesla T4", "T4"),
        ("TPU v5 lite", "TPU v5e"),
        ("NVIDIA H100 PCIe", None),
        ("NVIDIA H100 NVL", None),  # another board, with its own peaks and bandwidth
        ("NVIDIA H200 NVL", None),  # likewise: lower power and clocks than the SXM part
        ("NVIDIA H200 PCIe", None),
        ("NVIDIA H20", None),  # a different chip, not a prefix of the H200
        ("NVIDIA A100 80GB PCIe", None),
        ("NVIDIA L40S", None),
        ("cpu", None),
    ],
)
def test_device_names(reported, expected):
    spec = hardware_for_device_name(reported)
    assert (spec.name if spec else None) == expected


@pytest.mark.parametrize(
    "reported",
    ["NVIDIA H100 80GB HBM3", "NVIDIA H800", "NVIDIA H200", "NVIDIA H200 NVL", "Tesla T4", "cpu"],
)
def test_chapter_7_and_the_benchmark_name_a_device_alike(reported):
    # Both lookups read the same facts: where one knows a device, the other gives it the same
    # name, peaks and bandwidth; where one refuses a board, so does the other.
    spec, peaks = hardware_for_device_name(reported), device_peaks(reported)
    assert (spec is None) == (peaks is None)
    if spec is not None:
        assert (spec.name, spec.memory_gbs) == (peaks.name, peaks.memory_gbs)
        assert (spec.bf16_tflops, spec.fp8_tflops) == (peaks.bf16_tflops, peaks.fp8_tflops)


@pytest.mark.parametrize(
    ("device_kind", "half", "peak"),
    [
        ("TPU v5 lite", "bf16", 197.0),
        ("Tesla T4", "fp16", 65.0),
        ("NVIDIA H100 80GB HBM3", "bf16", 989.5),
    ],
)
def test_chapter_7_accelerator_table_finds_its_peak_from_the_device_kind(device_kind, half, peak):
    # Chapter 7's accelerator table names the chip by torch's CUDA name or, with torch on the
    # host (a Colab TPU), by JAX's device kind, then divides by the half-precision peak: BF16,
    # or FP16 on a chip without BF16 units.
    spec = hardware_for_device_name(device_kind)
    chosen = "fp16" if spec.bf16_tflops is None else "bf16"
    assert (chosen, spec.peak_tflops(chosen)) == (half, peak)
