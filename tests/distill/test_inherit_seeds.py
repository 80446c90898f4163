"""The extra seeds of "What does a copy inherit?" (`labs.distill.inherit_seeds`): the file is added
to, never rewritten; a run with other settings than the file's is refused before anything runs."""

import copy
import json

import pytest

from labs.distill import inherit_seeds
from labs.distill.inherit_seeds import SETTING_KEYS, _merge_results


def _results(seeds, **meta):
    base = {"sweep": "r1_sweep.json", "arm": "distill_long", "peer_max_steps": 824,
            "torch_threads": 1, "runs": [{"command": "first"}]}  # fmt: skip
    return {
        "meta": {**base, **meta},
        "teacher": {"train": 0.8, "answers": [3, 5, 8]},
        "seeds": {str(s): {"copy": {"answers": [s, 1, 0.1 + 0.2]}, "peer": {"steps": 40},
                           "cpu_seconds": 40 + s / 7} for s in seeds},
    }  # fmt: skip


def test_merge_keeps_old_seeds_bit_for_bit_and_appends_the_run():
    old = json.loads(json.dumps(_results([4, 5])))
    before = json.dumps(old)
    new = _results([5, 6], runs=[{"command": "second"}])
    new["seeds"]["5"] = copy.deepcopy(old["seeds"]["5"])  # the same record again is accepted
    merged = _merge_results(old, new)
    assert json.dumps(old) == before  # the argument is not modified
    assert sorted(merged["seeds"]) == ["4", "5", "6"]
    for seed in ("4", "5"):
        assert json.dumps(merged["seeds"][seed]) == json.dumps(old["seeds"][seed])
    assert [r["command"] for r in merged["meta"]["runs"]] == ["first", "second"]
    assert _merge_results(None, new) is new  # no file yet: the run is the file


def test_merge_refuses_a_changed_record_for_a_kept_seed():
    old, new = _results([4]), _results([4])
    new["seeds"]["4"]["copy"]["answers"][2] = 0.3  # not 0.1 + 0.2: another run's result
    with pytest.raises(ValueError, match="seed '4', arm 'copy'"):
        _merge_results(old, new)


OTHER = [("sweep", "other.json"), ("arm", "greedy"), ("peer_max_steps", 412), ("torch_threads", 2)]


@pytest.mark.parametrize(("key", "value"), OTHER)
def test_merge_refuses_other_settings_naming_them(key, value):
    assert key in SETTING_KEYS
    with pytest.raises(ValueError, match=f"setting '{key}' must match the file's"):
        _merge_results(_results([4]), _results([5], **{key: value}))


def test_merge_refuses_another_teacher():
    new = _results([5])
    new["teacher"]["answers"] = [3, 5, 9]
    with pytest.raises(ValueError, match="teacher .* must match the file's"):
        _merge_results(_results([4]), new)


def test_the_script_appends_skips_kept_seeds_and_refuses_other_settings(tmp_path, monkeypatch):
    """Run twice with stand-in runs (a tiny setting: no training): the second adds a seed and
    leaves the first run's records byte for byte; a run whose peer search length differs (another
    batch size for the answer key) is refused and leaves the file as it was."""
    calls = []

    def fake_seed(task, teacher, seed, *, arms):
        calls.append(seed)
        return {arms[0]: {"answers": [seed], "accuracy": [0.1, seed / 7], "train": 0.5}}

    out = tmp_path / "inherit_seeds.json"
    monkeypatch.setattr(inherit_seeds, "DEFAULT_RESULTS", out)
    monkeypatch.setattr(inherit_seeds, "run_seed", fake_seed)
    monkeypatch.setattr(inherit_seeds, "_peer_at", lambda task, seed, level, steps: {"steps": seed})
    monkeypatch.setattr(inherit_seeds, "load_teacher", lambda: (None, {}))
    inherit_seeds._main(["4", "6"])
    first = out.read_text()
    inherit_seeds._main(["5", "7"])
    second = json.loads(out.read_text())
    assert calls == [4, 5, 6]  # seed 5 is kept, not run again
    for seed in ("4", "5"):
        assert json.dumps(second["seeds"][seed]) == json.dumps(json.loads(first)["seeds"][seed])
    assert len(second["meta"]["runs"]) == 2 and sorted(second["seeds"]) == ["4", "5", "6"]
    kept = out.read_text()
    monkeypatch.setitem(inherit_seeds.SETTINGS, "answers", {"batch_size": 32})
    with pytest.raises(ValueError, match="setting 'peer_max_steps' must match"):
        inherit_seeds._main(["7", "8"])
    assert out.read_text() == kept and calls == [4, 5, 6]
