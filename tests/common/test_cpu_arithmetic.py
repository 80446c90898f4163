"""labs pins PyTorch's CPU kernels to AVX2 where that can work (labs.common.cpu_arithmetic).

The reason is in the module: committed runs made on an AVX2 processor did not reproduce on an
AVX-512 one until the kernels were pinned. These tests check the switch in a fresh interpreter
each (the pin must happen before PyTorch is imported), with its controls: the opt-out, and
PyTorch imported first.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from labs.common.cpu_arithmetic import OPT_OUT, PIN, avx2_available, pin_cpu_arithmetic

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import os, sys\n"
    "{first}\n"
    "import labs, torch\n"
    "print(torch.backends.cpu.get_cpu_capability(), labs.CPU_ARITHMETIC['reason'] or 'pinned')\n"
)


def probe(env_extra: dict, first: str = "") -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in PIN and k != OPT_OUT}
    env.update(env_extra)
    env["PYTHONPATH"] = str(ROOT / "src")
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(first=first)],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return done.stdout.split()


needs_avx2 = pytest.mark.skipif(not avx2_available(), reason="needs x86-64 Linux with AVX2")


@needs_avx2
def test_importing_labs_first_pins_torch_to_avx2():
    assert probe({}) == ["AVX2", "pinned"]


@needs_avx2
def test_controls_opt_out_and_torch_first_keep_the_native_kernels():
    native = probe({"LABS_CPU_ISA": "native"})
    assert native[1:] == ["LABS_CPU_ISA=native"]
    late = probe({}, first="import torch")
    assert late[1:] == ["torch", "was", "imported", "before", "labs"]
    # on this processor the native kernels are another set only if it has more than AVX2
    with open("/proc/cpuinfo") as f:
        avx512 = re.search(r"\bavx512f\b", f.read()) is not None
    assert (native[0] != "AVX2") == avx512 and late[0] == native[0]


def test_a_value_already_set_wins(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    env = {"ATEN_CPU_CAPABILITY": "default"}
    found = pin_cpu_arithmetic(env)
    assert env["ATEN_CPU_CAPABILITY"] == "default"
    if avx2_available():
        assert "ATEN_CPU_CAPABILITY" not in found["pinned"]
        assert env["MKL_ENABLE_INSTRUCTIONS"] == "AVX2"
    else:
        assert found["pinned"] == {} and found["reason"]


def test_no_avx2_means_nothing_is_set(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 avx\n")
    assert not avx2_available(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2\n")
    assert avx2_available(cpuinfo) == avx2_available()  # the flag counts only on x86-64 Linux
    assert not avx2_available(tmp_path / "missing")


def test_bad_environ_is_refused():
    with pytest.raises(TypeError, match="environ"):
        pin_cpu_arithmetic(["ATEN_CPU_CAPABILITY"])


def test_make_exports_the_same_pin():
    makefile = (ROOT / "Makefile").read_text()
    for name, value in PIN.items():
        assert re.search(rf"^export {name} \?= {value}$", makefile, re.M), name


@needs_avx2
def test_make_honours_the_opt_out_too():
    env = {k: v for k, v in os.environ.items() if k not in PIN and k != OPT_OUT}

    def exported(extra: dict) -> set:
        done = subprocess.run(
            ["make", "-pn", "help"], cwd=ROOT, env=env | extra, capture_output=True, text=True,
            timeout=60, check=True,
        )  # fmt: skip
        return {name for name, value in PIN.items() if f"\n{name} = {value}\n" in done.stdout}

    assert exported({}) == set(PIN)  # the control: without the opt-out, make pins all three
    assert exported({OPT_OUT: "native"}) == set()


@needs_avx2
def test_record_arithmetic_is_the_pin_and_nothing_else():
    code = (
        "import labs\n"
        "from labs.common.cpu_arithmetic import record_arithmetic\n"
        "from labs.common.runtime import processor_name\n"
        "own, other = processor_name(), 'Some Other vendor'\n"
        "print(record_arithmetic(), record_arithmetic(own), record_arithmetic(other))\n"
    )

    def ask(extra: dict) -> str:
        env = {k: v for k, v in os.environ.items() if k not in PIN and k != OPT_OUT}
        env.update(extra, PYTHONPATH=str(ROOT / "src"))
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
            check=True,
        )  # fmt: skip
        return done.stdout.split()

    assert ask({}) == ["True", "True", "False"]  # pinned; another vendor is refused
    assert ask({"MKL_CBWR": "AVX2"}) == ["False"] * 3  # MKL's reproducibility mode: its own path
    assert ask({"ATEN_CPU_CAPABILITY": "default"}) == ["False"] * 3  # PyTorch's generic kernels
