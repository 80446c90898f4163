"""The hardware registry: the accelerators the chapter compares, built from the facts registry.

Taught in chapter 7, "H800 versus H100: what the export rules cut" (and used by "Counting the
work: 6ND and MFU" and "Measure it yourself: a matrix multiply against the peak").

Every number here comes from `labs.common.facts` (datasheets, cloud documentation) with its
source; rental prices are assumptions and say so in their fact's note. `HARDWARE` is read-only
and its entries are frozen, so that no notebook cell can change a chip for every later import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from labs.common.facts import FACTS, fact
from labs.common.validate import read_only, text
from labs.economics.checks import check_hardware_name, check_hardware_spec, check_precision

__all__ = ["HARDWARE", "HardwareSpec", "hardware", "hardware_for_device_name"]


@dataclass(frozen=True, kw_only=True)
class HardwareSpec:
    """One accelerator, per chip.

    Attributes:
        name: the registry name, e.g. "H800 SXM".
        bf16_tflops: dense BF16 tensor peak in TFLOP/s (None: the chip has no BF16 units).
        fp8_tflops: dense FP8 tensor peak in TFLOP/s (None: no FP8 units).
        fp16_tflops: dense FP16 tensor peak in TFLOP/s, registered only where it stands in for
            a missing BF16 (the T4); None otherwise.
        memory_gbs: memory bandwidth in GB/s.
        interconnect_gbs: aggregate bidirectional chip-to-chip bandwidth in GB/s.
        interconnect: what that link is ("NVLink", "PCIe Gen4 x16", "ICI").
        usd_per_hour: assumed rental price per chip-hour (an assumption, see the fact's note).
        key: the prefix of this chip's facts in the registry.
    """

    name: str
    bf16_tflops: float | None = None
    fp8_tflops: float | None = None
    fp16_tflops: float | None = None
    memory_gbs: float
    interconnect_gbs: float
    interconnect: str
    usd_per_hour: float
    key: str

    def __post_init__(self) -> None:
        check_hardware_spec(self)

    def peak_tflops(self, precision: str) -> float:
        """The dense peak for `precision` ("bf16", "fp8" or "fp16") in TFLOP/s.

        Raises:
            ValueError: unknown precision, or a precision this chip has no tensor units for.
        """
        value = getattr(self, f"{check_precision(precision)}_tflops")
        if value is None:
            raise ValueError(f"precision={precision!r}: the {self.name} has no {precision} peak")
        return value

    def peak_flops(self, precision: str) -> float:
        """`peak_tflops(precision)` in FLOP/s."""
        return self.peak_tflops(precision) * 1e12


# (registry prefix, display name, interconnect kind)
_CHIPS = (
    ("h100_sxm", "H100 SXM", "NVLink"),
    ("h800_sxm", "H800 SXM", "NVLink"),
    ("h200_sxm", "H200 SXM", "NVLink"),
    ("a100_sxm", "A100 SXM", "NVLink"),
    ("l4", "L4", "PCIe Gen4 x16"),
    ("t4", "T4", "PCIe Gen3 x16"),
    ("tpu_v5e", "TPU v5e", "ICI"),
)
# The price facts use the short chip name.
_PRICE_KEY = {"h100_sxm": "h100", "h800_sxm": "h800", "h200_sxm": "h200", "a100_sxm": "a100"}


def _optional(key: str) -> float | None:
    """The fact `key` as a float, or None where the chip has no such figure."""
    return float(FACTS[key].value) if key in FACTS else None


def _build() -> dict[str, HardwareSpec]:
    """One HardwareSpec per chip, every number from the facts registry."""
    specs = {}
    for key, name, link in _CHIPS:
        price_key = _PRICE_KEY.get(key, key)
        specs[name] = HardwareSpec(
            name=name,
            bf16_tflops=_optional(f"econ_{key}_bf16_tflops"),
            fp8_tflops=_optional(f"econ_{key}_fp8_tflops"),
            fp16_tflops=_optional(f"econ_{key}_fp16_tflops"),
            memory_gbs=float(fact(f"econ_{key}_memory_gbs").value),
            interconnect_gbs=float(fact(f"econ_{key}_interconnect_gbs").value),
            interconnect=link,
            usd_per_hour=float(fact(f"econ_{price_key}_usd_per_hour").value),
            key=key,
        )
    return specs


HARDWARE: Mapping[str, HardwareSpec] = read_only(_build())


def hardware(name: str) -> HardwareSpec:
    """The registry entry `name` (e.g. "H800 SXM"); a ValueError lists the known names."""
    return HARDWARE[check_hardware_name(name, HARDWARE)]


def hardware_for_device_name(device_name: str) -> HardwareSpec | None:
    """The registry entry matching a device name as a framework reports it, or None.

    `torch.cuda.get_device_name()` says e.g. "NVIDIA H100 80GB HBM3", "NVIDIA H200" or "Tesla T4";
    JAX's TPU devices say "TPU v5 lite". A PCIe or NVL H100 or H200 is not an SXM part and is not
    matched.
    """
    return _hardware_for_device_name(text("device_name", device_name, nonempty=False))


def _hardware_for_device_name(device_name: str) -> HardwareSpec | None:
    """Match a whole word of the reported name (or a spaced phrase) against the chips."""
    upper = device_name.upper()
    if "PCIE" in upper or "NVL" in upper.replace("-", " ").split():
        return None  # PCIe and NVL boards have their own peaks and bandwidth, not the SXM part's
    for token, name in (
        ("H100", "H100 SXM"),
        ("H800", "H800 SXM"),
        ("H200", "H200 SXM"),
        ("A100", "A100 SXM"),
        ("L4", "L4"),
        ("T4", "T4"),
        ("V5 LITE", "TPU v5e"),
        ("V5E", "TPU v5e"),
    ):
        if token in upper.replace("-", " ").split() or (" " in token and token in upper):
            return HARDWARE[name]
    return None
