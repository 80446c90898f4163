"""The envelope curves at a second and third peak learning rate (chapter 1, approach 1): what made
them, their summaries recomputed from their curves, one run retrained, bad input."""

import math

import numpy as np
import pytest

from labs.scaling.envelope import envelope_optimal
from labs.scaling.envelope_curves import (
    BLOCK,
    OTHER_RATES,
    add_seeds,
    load_envelope_curves,
    main,
    summarize_envelopes,
)
from labs.scaling.sweep_seeds import SETTINGS
from tests.conftest import needs_record_arithmetic


@pytest.mark.parametrize("rate", OTHER_RATES)
def test_the_files_are_the_chapters_runs_at_another_rate(rate):
    chapter, other = load_envelope_curves(), load_envelope_curves(peak_lr=rate)
    meta = other["meta"]
    assert meta["command"].startswith("python -m labs.scaling.envelope_curves")
    assert f"--peak-lr {rate:g}" in meta["command"]
    assert {"python", "numpy", "torch"} <= set(meta["versions"])
    assert meta["settings"]["peak_lr"] == rate != chapter["meta"]["settings"]["peak_lr"]
    same = {k: v for k, v in chapter["meta"]["settings"].items() if k != "peak_lr"}
    assert {k: meta["settings"][k] for k in same} == same
    for key in ("N", "D", "d_model", "steps", "block"):
        assert other[key] == chapter[key], key
    assert other["seeds"] == list(range(len(other["seeds"]))) and len(other["seeds"]) >= 4
    for seed_curves, seed_losses in zip(other["curves"], other["loss"], strict=True):
        assert [len(c) for c in seed_curves] == [s // BLOCK for s in other["steps"]]
        assert all(np.isfinite(seed_losses))
    # another rate trains other weights: no run's final loss is the chapter's
    k = len(other["seeds"])
    assert np.all(np.array(other["loss"]) != np.array(chapter["loss"])[:k])


@pytest.mark.parametrize("rate", OTHER_RATES)
def test_the_summaries_follow_from_the_curves(rate):
    """Approach 1 recomputed here from the curves (tokens at the middle of each block, sizes
    mirrored for the control) for the first and the last seed."""
    record = load_envelope_curves(peak_lr=rate)
    n = np.array(record["N"])
    mirror = {876.0: 17760.0, 2136.0: 5808.0, 5808.0: 2136.0, 17760.0: 876.0}
    reversed_n = np.array([mirror[x] for x in n])
    tokens = [(np.arange(s // BLOCK) + 0.5) * BLOCK * 16 * 32 for s in record["steps"]]
    for index in (0, len(record["seeds"]) - 1):
        loss = [np.array(c) for c in record["curves"][index]]
        env, ctl = envelope_optimal(n, tokens, loss), envelope_optimal(reversed_n, tokens, loss)
        row = record["summaries"][index]
        assert row["seed"] == record["seeds"][index]
        assert row["a"] == pytest.approx(env.a, rel=1e-9)
        assert row["a_grid"] == pytest.approx(env.a_grid, rel=1e-9)
        assert row["crossings"] == len(env.switch_C)
        assert row["crossings_reversed"] == len(ctl.switch_C)
        assert (row["a_reversed"] is None) == math.isnan(ctl.a)


@needs_record_arithmetic
@pytest.mark.parametrize(
    ("seed", "rate"),
    [
        (0, OTHER_RATES[0]),
        (4, OTHER_RATES[0]),
        (8, SETTINGS["peak_lr"]),
        (11, OTHER_RATES[1]),
        (12, OTHER_RATES[1]),
    ],
)
def test_one_run_of_a_seed_retrains_to_the_committed_curve(seed, rate):
    """Width 4, 200 steps, retrained here (about a second each on an idle core): at peak_lr 0.01
    seed 0 from the first command and seed 4 from the one that appended seeds 4-7 (`--first-seed
    4`); at the chapter's 0.03 seed 8, from the command that appended seeds 8-11; at 0.1 seed 11,
    from the command that appended seeds 5-11; and seed 12 at 0.1, the first seed of the
    pre-registered replication. The appended seeds are the same runs a single command would
    train."""
    from labs.scaling import TinyLMConfig
    from labs.scaling.lm import make_corpus
    from labs.scaling.torch import train_run

    record = load_envelope_curves(peak_lr=rate)
    corpus = make_corpus(train_tokens=SETTINGS["train_tokens"], seed=SETTINGS["corpus_seed"])
    config = TinyLMConfig(d_model=4, n_heads=1)
    curve, evals = train_run(config, corpus, 200, peak_lr=rate, seed=seed, device="cpu")
    run = (np.array(record["d_model"]) == 4) & (np.array(record["steps"]) == 200)
    r, s = np.flatnonzero(run)[0], record["seeds"].index(seed)
    assert evals[200] == pytest.approx(record["loss"][s][r], rel=1e-5)
    np.testing.assert_allclose(curve.reshape(-1, BLOCK).mean(axis=1), record["curves"][s][r],
                               atol=2e-5)  # fmt: skip
    other = record["curves"][s - 1][r]  # control: the neighbouring seed's curve is not this one
    assert np.abs(curve.reshape(-1, BLOCK).mean(axis=1) - other).max() > 1e-3


def test_the_lr001_file_was_extended_to_twelve_seeds():
    record = load_envelope_curves(peak_lr=OTHER_RATES[0])
    assert record["seeds"][:12] == list(range(12)) and len(record["summaries"]) >= 12
    four, eight, *_ = record["meta"]["extended"]  # then the replication's seeds, one at a time
    for added, first in ((four, 4), (eight, 8)):
        assert f"--first-seed {first}" in added["command"] and "--peak-lr 0.01" in added["command"]
        assert added["seeds"] == list(range(first, first + 4))
        assert added["settings"] == record["meta"]["settings"]
    assert "--first-seed" not in record["meta"]["command"]  # seeds 0-3 keep their own record


def test_the_lr01_file_was_extended_to_the_same_twelve_seeds():
    """Seed 4 alone first (to time one seed before committing to seven), then seeds 5-11: all three
    rates now exist for seeds 0-11, the seeds the chapter's best-rate-per-size envelope reads."""
    record = load_envelope_curves(peak_lr=OTHER_RATES[1])
    assert record["seeds"][:12] == list(range(12)) and len(record["summaries"]) >= 12
    one, seven, *_ = record["meta"]["extended"]  # then the replication's seeds, one at a time
    for added, first, count in ((one, 4, 1), (seven, 5, 7)):
        assert f"--first-seed {first} --seeds {count}" in added["command"]
        assert "--peak-lr 0.1" in added["command"]
        assert added["seeds"] == list(range(first, first + count))
        assert added["settings"] == record["meta"]["settings"]
    assert "--first-seed" not in record["meta"]["command"]  # seeds 0-3 keep their own record
    assert [row["seed"] for row in record["summaries"]][:12] == list(range(12))


def test_the_chapters_file_was_extended_to_the_same_twelve_seeds():
    """Seeds 8-11 at 0.03 were appended so that the rate comparison stays paired seed by seed."""
    record, low = load_envelope_curves(), load_envelope_curves(peak_lr=OTHER_RATES[0])
    assert record["seeds"] == low["seeds"] and record["seeds"][:12] == list(range(12))
    added, *_ = record["meta"]["extended"]  # then the replication's seeds, one at a time
    assert "--first-seed 8" in added["command"] and "--peak-lr" not in added["command"]
    assert added["seeds"] == [8, 9, 10, 11] and added["settings"] == record["meta"]["settings"]
    assert [row["seed"] for row in record["summaries"]] == record["seeds"]


def _split(record, at, end):
    """Seeds 0 .. at-1 of a curves file, and seeds at .. end-1 as the seeds that extend it."""
    cut = {key: record[key][:end] for key in ("seeds", "curves", "loss")}
    return ({**record, **{key: v[:at] for key, v in cut.items()}},
            {**record, **{key: v[at:] for key, v in cut.items()}})  # fmt: skip


def test_add_seeds_appends_and_keeps_the_first_seeds_bit_for_bit():
    """A tiny merge: seeds 0-1 of the chapter's file extended by its seeds 2-3 gives back the
    file's first four seeds, and the first two serialise to the same JSON text as before."""
    import json

    record = load_envelope_curves()
    meta = {k: v for k, v in record["meta"].items() if k != "extended"}  # the first command's
    first, extra = _split({**record, "meta": meta}, 2, 4)
    extra = {**extra, "meta": {**meta, "command": "x --first-seed 2"}}
    merged = add_seeds(first, extra)
    assert merged["seeds"] == [0, 1, 2, 3] and first["seeds"] == [0, 1]  # inputs unchanged
    assert merged["curves"] == record["curves"][:4] and merged["loss"] == record["loss"][:4]
    for key in ("curves", "loss"):
        assert json.dumps(merged[key][:2]) == json.dumps(first[key])
    assert merged["meta"]["command"] == record["meta"]["command"]
    assert merged["meta"]["extended"] == [extra["meta"]]
    a = [row["a"] for row in merged["summaries"]]
    assert a == [row["a"] for row in summarize_envelopes(_split(record, 4, 4)[0])]
    assert len(set(a)) == 4  # the summaries are per seed, not one row repeated
    # a second extension (as the 0.01 file had: seeds 4-7, then 8-11) is listed after the first
    later = {**_split(record, 4, 6)[1], "meta": {**meta, "command": "x --first-seed 4"}}
    twice = add_seeds(merged, later)
    assert twice["seeds"] == list(range(6)) and twice["curves"] == record["curves"][:6]
    assert twice["meta"]["extended"] == [extra["meta"], later["meta"]]


def test_add_seeds_refuses_what_does_not_extend_the_file():
    record = load_envelope_curves()
    first, extra = _split(record, 2, 4)
    with pytest.raises(TypeError, match="record must be the dict load_envelope_curves returns"):
        add_seeds([first], extra)
    with pytest.raises(TypeError, match="extra must be a curves dict"):
        add_seeds(first, None)
    with pytest.raises(ValueError, match=r"extra must hold the keys of a curves file, .*'loss'"):
        add_seeds(first, {k: v for k, v in extra.items() if k != "loss"})
    with pytest.raises(ValueError, match=r"extra\['steps'\] must equal record\['steps'\]"):
        add_seeds(first, {**extra, "steps": extra["steps"][::-1]})
    settings = {**record["meta"]["settings"], "peak_lr": 0.01}
    with pytest.raises(ValueError, match="extra's settings must equal record's"):
        add_seeds(first, {**extra, "meta": {**extra["meta"], "settings": settings}})
    with pytest.raises(ValueError, match=r"extra\['seeds'\] must be the next seeds \[2, 3\]"):
        add_seeds(first, {**extra, "seeds": [3, 4]})
    with pytest.raises(ValueError, match=r"extra\['seeds'\] must be the next seeds \[2\]"):
        add_seeds(first, {**extra, "seeds": [], "curves": [], "loss": []})
    with pytest.raises(ValueError, match=r"record\['seeds'\] must be 0 .. n-1"):
        add_seeds({**first, "seeds": [1, 2]}, extra)


def test_first_seed_bad_input_stops_before_training(tmp_path, capsys):
    record = load_envelope_curves()
    path = tmp_path / "curves.json"
    path.write_text(__import__("json").dumps(_split(record, 2, 2)[0]))
    cases = {
        ("--first-seed", "-1"): "--first-seed must be in [0, 63], got -1",
        ("--first-seed", "2", "--seeds", "63"): "--seeds must be in [1, 62]",
        ("--first-seed", "2", "--seeds", "0"): "--seeds must be in [1, 62]",
        ("--first-seed", "1", "--seeds", "1", "--out", str(tmp_path / "no.json")):
            "which does not exist",
        ("--first-seed", "3", "--seeds", "1", "--out", str(path)):
            "--first-seed must be the next seed of",
        ("--first-seed", "2", "--seeds", "1", "--out", str(path), "--peak-lr", "0.01"):
            "--peak-lr 0.01 differs from",
    }  # fmt: skip
    for argv, message in cases.items():
        with pytest.raises(SystemExit):
            main(list(argv))
        assert message in capsys.readouterr().err, argv


def test_summaries_of_the_chapters_file_match_the_chapter():
    # the range of a over seeds 0-7 at peak_lr 0.03, the seeds approach 1 reads in the chapter
    a = np.array([row["a"] for row in summarize_envelopes(load_envelope_curves())])
    assert len(a) >= 12 and 0.41 < a[:8].min() < 0.43 and 0.55 < a[:8].max() < 0.57


def test_bad_input_names_the_parameter():
    for bad in ("0", "-0.01", "2", "nan"):
        with pytest.raises(SystemExit):  # argparse: --peak-lr out of (0, 1]
            main(["--seeds", "2", "--peak-lr", bad])
    with pytest.raises(ValueError, match=r"peak_lr must be 0.03 or one of \[0.01, 0.1\]"):
        load_envelope_curves(peak_lr=0.05)
    with pytest.raises(ValueError, match="peak_lr must be"):
        load_envelope_curves(peak_lr=-0.01)
    with pytest.raises(TypeError, match="peak_lr must be"):
        load_envelope_curves(peak_lr="0.01")
    with pytest.raises(ValueError, match="give path or peak_lr, not both"):
        load_envelope_curves("x.json", peak_lr=0.01)
    with pytest.raises(TypeError, match="record must be the dict load_envelope_curves returns"):
        summarize_envelopes([1, 2])
    with pytest.raises(ValueError, match=r"record must hold the keys of a curves file, missing"):
        summarize_envelopes({"seeds": [0]})
    record = load_envelope_curves()
    with pytest.raises(ValueError, match=r"record\['curves'\] must hold one entry per seed"):
        summarize_envelopes({**record, "curves": record["curves"][:2]})


def test_first_seed_appends_what_one_longer_run_would_write(tmp_path, monkeypatch):
    """The script end to end, with training replaced by a fast stand-in (a curve drawn from the
    seed, the width and the steps): 2 seeds then `--first-seed 2 --seeds 2` give the curves,
    losses and summaries of one 4-seed command, and leave the first file's seeds as they were."""
    import json

    import labs.scaling.lm as scaling_lm
    import labs.scaling.torch as scaling_torch

    small = scaling_lm.make_corpus(train_tokens=4096, valid_tokens=1024)  # the stand-in's input
    monkeypatch.setattr(scaling_lm, "make_corpus", lambda **_: small)

    def stand_in(config, corpus, steps, *, peak_lr, seed, device):
        rng = np.random.default_rng([seed, steps, config.d_model])
        t = np.arange(1, steps + 1)
        curve = 2 + 40 / config.d_model / (1 + t / 50) + 0.02 * rng.standard_normal(steps)
        return curve, {steps: float(curve[-1])}

    monkeypatch.setattr(scaling_torch, "train_run", stand_in)
    two, four = tmp_path / "two.json", tmp_path / "four.json"
    main(["--seeds", "2", "--out", str(two)])
    before = json.loads(two.read_text())
    main(["--first-seed", "2", "--seeds", "2", "--out", str(two)])
    main(["--seeds", "4", "--out", str(four)])
    merged, whole = json.loads(two.read_text()), json.loads(four.read_text())
    for key in ("seeds", "curves", "loss", "summaries"):
        assert merged[key] == whole[key], key
    assert merged["curves"][:2] == before["curves"] and merged["meta"] == {
        **before["meta"],
        "extended": [merged["meta"]["extended"][0]],
    }
    assert merged["meta"]["extended"][0]["seeds"] == [2, 3]
    assert merged["curves"][2] != merged["curves"][1]  # the stand-in differs from seed to seed


def test_the_replication_seeds_follow_the_preregistration():
    """The fresh seeds of the pre-registered replication (data/PREREGISTRATION_best_rate.md): each
    appended to all three files by its own one-seed command, after the rule was committed
    (2026-12-05, 14:19 UTC), from seed 12 on; the summaries of seeds 0 and 11 still follow from
    their curves (the chapter's 12-seed asserts check that seeds 0-11 did not change)."""
    from importlib import resources

    text = (resources.files("labs.scaling") / "data" / "PREREGISTRATION_best_rate.md").read_text()
    assert "12, 13, 14, 15 and 16" in text and "at least 4 of the 5" in text
    records = [load_envelope_curves()] + [load_envelope_curves(peak_lr=r) for r in OTHER_RATES]
    fresh = [e for e in records[0]["meta"]["extended"] if e["seeds"][0] >= 12]
    assert 3 <= len(fresh) <= 5  # the rule needs 3 seeds or more; 5 were pre-registered
    for record in records:
        added = [e for e in record["meta"]["extended"] if e["seeds"][0] >= 12]
        assert [e["seeds"] for e in added] == [[12 + i] for i in range(len(fresh))]
        assert record["seeds"] == list(range(12 + len(fresh)))
        for e in added:
            assert f"--first-seed {e['seeds'][0]} --seeds 1" in e["command"]
            assert e["settings"] == record["meta"]["settings"] and e["date"] >= "2026-12-05T14:19"
        summaries = summarize_envelopes(
            {**record, "seeds": [0, 11], "curves": [record["curves"][0], record["curves"][11]]}
        )
        for row in summaries:
            assert row["a"] == pytest.approx(record["summaries"][row["seed"]]["a"], rel=1e-9)
