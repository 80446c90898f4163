"""The envelope curves at a second and third peak learning rate (chapter 1, approach 1): what made
them, their summaries recomputed from their curves, one run retrained, bad input."""

import math

import numpy as np
import pytest

from labs.scaling.envelope import envelope_optimal
from labs.scaling.envelope_curves import (
    BLOCK,
    OTHER_RATES,
    load_envelope_curves,
    main,
    summarize_envelopes,
)
from labs.scaling.sweep_seeds import SETTINGS


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


def test_one_run_of_seed_0_retrains_to_the_committed_curve(rate=OTHER_RATES[0]):
    """Width 4, 200 steps, seed 0 at peak_lr 0.01, retrained here (about a second on an idle
    core; one file only, to keep the suite short)."""
    from labs.scaling import TinyLMConfig
    from labs.scaling.lm import make_corpus
    from labs.scaling.torch import train_run

    record = load_envelope_curves(peak_lr=rate)
    corpus = make_corpus(train_tokens=SETTINGS["train_tokens"], seed=SETTINGS["corpus_seed"])
    config = TinyLMConfig(d_model=4, n_heads=1)
    curve, evals = train_run(config, corpus, 200, peak_lr=rate, seed=0, device="cpu")
    run = (np.array(record["d_model"]) == 4) & (np.array(record["steps"]) == 200)
    r = np.flatnonzero(run)[0]
    assert evals[200] == pytest.approx(record["loss"][0][r], rel=1e-5)
    np.testing.assert_allclose(curve.reshape(-1, BLOCK).mean(axis=1), record["curves"][0][r],
                               atol=2e-5)  # fmt: skip


def test_summaries_of_the_chapters_file_match_the_chapter():
    # the chapter's range of a over its 8 seeds at peak_lr 0.03, as the prose gives it
    a = np.array([row["a"] for row in summarize_envelopes(load_envelope_curves())])
    assert len(a) == 8 and 0.41 < a.min() < 0.43 and 0.55 < a.max() < 0.57


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
