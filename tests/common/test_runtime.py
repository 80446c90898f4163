import random
import sys

import jax
import numpy as np
import pytest
import torch

from labs.common import runtime
from labs.common.runtime import DeviceUnavailableError, describe, seed_everything, selected_device
from tests.conftest import has_cuda

KEYS = {
    "device", "torch_version", "torch_device", "gpu_name", "cpu_kernels", "jax_version",
    "jax_backend", "jax_device_count", "colab", "python",
}  # fmt: skip


def test_describe_returns_dict_and_prints_one_line(capsys, monkeypatch):
    monkeypatch.delenv("LABS_DEVICE", raising=False)
    info = describe()
    out = capsys.readouterr().out.strip().splitlines()
    assert set(info) == KEYS
    assert len(out) == 1
    assert f"torch {torch.__version__.split('+')[0]}" in out[0]
    assert f"JAX {jax.__version__}" in out[0]
    assert info["jax_device_count"] == len(jax.devices(info["jax_backend"]))
    assert info["colab"] is False


def test_describe_on_cpu_reports_cpu(monkeypatch, capsys):
    monkeypatch.setenv("LABS_DEVICE", "cpu")
    info = describe()
    assert info["device"] == "cpu"
    assert info["torch_device"] == "cpu"
    assert info["jax_backend"] == "cpu"
    assert "device: cpu" in capsys.readouterr().out


@pytest.mark.skipif(has_cuda(), reason="this machine has a GPU, so asking for cuda is valid")
def test_absent_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("LABS_DEVICE", "cuda")
    with pytest.raises(DeviceUnavailableError) as err:
        describe()
    message = str(err.value)
    assert "LABS_DEVICE='cuda'" in message and "no CUDA" in message
    assert "devices present are cpu" in message


def test_absent_device_error_names_what_exists(monkeypatch):
    # Whatever this machine has, pretend it has a GPU and a CPU, and ask for a TPU.
    monkeypatch.setattr(runtime, "available_devices", lambda: ["cuda", "cpu"])
    monkeypatch.setenv("LABS_DEVICE", "tpu")
    with pytest.raises(DeviceUnavailableError, match=r"no TPU.*present are cuda, cpu"):
        selected_device()
    assert issubclass(DeviceUnavailableError, ValueError)


def test_argument_overrides_environment(monkeypatch):
    monkeypatch.setattr(runtime, "available_devices", lambda: ["cuda", "cpu"])
    monkeypatch.setenv("LABS_DEVICE", "cuda")
    assert selected_device("cpu") == "cpu"
    assert selected_device() == "cuda"
    monkeypatch.delenv("LABS_DEVICE")
    assert selected_device() == "cuda"  # the best device present by default


@pytest.mark.parametrize("bad", ["gpu", "metal", ""])
def test_unknown_device_name(monkeypatch, bad):
    if bad:
        monkeypatch.setenv("LABS_DEVICE", bad)
        with pytest.raises(ValueError, match="expected one of 'cpu', 'cuda', 'tpu'"):
            selected_device()
    else:  # an empty LABS_DEVICE means "not set"
        monkeypatch.setenv("LABS_DEVICE", "")
        assert selected_device() in ("cpu", "cuda", "tpu")


def test_device_argument_type():
    with pytest.raises(TypeError, match="device must be a string"):
        selected_device(3)


def test_in_colab(monkeypatch):
    assert runtime.in_colab() is False
    monkeypatch.setitem(sys.modules, "google.colab", object())
    assert runtime.in_colab() is True


def test_seed_everything_makes_runs_repeat():
    def draw():
        key = seed_everything(123)
        return (
            random.random(),
            np.random.rand(),  # noqa: NPY002 - the global generator is what is being seeded
            torch.rand(1).item(),
            float(jax.random.uniform(key)),
        )

    first, second = draw(), draw()
    assert first == second
    seed_everything(124)
    assert random.random() != first[0]


def test_seed_everything_returns_a_jax_key():
    key = seed_everything(7)
    assert jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    assert np.array_equal(jax.random.key_data(key), jax.random.key_data(jax.random.key(7)))


@pytest.mark.parametrize("bad, exc", [(1.5, TypeError), ("1", TypeError), (True, TypeError),
                                      (-1, ValueError), (2**32, ValueError)])  # fmt: skip
def test_seed_everything_rejects_bad_seeds(bad, exc):
    with pytest.raises(exc, match="seed"):
        seed_everything(bad)


def test_provenance_records_the_command_date_versions_and_machine():
    import datetime
    import platform

    import numpy as np
    import torch  # imported, so its version and kernels' instruction set must be recorded

    from labs.common.runtime import provenance

    record = provenance("labs.fp8.sweep", ["--seeds", "12"])
    assert record["command"] == "python -m labs.fp8.sweep --seeds 12"
    stamp = datetime.datetime.fromisoformat(record["date"])
    assert stamp.tzinfo is not None and stamp.utcoffset() == datetime.timedelta(0)
    age = datetime.datetime.now(datetime.UTC) - stamp
    assert datetime.timedelta(0) <= age < datetime.timedelta(minutes=1)
    assert record["versions"]["numpy"] == np.__version__
    assert record["versions"]["torch"].startswith("2.")
    assert record["machine"] == platform.machine()
    # the instruction set of torch's CPU kernels, which decides their last bits
    assert record["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert provenance("labs.bench", [])["command"] == "python -m labs.bench"


def test_provenance_refuses_what_is_not_a_command():
    import pytest

    from labs.common.runtime import provenance

    with pytest.raises(TypeError, match="argv"):
        provenance("labs.fp8.sweep", "--seeds 3")  # a string, not a list: split it yourself
    with pytest.raises(TypeError, match=r"argv\[1\]"):
        provenance("labs.fp8.sweep", ["--seeds", 3])
    with pytest.raises(ValueError, match="module"):
        provenance("  ")


def test_read_results_reads_the_package_file_or_the_given_one(tmp_path):
    import json

    import pytest

    from labs.common.runtime import read_results

    committed = read_results("labs.fp8", "training_sweep.json")
    assert committed["meta"]["command"].startswith("python -m labs.fp8.sweep")
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"seeds": [3, 4]}))
    assert read_results("labs.fp8", "training_sweep.json", mine) == {"seeds": [3, 4]}
    with pytest.raises(ValueError, match="path must name an existing .json file"):
        read_results("labs.fp8", "training_sweep.json", tmp_path / "absent.json")
    with pytest.raises(TypeError, match="path must be a str or a pathlib.Path"):
        read_results("labs.fp8", "training_sweep.json", 3)


@pytest.mark.parametrize(("preset", "want"), [(None, "false"), ("true", "true")])
def test_importing_the_course_stops_jax_taking_most_of_a_gpu(preset, want):
    """JAX preallocates 75% of a GPU unless XLA_PYTHON_CLIENT_PREALLOCATE is set before it starts;
    importing labs.common sets it to false, unless the user chose a value."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "XLA_PYTHON_CLIENT_PREALLOCATE"}
    if preset is not None:
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = preset
    code = "import os, labs.common; print(os.environ.get('XLA_PYTHON_CLIENT_PREALLOCATE'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == want, out.stderr


def test_host_jax_device_is_the_cpu_or_a_clear_error(monkeypatch):
    """The CPU device when JAX has one; when JAX_PLATFORMS leaves the CPU out, JAX raises about
    another backend (here: a TPU without libtpu), and the course says what to set instead."""
    import jax

    from labs.common import DeviceUnavailableError, host_jax_device

    assert host_jax_device().platform == "cpu"

    def no_cpu(backend=None):
        raise RuntimeError("Unable to initialize backend 'tpu': Failed to open libtpu.so")

    monkeypatch.setattr(jax, "devices", no_cpu)
    monkeypatch.setenv("JAX_PLATFORMS", "tpu")
    with pytest.raises(DeviceUnavailableError, match=r"JAX_PLATFORMS='tpu'\): set JAX_PLATFORMS"):
        host_jax_device()
