"""The extra seeds of the comparison of distillation with GRPO (`labs.distill.more_seeds`): the
merge never changes a record the file holds, and the committed record continues the sweep."""

import json

import pytest

from labs.distill import more_seeds
from labs.distill.more_seeds import DEFAULT_RESULTS, merge_seeds
from labs.distill.rl_tuning import DEFAULT_RESULTS as TUNING_RESULTS
from labs.distill.sweep import DEFAULT_RESULTS as SWEEP_RESULTS


def test_merge_adds_seeds_and_arms_and_keeps_old_records_bit_for_bit():
    old = json.loads(json.dumps({"4": {"distill": {"accuracy": [0.1, 0.1 + 0.2]}}}))
    before = json.dumps(old)
    merged = merge_seeds(old, {"4": {"grpo": {"accuracy": [0.0]}}, "5": {"distill": {"x": 1}}})
    assert json.dumps(old) == before  # the argument is not modified
    assert json.dumps(merged["4"]["distill"]) == json.dumps(old["4"]["distill"])
    assert merged["4"]["distill"] is old["4"]["distill"]
    assert sorted(merged) == ["4", "5"] and sorted(merged["4"]) == ["distill", "grpo"]
    # the same record again is accepted; a different one for a kept seed and arm is refused
    assert merge_seeds(merged, {"4": {"distill": {"accuracy": [0.1, 0.1 + 0.2]}}}) == merged
    with pytest.raises(ValueError, match="seed '4', arm 'distill'"):
        merge_seeds(merged, {"4": {"distill": {"accuracy": [0.1, 0.3]}}})


@pytest.mark.parametrize("bad", [None, [], {"4": [1]}, {"4": None}])
def test_merge_refuses_what_is_not_seeds_of_arms(bad):
    with pytest.raises(TypeError, match="old must be a dict"):
        merge_seeds(bad, {})
    with pytest.raises(TypeError, match="new must be a dict"):
        merge_seeds({}, bad)


def test_the_script_appends_and_skips_what_the_file_holds(tmp_path, monkeypatch):
    """Run twice with stand-in arms: the second run adds a seed and an arm and leaves the first
    run's records byte for byte as they were written."""
    calls = []

    def fake_seed(task, teacher, seed, *, arms):
        calls.append((seed, arms[0]))
        return {arms[0]: {"accuracy": [seed / 7, len(calls) / 3]}}

    out = tmp_path / "more_seeds.json"
    monkeypatch.setattr(more_seeds, "DEFAULT_RESULTS", out)
    monkeypatch.setattr(more_seeds, "run_seed", fake_seed)
    monkeypatch.setattr(more_seeds, "load_teacher", lambda: (None, {}))
    more_seeds._main(["4", "6", "--arms", "distill"])
    first = json.loads(out.read_text())
    more_seeds._main(["4", "7", "--arms", "distill", "control"])
    second = json.loads(out.read_text())
    for seed in ("4", "5"):
        assert json.dumps(second["seeds"][seed]["distill"]) == json.dumps(
            first["seeds"][seed]["distill"]
        )
    assert calls == [(4, "distill"), (5, "distill"), (4, "control"), (5, "control"),
                     (6, "distill"), (6, "control")]  # fmt: skip
    assert len(second["meta"]["runs"]) == 2


def test_the_committed_seeds_continue_the_sweep_at_its_budgets():
    """New seeds only (4 on), every arm at the FLOPs the sweep's seed 0 spent on it and the tuned
    run at the search's budget: the extra seeds compare the arms at the same compute."""
    extra = json.loads(DEFAULT_RESULTS.read_text())
    sweep = json.loads(SWEEP_RESULTS.read_text())
    tuning = json.loads(TUNING_RESULTS.read_text())
    seeds = [int(s) for s in extra["seeds"]]
    assert seeds == list(range(len(sweep["seeds"]), len(sweep["seeds"]) + len(seeds)))
    assert len(seeds) >= 4 and extra["tuned_setting"] == tuning["best"]["name"]
    tuned = next(e for e in tuning["settings"] if e["name"] == tuning["best"]["name"])
    for record in extra["seeds"].values():
        assert {"distill", "grpo", "control", "answers", "tuned"} <= set(record)
        for arm in ("distill", "grpo", "control", "answers"):
            assert record[arm]["flops"] == sweep["seeds"]["0"][arm]["flops"], arm
        assert record["tuned"]["flops"] == tuned["runs"]["0"]["flops"]


def test_the_two_records_of_the_long_copy_agree_on_every_seed_they_share():
    """`inherit_seeds.json` trains the long sampled copy of seeds 4 to 11 a second time, beside its
    peer; chapter 6 pairs those peers with this record's runs of the same seeds. The pairing holds
    only if the two scripts ran the same copy: the same answers and accuracies, bit for bit."""
    from labs.distill.inherit_seeds import DEFAULT_RESULTS as INHERIT_RESULTS

    extra = json.loads(DEFAULT_RESULTS.read_text())["seeds"]
    inherit = json.loads(INHERIT_RESULTS.read_text())["seeds"]
    shared = [s for s in inherit if "distill_long" in extra.get(s, {})]
    assert len(shared) >= 4
    for s in shared:
        mine, theirs = extra[s]["distill_long"], inherit[s]["copy"]
        assert mine["answers"] == theirs["answers"], s
        assert (mine["accuracy"][-1], mine["train"]) == (theirs["held_out"], theirs["train"]), s


# SHA-256 of R1's recipe's records of seeds 4 to 7 (json.dumps with sort_keys=True), read from the
# file as committed before its seeds 8 to 11 ran (commit 40bb851): chapter 6 compares the first
# eight seeds with all 12, which holds only if adding seeds 8 to 11 left seeds 4 to 7 as they were.
_CORRECT_4_TO_7 = {
    "4": "9eb7fc462ed4617308ab6cb401b1a11fff0466fe60327476edc75be9d7f39d63",
    "5": "5f02c395c92a5062f75d3478bfa78b88142806a132c62533c8022b559c9b3b52",
    "6": "6ccf98ce3b70970f56f1070ae7951b1bba6eb9e76714d63d043f1d0dfecfb394",
    "7": "9c5fd88a3d7fc1c1b3302bdc399671b6b75ba3e30b816be5752c168f36fb14a0",
}


def test_r1_recipe_runs_on_seeds_4_to_11_and_its_first_four_are_unchanged():
    """R1's recipe ("correct") on every extra seed, 4 to 11 (12 with the sweep's four), each read
    at the sweep's evaluations and within 1% of its seed 0's compute (the filtered traces vary a
    little in length); the records of seeds 4 to 7 are the ones committed before 8 to 11 ran."""
    import hashlib

    record = json.loads(DEFAULT_RESULTS.read_text())
    extra = record["seeds"]
    sweep = json.loads(SWEEP_RESULTS.read_text())["seeds"]
    assert [s for s in extra if "correct" in extra[s]] == [str(s) for s in range(4, 12)]
    base = sweep["0"]["correct"]["flops"]
    for s in map(str, range(4, 12)):
        flops = extra[s]["correct"]["flops"]
        assert len(flops) == len(base) == len(extra[s]["correct"]["accuracy"]), s
        assert abs(flops[-1] / base[-1] - 1) < 0.01, s
    for s, digest in _CORRECT_4_TO_7.items():
        text = json.dumps(extra[s]["correct"], sort_keys=True).encode()
        assert hashlib.sha256(text).hexdigest() == digest, s
    commands = [run["command"] for run in record["meta"]["runs"]]
    assert "python -m labs.distill.more_seeds 8 12 --arms correct" in commands
