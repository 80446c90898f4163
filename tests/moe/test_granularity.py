"""The committed ablation of fine-grained and shared experts (chapter 4): what made it, equal
budgets counted from the layers' own weights, one run reproduced, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from labs.moe import MoEConfig
from labs.moe import granularity as gran
from labs.moe.torch import ROUTERS, DeepSeekMoE, _moe_layer
from labs.moe.training import best_loss


@pytest.fixture(scope="module")
def committed():
    return gran.load_ablation()


def _moe_configs():
    return {
        name: MoEConfig(
            d_model=gran.SETTINGS["d_model"], d_expert=width, n_routed=routed, n_shared=shared, k=k
        )  # fmt: skip
        for name, (kind, shared, routed, width, k) in gran.CONFIGS.items()
        if kind == "moe"
    }


def _layer(name: str) -> DeepSeekMoE:
    layer = gran.moe_layer(name)
    assert layer.config == _moe_configs()[name]
    return layer


def _weights_one_token_uses(name: str) -> tuple[int, int]:
    """(expert weights in the layer, expert weights with a gradient for one token): the count of
    the layer's own tensors, independent of the formula under test."""
    torch.manual_seed(0)
    layer = _layer(name)
    layer._forward(torch.randn(1, layer.config.d_model)).sum().backward()
    experts = [p for pname, p in layer.named_parameters() if not pname.startswith("router")]
    total = sum(p.numel() for p in experts)
    used = sum(int((p.grad != 0).sum()) for p in experts if p.grad is not None)
    return total, used


def test_the_committed_ablation_names_its_command_versions_and_configurations(committed):
    meta = committed["meta"]
    assert meta["command"].startswith("python -m labs.moe.granularity")
    assert {"python", "numpy", "torch"} <= set(meta["versions"])
    assert meta["settings"] == dict(gran.SETTINGS)
    assert meta["configs"] == {name: list(spec) for name, spec in gran.CONFIGS.items()}
    assert meta["routers"] == dict(gran.ROUTERS)
    assert meta["router_lr"] == dict(gran.ROUTER_LR)
    assert committed["best_loss"] == pytest.approx(best_loss(), rel=1e-12)
    assert set(committed["held_out"]) == set(gran.CONFIGS)
    for name, losses in committed["held_out"].items():
        assert len(losses) == meta["seeds"] >= 4, name
        # an expected cross-entropy is never below the chain's entropy
        assert (np.array(losses) > committed["best_loss"]).all(), name


def test_every_moe_configuration_has_the_same_total_and_active_expert_weights():
    counts = {name: _weights_one_token_uses(name) for name in _moe_configs()}
    assert len(set(counts.values())) == 1, counts
    total, used = next(iter(counts.values()))
    assert (total, used) == (3 * 32 * 128, 3 * 32 * 32)  # widths 128 in all, 32 per token
    for name, config in _moe_configs().items():
        assert gran.expert_parameters(config) == {"total": total, "active": used}, name


def test_the_committed_parameters_are_the_counted_ones(committed):
    expected = {
        name: dict(zip(("total", "active"), _weights_one_token_uses(name), strict=True))
        for name in _moe_configs()
    }
    assert committed["parameters"] == expected


def test_the_router_controls_swap_the_router_budgets_of_coarse_and_fine(committed):
    """Router weights counted from each layer's tensors, against D x E by hand (D = 32): the
    wide router gives the coarse experts m = 4's router, the narrow one gives m = 4's experts
    the coarse router's budget (two factors, 32 x 4 and 4 x 32)."""
    counted = {
        name: sum(p.numel() for pname, p in _layer(name).named_parameters() if "router" in pname)
        for name in _moe_configs()
    }
    by_hand = {"coarse": 32 * 8, "fine, m=4": 32 * 32, "coarse, wide router": 32 * 8 * 4,
               "fine, narrow router": 32 * 4 + 4 * 32}  # fmt: skip
    assert {name: counted[name] for name in by_hand} == by_hand
    assert by_hand["coarse, wide router"] == by_hand["fine, m=4"] == 4 * by_hand["coarse"]
    assert by_hand["fine, narrow router"] == by_hand["coarse"]
    assert committed["router_weights"] == counted
    for name in gran.ROUTERS:
        assert len(committed["held_out"][name]) == committed["meta"]["seeds"], name


def test_the_wide_router_scores_each_expert_by_its_best_centroid():
    """Expert i's logit is the max of its 4 centroids' (NumPy, by hand); with the 4 centroids of
    each expert equal, the layer is the plain coarse layer, and with them apart it is not."""
    torch.manual_seed(1)
    wide, x = _layer("coarse, wide router"), torch.randn(64, 32)
    logits = x.numpy() @ wide.router.detach().numpy()  # (64, 32)
    by_hand = np.stack([logits[:, 4 * i : 4 * i + 4].max(1) for i in range(8)], axis=1)
    np.testing.assert_allclose(wide._scores(x).detach().numpy(), by_hand, rtol=1e-5, atol=1e-6)
    plain = DeepSeekMoE(wide.config)
    plain.load_state_dict({n: t for n, t in wide.state_dict().items() if n != "router"},
                          strict=False)  # fmt: skip
    with torch.no_grad():
        wide.router.copy_(plain.router.repeat_interleave(4, dim=1))
    torch.testing.assert_close(wide._forward(x), plain._forward(x))
    with torch.no_grad():
        wide.router.add_(0.5 * torch.randn(wide.router.shape))
    assert (wide._forward(x) - plain._forward(x)).abs().max() > 1e-3


def test_the_narrow_router_has_rank_4_and_still_picks_within_groups():
    """Its 32 logits are x A B (NumPy, by hand), of rank 4 over many tokens where the plain
    router's are of rank 32; and top-8 does not just take whole groups of 4 adjacent experts
    (the split of one coarse expert): the router chooses experts one by one."""
    torch.manual_seed(2)
    narrow, x = _layer("fine, narrow router"), torch.randn(256, 32)
    a, b = narrow.router_in.detach().numpy(), narrow.router_out.detach().numpy()
    scores = narrow._scores(x).detach().numpy()
    np.testing.assert_allclose(scores, x.numpy() @ a @ b, rtol=1e-5, atol=1e-5)
    assert np.linalg.matrix_rank(scores, tol=1e-4) == 4
    assert np.linalg.matrix_rank((x @ _layer("fine, m=4").router).detach().numpy()) == 32
    narrow._forward(x)
    groups = np.sort(narrow.last_indices.numpy() // 4, axis=1)  # (256, 8) group of each pick
    whole = (groups.reshape(-1, 2, 4) == groups.reshape(-1, 2, 4)[..., :1]).all((1, 2))
    assert whole.mean() < 0.5, whole.mean()  # most tokens take parts of 3 groups or more


RANKED = {  # name: (rank, router weights by hand: the factors' shapes, D = E = 32)
    "fine, rank-2 router": (2, 32 * 2 + 2 * 32),
    "fine, narrow router": (4, 32 * 4 + 4 * 32),
    "fine, rank-8 router": (8, 32 * 8 + 8 * 32),
    "fine, rank-16 router": (16, 32 * 16 + 16 * 32),
    "fine, rank-4 router, 3 factors": (4, 32 * 24 + 24 * 4 + 4 * 32),
    "fine, rank-32 router": (32, 32 * 32 + 32 * 32),
    "fine, m=4": (32, 32 * 32),
}


def test_the_rank_controls_separate_rank_from_weight_count(committed):
    """m = 4's experts under routers of rank 2 to 32: the rank read off 256 tokens' logits, the
    weights counted from the layer's tensors, both against the shapes by hand. Rank 16 has the
    plain router's weight count; the three-factor router has rank 4 with nearly 4x the weights."""
    torch.manual_seed(3)
    x = torch.randn(256, 32)
    for name, (rank, weights) in RANKED.items():
        layer = _layer(name)
        routers = {pname: p for pname, p in layer.named_parameters() if "router" in pname}
        assert sum(p.numel() for p in routers.values()) == weights == committed[
            "router_weights"][name], name  # fmt: skip
        scores = layer._scores(x).detach().numpy()
        assert np.linalg.matrix_rank(scores, tol=1e-4) == rank, name
        by_hand = x.numpy()
        for p in routers.values():  # in order: router_in (, router_mid), router_out
            by_hand = by_hand @ p.detach().numpy()
        np.testing.assert_allclose(scores, by_hand, rtol=1e-4, atol=1e-4, err_msg=name)
        assert len(committed["held_out"][name]) == committed["meta"]["seeds"], name
    assert RANKED["fine, rank-16 router"][1] == RANKED["fine, m=4"][1]
    assert RANKED["fine, rank-32 router"][1] == 2 * RANKED["fine, m=4"][1]  # full rank, 2 factors
    assert RANKED["fine, rank-4 router, 3 factors"][1] > 3.8 * RANKED["fine, narrow router"][1]


def test_an_unknown_router_is_named():
    with pytest.raises(ValueError, match="router"):
        _moe_layer(_moe_configs()["coarse"], "softmax")
    assert ROUTERS[0] == "linear" and set(gran.ROUTERS.values()) <= set(ROUTERS)


def test_one_committed_run_reproduces_and_differs_from_its_neighbours(committed):
    """The dense layer of the active width (the fastest configuration that trains an FFN), seed
    0, re-run: it lands on its committed loss, not on another seed's or configuration's."""
    live = gran.run_ablation("dense, active width", seed=0)["held_out"]
    kept = committed["held_out"]["dense, active width"]
    assert abs(live - kept[0]) < 2e-3
    others = [kept[1], committed["held_out"]["dense, total width"][0]]
    assert all(abs(live - other) > 2e-3 for other in others), (live, others)


def test_the_exact_held_out_loss_agrees_with_the_training_loss_it_replaces():
    """Late in a run, the loss on fresh batches estimates the held-out loss with sampling noise
    (5,120 tokens over 20 steps); the exact one must lie within that noise of it."""
    run = gran.run_ablation("no FFN", seed=3, steps=300)
    assert abs(np.mean(run["loss"][-20:]) - run["held_out"]) < 0.05
    assert run["held_out"] > best_loss()


def test_paired_differences_are_seed_by_seed(committed):
    gap = gran.paired_differences("no FFN", "coarse", committed)
    assert gap.shape == (committed["meta"]["seeds"],)
    assert (gap > 0.1).all()  # an MoE of any grain beats no FFN by a wide margin
    assert (gran.paired_differences("coarse", "no FFN", committed) == -gap).all()


def test_only_reruns_the_named_configurations_and_keeps_the_rest_bit_for_bit(committed, tmp_path):
    """The committed file cut to 1 seed and 2 steps, every held-out loss overwritten by a value
    no run gives; `--only` two configurations into it: those two come back equal to lone runs
    (a run does not depend on which others run), every other entry keeps its value."""
    record = json.loads(json.dumps(committed))
    record["meta"] |= {"seeds": 1, "settings": {**gran.SETTINGS, "steps": 2}}
    record["held_out"] = {name: [1.0 + len(name)] for name in record["held_out"]}
    record["final_imbalance"] = {name: v[:1] for name, v in record["final_imbalance"].items()}
    part = tmp_path / "part.json"
    part.write_text(json.dumps(record))
    only = ["fine, rank-32 router", "fine, m=4, router lr x3"]
    gran.main(["--seeds", "1", "--steps", "2", "--out", str(part), "--only", *only])
    after = gran.load_ablation(part)
    names = set(record["held_out"]) | set(only)
    assert list(after["held_out"]) == [name for name in gran.CONFIGS if name in names]
    for name in after["held_out"]:
        if name in only:
            alone = gran.run_ablation(name, seed=0, steps=2)
            assert after["held_out"][name] == [alone["held_out"]], name
            assert after["final_imbalance"][name] == [np.mean(alone["imbalance"][-20:])], name
        else:
            assert after["held_out"][name] == [1.0 + len(name)], name
            assert after["final_imbalance"].get(name) == record["final_imbalance"].get(name)
    assert after["meta"]["command"] == committed["meta"]["command"]
    assert after["meta"]["additions"][-1]["configs"] == only
    # the router's learning rate moved the run: x3 differs from the plain router, same seed
    assert after["held_out"][only[1]] != [gran.run_ablation("fine, m=4", 0, 2)["held_out"]]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--only", "finest"], "--only must name configurations"),
        (["--only", "coarse", "coarse"], "--only must name each configuration once"),
        (["--only", "coarse", "--out", "nowhere.json"], "--only merges into an existing"),
        (["--only", "coarse", "--seeds", "3"], "same seeds"),
        (["--only", "coarse", "--steps", "5"], "same settings"),
        (["--steps", "0"], "--steps must be between"),
    ],
)
def test_bad_command_lines_are_named(argv, match, capsys):
    """Each refused before any run: the committed file (8 seeds, 600 steps) is the default --out
    and stays untouched."""
    with pytest.raises(SystemExit):
        gran.main(argv)
    assert match in capsys.readouterr().err


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: gran.run_ablation("finest", seed=0), ValueError, "name"),
        (lambda: gran.run_ablation("coarse", seed=-1), ValueError, "seed"),
        (lambda: gran.run_ablation("coarse", seed=0, steps=0), ValueError, "steps"),
        (lambda: gran.run_ablation("coarse", seed=0.5), TypeError, "seed"),
        (lambda: gran.expert_parameters({"d_model": 8}), TypeError, "config"),
        (
            lambda: gran.paired_differences("coarse", "no FFN", {"held_out": {}}),
            TypeError,
            "ablation",
        ),  # fmt: skip
        (lambda: gran.paired_differences("finest", "coarse"), ValueError, "variant"),
        (lambda: gran.paired_differences("coarse", "finest"), ValueError, "baseline"),
        (lambda: gran.load_ablation("nowhere.json"), ValueError, "path"),
        (lambda: gran.moe_layer("no FFN"), ValueError, "name"),
        (lambda: gran.moe_layer(3), ValueError, "name"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
