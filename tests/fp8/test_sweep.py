"""The committed training sweep of chapter 2: what made it, its shape, and one run reproduced."""

import json

import numpy as np
import pytest
import torch

from labs.fp8.sweep import PRECISIONS, TASK, TRAINING, load_sweep, task_tokens
from labs.fp8.sweep import main as sweep_main
from labs.fp8.torch_train import train_tiny_lm


def test_the_committed_sweep_names_its_command_versions_and_configuration():
    sweep = load_sweep()
    meta = sweep["meta"]
    assert meta["command"].startswith("python -m labs.fp8.sweep")
    assert {"python", "torch", "numpy"} <= set(meta["versions"])
    assert meta["task"] == TASK and meta["training"] == TRAINING
    assert set(sweep["eval_loss"]) == set(PRECISIONS)
    for precision, losses in sweep["eval_loss"].items():
        assert len(losses) == meta["seeds"] >= 3, precision
        assert all(np.isfinite(losses)), precision


def test_the_committed_entropy_is_the_task_s():
    _, _, entropy = task_tokens()
    assert load_sweep()["entropy"] == pytest.approx(entropy, rel=1e-12)


def test_seed_zero_of_bf16_reproduces_the_committed_loss():
    # Another CPU sums float32 products in another order; BF16's own rounding, a far larger
    # perturbation, moves a run by at most 0.05% (the sweep's FP32 against BF16 pairs), while
    # seeds differ by about 0.45% (one standard deviation): 0.2% tells a reproduction from a
    # different configuration or seed.
    train, held_out, _ = task_tokens()
    run = train_tiny_lm("bf16", train, held_out, TASK["vocab"], **TRAINING, seed=0)
    committed = load_sweep()["eval_loss"]["bf16"][0]
    assert run["eval_loss"] == pytest.approx(committed, rel=2e-3)


def test_load_sweep_rejects_a_bad_path(tmp_path):
    with pytest.raises(TypeError, match="path must be a str"):
        load_sweep(3)
    with pytest.raises(ValueError, match="path must name an existing .json file"):
        load_sweep(tmp_path / "missing.json")
    other = tmp_path / "sweep.json"
    other.write_text('{"meta": {}, "entropy": 1.0, "eval_loss": {}}')
    assert load_sweep(other)["entropy"] == 1.0


def test_additions_record_their_own_command_and_versions():
    meta = load_sweep()["meta"]
    added = [p for addition in meta.get("additions", []) for p in addition["precisions"]]
    assert set(added) <= set(PRECISIONS) and "fp8_short_accumulator" in added
    for addition in meta.get("additions", []):
        assert addition["command"].startswith("python -m labs.fp8.sweep")
        assert "--only" in addition["command"]
        assert {"python", "torch", "numpy"} <= set(addition["versions"])


def test_only_adds_precisions_and_keeps_the_other_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("LABS_PROGRESS", "off")  # main sets it only where unset
    threads = torch.get_num_threads()
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # keep this process's pool
    _, _, entropy = task_tokens()
    path = tmp_path / "sweep.json"
    kept = {"bf16": [1.5]}
    meta = {"command": "made by hand", "task": TASK, "training": TRAINING, "seeds": 1}
    path.write_text(json.dumps({"meta": meta, "entropy": entropy, "eval_loss": kept}))
    sweep_main(["--seeds", "1", "--only", "fp32", "--out", str(path)])
    result = load_sweep(path)
    assert list(result["eval_loss"]) == ["fp32", "bf16"]  # in PRECISIONS' order
    assert result["eval_loss"]["bf16"] == [1.5]  # untouched
    assert entropy < result["eval_loss"]["fp32"][0] < np.log(TASK["vocab"])  # a real run
    assert result["meta"]["command"] == "made by hand"
    assert result["meta"]["additions"][0]["precisions"] == ["fp32"]
    # another configuration is refused rather than mixed in
    with pytest.raises(SystemExit):
        sweep_main(["--seeds", "2", "--only", "fp32", "--out", str(path)])
    with pytest.raises(SystemExit):
        sweep_main(["--seeds", "1", "--only", "fp64", "--out", str(path)])
    assert torch.get_num_threads() == threads
