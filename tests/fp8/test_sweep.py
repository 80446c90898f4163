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


def test_eval_every_measures_checkpoints_without_changing_the_run():
    tokens = np.arange(400) % 16
    plain = train_tiny_lm("bf16_full", tokens[:300], tokens[300:], 16, steps=6, batch=8, seed=1)
    run = train_tiny_lm(
        "bf16_full", tokens[:300], tokens[300:], 16, steps=6, batch=8, seed=1, eval_every=3
    )
    assert run["train_losses"] == plain["train_losses"]  # evaluating draws no random numbers
    assert list(run["eval_losses"]) == [3, 6] and run["eval_losses"][6] == run["eval_loss"]
    assert run["eval_losses"][3] != run["eval_losses"][6]  # two points of the run, not one
    with pytest.raises(ValueError, match="eval_every"):
        train_tiny_lm("fp32", tokens[:300], tokens[300:], 16, steps=6, batch=8, eval_every=7)


def test_steps_and_eval_every_start_a_file_of_their_own(tmp_path, monkeypatch):
    monkeypatch.setenv("LABS_PROGRESS", "off")
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # keep this process's pool
    path = tmp_path / "horizon.json"
    args = ["--seeds", "1", "--steps", "40", "--eval-every", "20", "--only", "bf16_full"]
    sweep_main([*args, "--out", str(path)])
    result = load_sweep(path)
    assert result["meta"]["training"]["steps"] == 40 and result["meta"]["eval_every"] == 20
    assert result["meta"]["processor"]  # names the machine that made it
    by_step = result["eval_losses_by_step"]["bf16_full"]
    assert list(by_step) == ["20", "40"] and by_step["40"] == result["eval_loss"]["bf16_full"]
    assert len(result["train_loss_windows"]["bf16_full"][0]) == 40 // 20
    with pytest.raises(SystemExit):  # --eval-every beyond --steps
        sweep_main(["--seeds", "1", "--steps", "10", "--eval-every", "20", "--out", str(path)])


def test_the_committed_horizon_continues_the_committed_sweep():
    # the 600-step runs share their first 120 steps with the sweep's runs of the same seed (same
    # weights, same batches), so on the machine that made both their held-out loss at step 120
    # is the sweep's; a horizon made with other settings or seeds would not match
    horizon, sweep = load_sweep(name="training_horizon.json"), load_sweep()
    meta = horizon["meta"]
    assert meta["command"].startswith("python -m labs.fp8.sweep") and meta["processor"]
    assert meta["task"] == TASK and meta["seeds"] == sweep["meta"]["seeds"]
    assert meta["training"] == {**TRAINING, "steps": 600} and meta["eval_every"] == 120
    assert set(horizon["eval_loss"]) == {"fp32", "bf16", "bf16_full", "fp8"}
    for precision in ("fp32", "bf16", "fp8"):
        at_120 = horizon["eval_losses_by_step"][precision]["120"]
        assert at_120 == pytest.approx(sweep["eval_loss"][precision], rel=1e-6), precision
    for precision, losses in horizon["eval_loss"].items():
        assert losses == horizon["eval_losses_by_step"][precision]["600"], precision
        assert len(horizon["train_loss_windows"][precision]) == meta["seeds"], precision
