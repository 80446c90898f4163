"""The committed long-schedule seeds of chapter 1: what made them, their grid, their fits
recomputed from their losses, one checkpoint retrained, bad input."""

import numpy as np
import pytest

from labs.scaling.lm import make_corpus
from labs.scaling.schedule_long import LONG_STEPS, load_schedule_long
from labs.scaling.schedule_seeds import summarize_fit
from labs.scaling.sweep import SweepResult
from labs.scaling.sweep_seeds import SETTINGS, _recorded_sweep
from tests.conftest import needs_record_arithmetic


def _sweep(seeds, index, schedule) -> SweepResult:
    return _recorded_sweep(seeds, index, schedule, loss_key=f"loss_{schedule}")


def test_the_committed_seeds_name_their_command_and_grid():
    seeds = load_schedule_long()
    meta = seeds["meta"]
    assert meta["command"].startswith("python -m labs.scaling.schedule_long")
    assert {"python", "numpy", "scipy", "torch"} <= set(meta["versions"])
    assert meta["settings"]["steps"] == list(LONG_STEPS)
    same = {k: v for k, v in SETTINGS.items() if k != "steps"}
    assert {k: meta["settings"][k] for k in same} == same
    assert len(seeds["seeds"]) >= 4
    steps, width = np.array(seeds["steps"]), np.array(seeds["d_model"])
    assert sorted(set(steps)) == list(LONG_STEPS) and sorted(set(width)) == SETTINGS["widths"]
    # D counts the tokens of 16 windows of `context` tokens per step
    np.testing.assert_allclose(seeds["D"], steps * 16 * SETTINGS["context"])
    # the longest runs are the same runs under both schedules: one cosine of 1600 steps
    longest = steps == max(LONG_STEPS)
    fixed, matched = np.array(seeds["loss_fixed"]), np.array(seeds["loss_matched"])
    np.testing.assert_array_equal(fixed[:, longest], matched[:, longest])
    # and only those: every shorter run differs between the schedules
    assert np.all(fixed[:, ~longest] != matched[:, ~longest])


@pytest.mark.parametrize("schedule", ["matched", "fixed"])
def test_the_committed_fits_follow_from_the_committed_losses(schedule):
    seeds = load_schedule_long()
    entropy_rate = seeds["meta"]["settings"]["entropy_rate"]
    for index in (0, len(seeds["seeds"]) - 1):
        summary = summarize_fit(_sweep(seeds, index, schedule), entropy_rate)
        committed = seeds[f"summaries_{schedule}"][index]
        for key in ("E", "alpha", "beta", "a", "E_gap"):
            assert summary[key] == pytest.approx(committed[key], rel=1e-3), key


@needs_record_arithmetic
def test_one_checkpoint_of_seed_0_retrains_to_the_committed_losses():
    """Width 4 of seed 0: the first 200 steps of the 1600-step cosine, and the matched 200-step
    run, retrained here (about a second each)."""
    from labs.scaling import TinyLMConfig
    from labs.scaling.torch import train_run

    seeds = load_schedule_long()
    corpus = make_corpus(train_tokens=SETTINGS["train_tokens"], seed=SETTINGS["corpus_seed"])
    config = TinyLMConfig(d_model=4, n_heads=1)
    kwargs = {"peak_lr": SETTINGS["peak_lr"], "seed": 0, "device": "cpu"}
    _, fixed = train_run(config, corpus, 200, schedule_steps=max(LONG_STEPS), **kwargs)
    _, matched = train_run(config, corpus, 200, **kwargs)
    cell = (np.array(seeds["d_model"]) == 4) & (np.array(seeds["steps"]) == 200)
    assert fixed[200] == pytest.approx(np.array(seeds["loss_fixed"][0])[cell][0], rel=1e-5)
    assert matched[200] == pytest.approx(np.array(seeds["loss_matched"][0])[cell][0], rel=1e-5)


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="path"):
        load_schedule_long("no_such_file.json")
    with pytest.raises(SystemExit):  # argparse: --seeds out of range
        from labs.scaling.schedule_long import main

        main(["--seeds", "1"])


def test_the_matched_runs_shared_with_the_notebook_sweep_agree():
    """Runs of 200 and 400 steps are in both grids, with the same seed, batches and schedule: the
    long sweep's matched losses must equal the notebook sweep's committed ones."""
    from labs.scaling.sweep_seeds import load_sweep_seeds

    long_, short = load_schedule_long(), load_sweep_seeds()
    n_seeds = min(len(long_["seeds"]), len(short["seeds"]))
    for steps in (200, 400):
        for width in SETTINGS["widths"]:
            in_long = (np.array(long_["d_model"]) == width) & (np.array(long_["steps"]) == steps)
            in_short = (np.array(short["d_model"]) == width) & (np.array(short["steps"]) == steps)
            np.testing.assert_allclose(
                np.array(long_["loss_matched"])[:n_seeds, in_long],
                np.array(short["loss"])[:n_seeds, in_short],
                rtol=1e-5,
            )


def test_the_ledger_quotes_the_committed_shift_of_the_exponent():
    """book/claims.md states the shift of a (fixed minus matched, seed by seed) and the control
    (the range of a over the seeds, under each schedule) to two decimals; they must follow from
    the data."""
    from pathlib import Path

    seeds = load_schedule_long()
    a_fixed, a_matched = (
        np.array([x["a"] for x in seeds[f"summaries_{k}"]]) for k in ("fixed", "matched")
    )
    shift = a_fixed - a_matched
    quoted = f"by {-shift.max():.2f} to {-shift.min():.2f}, more than the whole seed-to-seed "
    quoted += f"range of the exponent under either schedule, {np.ptp(a_matched):.2f} matched and "
    quoted += f"{np.ptp(a_fixed):.2f} fixed)"
    assert shift.max() < -max(np.ptp(a_matched), np.ptp(a_fixed))  # 'more than the whole range'
    ledger = Path(__file__).parents[2] / "book" / "claims.md"
    assert quoted in " ".join(ledger.read_text().split())
