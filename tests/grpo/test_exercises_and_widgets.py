import ipywidgets
import numpy as np
import pytest

from labs.grpo.exercises import (
    check_advantages_from_rewards,
    check_choose_group_size,
    check_clipped_objective,
    check_k3_estimator,
)
from labs.grpo.widgets import advantage_explorer, plot_group_advantages

# --- exercise 5.1 -----------------------------------------------------------------------------


def test_advantages_correct_solution_passes():
    def advantages_from_rewards(rewards, group_size):
        g = rewards.reshape(-1, group_size)
        std = g.std(axis=1, ddof=1, keepdims=True)
        adv = (g - g.mean(axis=1, keepdims=True)) / (std + 1e-4)
        return np.where(std == 0, 0.0, adv).reshape(-1)

    assert check_advantages_from_rewards(advantages_from_rewards).passed


def test_advantages_population_std_passes_too():
    def advantages_from_rewards(rewards, group_size):
        g = rewards.reshape(-1, group_size)
        std = g.std(axis=1, keepdims=True)  # ddof = 0: DeepSeekMath does not say which
        return ((g - g.mean(axis=1, keepdims=True)) / (std + 1e-4)).reshape(-1)

    assert check_advantages_from_rewards(advantages_from_rewards).passed


def test_advantages_mixing_conventions_or_dividing_by_the_variance_fails():
    def by_variance(rewards, group_size):
        g = rewards.reshape(-1, group_size)
        var = g.var(axis=1, keepdims=True)  # the variance, not the std
        return ((g - g.mean(axis=1, keepdims=True)) / (var + 1e-4)).reshape(-1)

    report = check_advantages_from_rewards(by_variance)
    assert report.status == "failed" and "either convention" in str(report)

    def ddof_two(rewards, group_size):  # neither convention: dividing by G - 2
        g = rewards.reshape(-1, group_size)
        std = g.std(axis=1, ddof=2, keepdims=True)
        return np.where(std == 0, 0.0, (g - g.mean(axis=1, keepdims=True)) / (std + 1e-4)).ravel()

    with np.errstate(divide="ignore", invalid="ignore"):
        assert check_advantages_from_rewards(ddof_two).status == "failed"


def test_advantages_nan_for_flat_group_is_reported():
    def advantages_from_rewards(rewards, group_size):
        g = rewards.reshape(-1, group_size)
        std = g.std(axis=1, ddof=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return ((g - g.mean(axis=1, keepdims=True)) / std).reshape(-1)

    report = check_advantages_from_rewards(advantages_from_rewards)
    assert report.status == "failed"


def test_advantages_over_whole_batch_fails_on_two_groups():
    def advantages_from_rewards(rewards, group_size):
        std = rewards.std(ddof=1)
        return np.where(std == 0, 0.0, (rewards - rewards.mean()) / (std + 1e-4))

    report = check_advantages_from_rewards(advantages_from_rewards)
    assert report.status == "failed" and "two groups" in str(report)
    assert "consecutive" in str(report)


@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("read_back", ["rows", "columns"])
def test_advantages_grouped_down_the_columns_fail_with_their_own_message(ddof, read_back):
    def advantages_from_rewards(rewards, group_size):
        g = rewards.reshape(group_size, -1)  # the groups down the columns: the transposed slip
        std = g.std(axis=0, ddof=ddof, keepdims=True)
        adv = np.where(std == 0, 0.0, (g - g.mean(axis=0, keepdims=True)) / (std + 1e-4))
        return (adv if read_back == "rows" else adv.T).reshape(-1)

    report = check_advantages_from_rewards(advantages_from_rewards)
    assert report.status == "failed" and report.passed_cases == 2  # a symmetric batch hid it
    assert "reshape(group_size, -1) makes the columns the groups" in str(report)
    assert "NaN" not in str(report)


@pytest.mark.parametrize("ddof", [0, 1])
def test_advantages_divided_by_the_batch_std_fail_with_their_own_message(ddof):
    def advantages_from_rewards(rewards, group_size):
        g = rewards.reshape(-1, group_size)
        centred = g - g.mean(axis=1, keepdims=True)
        return (centred / (rewards.std(ddof=ddof) + 1e-4)).reshape(-1)

    report = check_advantages_from_rewards(advantages_from_rewards)
    assert report.status == "failed" and report.passed_cases == 2
    assert "divided by the whole batch's std" in str(report) and "NaN" not in str(report)


# --- exercise 5.2 -----------------------------------------------------------------------------


def test_k3_correct_solution_passes():
    def k3_estimator(logp, ref_logp):
        r = np.exp(ref_logp - logp)
        return r - np.log(r) - 1

    assert check_k3_estimator(k3_estimator).passed


def test_k3_inverted_ratio_fails_with_hint():
    def k3_estimator(logp, ref_logp):
        r = np.exp(logp - ref_logp)
        return r - np.log(r) - 1

    report = check_k3_estimator(k3_estimator)
    assert report.status == "failed" and "pi_ref / pi_theta" in str(report)


def test_k1_fails_on_the_negative_case():
    def k3_estimator(logp, ref_logp):
        return logp - ref_logp

    report = check_k3_estimator(k3_estimator)
    assert report.status == "failed"


@pytest.mark.parametrize(
    ("estimator", "words"),
    [
        (lambda logp, ref_logp: logp - ref_logp, "this is k1"),
        (lambda logp, ref_logp: (logp - ref_logp) ** 2 / 2, "this is k2"),
        (lambda logp, ref_logp: np.exp(ref_logp - logp) - (ref_logp - logp), "the -1 is missing"),
    ],
    ids=["k1", "k2", "no_minus_one"],
)
def test_k3_slips_are_named_on_the_first_case(estimator, words):
    def k3_estimator(logp, ref_logp):
        return estimator(logp, ref_logp)

    report = check_k3_estimator(k3_estimator)
    assert report.status == "failed" and report.passed_cases == 0
    assert words in str(report) and "not pi_theta / pi_ref" not in str(report)


# --- exercise 5.3 -----------------------------------------------------------------------------


def test_clipped_objective_correct_solution_passes():
    def clipped_objective(ratio, advantage, clip_eps):
        return np.minimum(ratio * advantage, np.clip(ratio, 1 - clip_eps, 1 + clip_eps) * advantage)

    assert check_clipped_objective(clipped_objective).passed


def test_clip_only_fails_on_negative_advantages():
    def clipped_objective(ratio, advantage, clip_eps):
        return np.clip(ratio, 1 - clip_eps, 1 + clip_eps) * advantage

    report = check_clipped_objective(clipped_objective)
    # (ratio 0.5, A = 1): clip alone gives 0.8 where min(0.5, 0.8) = 0.5
    assert report.status == "failed" and report.passed_cases == 0
    assert "min(r * A, clip(r) * A)" in str(report)


def test_clipping_only_from_above_fails_on_the_low_ratio_case():
    def clipped_objective(ratio, advantage, clip_eps):
        return np.minimum(ratio * advantage, np.minimum(ratio, 1 + clip_eps) * advantage)

    report = check_clipped_objective(clipped_objective)
    # (ratio 0.5, A = -1, eps 0.2): min(-0.5, -0.8) = -0.8; the upper clip alone keeps -0.5
    assert report.status == "failed" and report.passed_cases == 1
    assert "clipped r only from above" in str(report) and "r > 1 + eps" not in str(report)


def test_unclipped_fails_with_the_cap_hint():
    def clipped_objective(ratio, advantage, clip_eps):
        return ratio * advantage

    report = check_clipped_objective(clipped_objective)
    assert report.status == "failed" and "capped" in str(report)


# --- exercise 5.4 -----------------------------------------------------------------------------


def _smallest_size(share, target, max_group_size, strict=False):
    for g in range(2, max_group_size + 1):
        value = share(g)
        if value > target or (value == target and not strict):
            return g
    return None


def test_group_size_per_prompt_solution_passes():
    def choose_group_size(pass_rates, target_share, max_group_size):
        p = np.asarray(pass_rates)
        return _smallest_size(
            lambda g: np.mean(1 - p**g - (1 - p) ** g), target_share, max_group_size
        )

    assert check_choose_group_size(choose_group_size).passed


def test_group_size_from_the_mean_pass_rate_fails_with_its_hint():
    def choose_group_size(pass_rates, target_share, max_group_size):
        q = float(np.mean(pass_rates))
        return _smallest_size(lambda g: 1 - q**g - (1 - q) ** g, target_share, max_group_size)

    report = check_choose_group_size(choose_group_size)
    assert report.status == "failed" and "mean pass rate" in str(report)


def test_group_size_dropping_solved_prompts_fails_with_its_hint():
    def choose_group_size(pass_rates, target_share, max_group_size):
        p = np.asarray(pass_rates)
        p = p[(p > 0) & (p < 1)]
        return _smallest_size(
            lambda g: np.mean(1 - p**g - (1 - p) ** g), target_share, max_group_size
        )

    report = check_choose_group_size(choose_group_size)
    assert report.status == "failed" and "still counts" in str(report)
    assert "left out the prompts of pass rate 0 or 1" in str(report)
    assert "half the expected value" not in str(report)  # G = 2 against 4: no factor left out


def test_group_size_without_the_all_right_term_fails_with_its_own_message():
    def choose_group_size(pass_rates, target_share, max_group_size):
        p = np.asarray(pass_rates)  # only all-wrong groups counted flat: p**G left out
        return _smallest_size(lambda g: np.mean(1 - (1 - p) ** g), target_share, max_group_size)

    report = check_choose_group_size(choose_group_size)
    assert report.status == "failed" and report.passed_cases == 0
    assert "counted only the all-wrong groups" in str(report) and "off by one" not in str(report)


def test_group_size_without_the_all_wrong_term_fails_with_its_own_message():
    def choose_group_size(pass_rates, target_share, max_group_size):
        p = np.asarray(pass_rates)  # only all-right groups counted flat: (1 - p)**G left out
        return _smallest_size(lambda g: np.mean(1 - p**g), target_share, max_group_size)

    report = check_choose_group_size(choose_group_size)
    assert report.status == "failed" and report.passed_cases == 1  # the easy prompt passes
    assert "counted only the all-right groups" in str(report) and "off by one" not in str(report)


@pytest.mark.parametrize(
    ("variant", "words"),
    [("plus_one", "off by one"), ("strict", "not >"), ("exclusive", "inclusive")],
)
def test_group_size_off_by_one_variants_fail_with_their_hints(variant, words):
    def choose_group_size(pass_rates, target_share, max_group_size):
        p = np.asarray(pass_rates)
        top = max_group_size - 1 if variant == "exclusive" else max_group_size
        g = _smallest_size(
            lambda g: np.mean(1 - p**g - (1 - p) ** g), target_share, top, variant == "strict"
        )
        return g + 1 if variant == "plus_one" and g is not None else g

    report = check_choose_group_size(choose_group_size)
    assert report.status == "failed" and words in str(report)
    assert "is a `return` missing?" not in str(report)  # None here is a search stopped short


@pytest.mark.parametrize(
    "checker",
    [
        check_advantages_from_rewards,
        check_k3_estimator,
        check_clipped_objective,
        check_choose_group_size,
    ],
)
def test_stubs_are_not_attempted(checker):
    def stub(*args):
        raise NotImplementedError

    assert checker(stub).status == "not attempted"


# --- widget -----------------------------------------------------------------------------------


def test_plot_group_advantages_one_right_out_of_four():
    ax = plot_group_advantages(4, 1)
    heights = [p.get_height() for p in ax.patches]
    # (1, 0, 0, 0): mean 0.25, sample std 0.5 (worked in test_kernels)
    np.testing.assert_allclose(heights, np.array([0.75, -0.25, -0.25, -0.25]) / 0.5001)
    assert "1 correct" in ax.get_title()


def test_plot_group_advantages_flat_group_is_zero():
    ax = plot_group_advantages(4, 4)
    assert all(p.get_height() == 0 for p in ax.patches)


def test_plot_group_advantages_bad_input():
    with pytest.raises(ValueError, match="n_correct must be <= group_size=4"):
        plot_group_advantages(4, 5)
    with pytest.raises(ValueError, match="group_size must be >= 2"):
        plot_group_advantages(1, 0)


def test_explorer_is_a_widget():
    assert isinstance(advantage_explorer(), ipywidgets.interactive)


def test_the_package_reference_for_exercise_5_4_passes_its_check():
    from labs.grpo.metrics import smallest_group_size

    assert check_choose_group_size(smallest_group_size).passed


def test_informative_share_by_hand():
    from labs.grpo.metrics import informative_share

    # p = 0.5: 1 - 2 * 0.5^G; p = 0 or 1: never informative; p = 0.9, G = 2: 1 - 0.81 - 0.01
    share = informative_share(np.array([0.5]), np.array([1, 2, 3]))
    np.testing.assert_allclose(share, [0.0, 0.5, 0.75])
    np.testing.assert_allclose(informative_share(np.array([0.0, 1.0]), np.array([2, 9])), [0, 0])
    np.testing.assert_allclose(informative_share(np.array([0.9, 0.5]), np.array([2])), [0.34])
    with pytest.raises(ValueError, match="pass_rates must lie in"):
        informative_share(np.array([1.5]), np.array([2]))
    with pytest.raises(TypeError, match="group_sizes"):
        informative_share(np.array([0.5]), np.array([2.0]))
    with pytest.raises(ValueError, match="target_share"):
        from labs.grpo.metrics import smallest_group_size

        smallest_group_size(np.array([0.5]), 1.5, 8)
