"""Valid calls for chapter 1 (labs.scaling): one small, fast call per public callable.

Each entry is a factory returning `call(...)`, by keyword, so the walker can replace one argument
at a time with hostile values (see harness.py). The data are tiny: a corpus of 64 tokens over a
vocabulary of 8, a model of width 8 and context 4, two training steps, 12 synthetic runs.
"""

from __future__ import annotations

import functools

import numpy as np

from tests.hostile.harness import call

SCALING = "labs.scaling"


@functools.cache
def _corpus():
    from labs.scaling import make_corpus

    return make_corpus(vocab_size=8, train_tokens=64, valid_tokens=32, seed=0)


@functools.cache
def _config():
    from labs.scaling import TinyLMConfig

    return TinyLMConfig(vocab_size=8, context=4, d_model=8, n_layers=1, n_heads=2, mlp_ratio=1)


def _params():
    from labs.scaling import init_params

    return init_params(_config(), seed=0)


TOKENS = np.array([[1, 2, 3, 4], [0, 7, 6, 5]])
TARGETS = np.array([[2, 3, 4, 5], [7, 6, 5, 4]])


@functools.cache
def _runs():
    """12 runs on a known law, 4 model sizes x 3 token budgets."""
    from labs.scaling import ChinchillaParams, chinchilla_loss

    law = ChinchillaParams(E=1.8, A=400.0, B=1500.0, alpha=0.33, beta=0.36)
    n, d = np.meshgrid(np.logspace(7, 9, 4), np.logspace(9, 11, 3))
    n, d = n.ravel(), d.ravel()
    return n, d, chinchilla_loss(n, d, law)


@functools.cache
def _epoch():
    from labs.scaling import load_chinchilla_points, training_flops

    n, d, loss = load_chinchilla_points()
    return n, training_flops(n, d), loss


@functools.cache
def _epoch_ndl():
    from labs.scaling import load_chinchilla_points

    return load_chinchilla_points(0)


def _fit():
    from labs.scaling import fit_chinchilla

    return fit_chinchilla(*_runs(), starts=1)


def _schedule_seeds_file():
    from importlib import resources

    return str(resources.files("labs.scaling").joinpath("data/schedule_seeds.json"))


def _schedule_long_file():
    from importlib import resources

    return str(resources.files("labs.scaling").joinpath("data/schedule_long.json"))


def _envelope_curves_file():
    from importlib import resources

    return str(resources.files("labs.scaling").joinpath("data/envelope_curves.json"))


def _two_seed_curves():
    from labs.scaling.envelope_curves import load_envelope_curves

    record = load_envelope_curves(path=_envelope_curves_file())
    return {**record, "seeds": record["seeds"][:2], "curves": record["curves"][:2]}


def _split_curves():
    """Seeds 0-1 and 2-3 of the committed curves: a file and the seeds that extend it."""
    from labs.scaling.envelope_curves import load_envelope_curves

    record = load_envelope_curves(path=_envelope_curves_file())
    part = {key: record[key][:4] for key in ("seeds", "curves", "loss")}
    first = {**record, **{key: v[:2] for key, v in part.items()}}
    return first, {**record, **{key: v[2:] for key, v in part.items()}}


def _sweep_seeds_file():
    from importlib import resources

    return str(resources.files("labs.scaling").joinpath("data/sweep_seeds.json"))


def _pilot_bootstrap_file():
    from importlib import resources

    return str(resources.files("labs.scaling").joinpath("data/pilot_bootstrap.json"))


@functools.cache
def _study():
    from labs.scaling import extrapolation_study

    n, d, loss = _runs()
    return extrapolation_study(n, d, loss, [1e19], holdout_above=1e19, target_C=1e20, starts=1)


def _torch(a):
    import torch

    return torch.as_tensor(a)


def _jax(a):
    import jax.numpy as jnp

    return jnp.asarray(a)


def _jax_params():
    return {k: _jax(v) for k, v in _params().items()}


def _tiny_lm():
    from labs.scaling.torch import TinyLM

    return TinyLM(_config())


def _laws():
    from labs.scaling import HOFFMANN_2022

    return {"Hoffmann et al.": HOFFMANN_2022}


def _law():
    from labs.scaling import HOFFMANN_2022

    return HOFFMANN_2022


# What a student might write for each exercise (the checks take the student's function).
def _split(C, params):
    from labs.scaling import compute_optimal

    return compute_optimal(C, params)


def _robust(x, y):
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def _pilot(lab, target_C):
    return (target_C / 120) ** 0.5


def _profiles(profiles, target_C):
    return (target_C / 120) ** 0.5


@functools.cache
def _law_sweep():
    """A 4 x 4 sweep whose losses follow a known law exactly (for summarize_sweep)."""
    from labs.scaling import ChinchillaParams, chinchilla_loss
    from labs.scaling.sweep import SweepResult

    width, steps = np.meshgrid([4, 8, 16, 32], [50, 100, 200, 400], indexing="ij")
    width, steps = width.ravel(), steps.ravel()
    n = 64.0 * 2 * width + 32 * width + 12.0 * width**2  # embeddings, head and one block
    d = steps * 16.0 * 32
    law = ChinchillaParams(E=2.3, A=40.0, B=400.0, alpha=0.5, beta=0.5)
    loss = chinchilla_loss(n, d, law)
    curves = tuple(np.full(int(s), x + 0.1) for s, x in zip(steps, loss, strict=True))
    return SweepResult(
        N=n, D=d, C=6 * n * d, loss=loss, d_model=width, steps=steps, curves=curves,
        framework="torch", schedule="matched",
    )  # fmt: skip


def _sweep_kwargs():
    return dict(
        corpus=_corpus(), d_models=(8,), steps=(2,), base=_config(), batch_size=2,
        peak_lr=1e-2, schedule="matched", seed=0,
    )  # fmt: skip


def _run_kwargs():
    return dict(
        config=_config(), corpus=_corpus(), steps=2, batch_size=2, peak_lr=1e-2,
        schedule_steps=3, eval_at=(1, 2), seed=0,
    )  # fmt: skip


EXAMPLES = {
    # config.py
    f"{SCALING}.config.ChinchillaParams": lambda: call(
        E=1.7, A=400.0, B=410.0, alpha=0.3, beta=0.3
    ),
    f"{SCALING}.config.KaplanExponents": lambda: call(
        alpha_N=0.076, alpha_D=0.095, alpha_C_min=0.05, n_opt_exponent=0.73
    ),
    f"{SCALING}.config.TinyLMConfig": lambda: call(
        vocab_size=8, context=4, d_model=8, n_layers=1, n_heads=2, mlp_ratio=1
    ),
    f"{SCALING}.config.MarkovCorpus": lambda: call(
        transition=_corpus().transition,
        train=_corpus().train,
        valid=_corpus().valid,
        entropy_rate=_corpus().entropy_rate,
        entropy_first=_corpus().entropy_first,
    ),  # fmt: skip
    f"{SCALING}.config.param_shapes": lambda: call(config=_config()),
    # fit_checks.py, sweep_checks.py (re-exported by checks.py): the chapter's own checks are
    # public too. `name` is the caller's label for the message, not data, so the walker leaves it
    # alone.
    f"{SCALING}.fit_checks.positive_array": lambda: call(
        name="value", value=np.array([1.0, 2.0]), fixed=("name",)
    ),
    f"{SCALING}.fit_checks.same_length": lambda: call(
        N=np.array([1.0, 2.0]), D=np.array([3.0, 4.0])
    ),
    f"{SCALING}.sweep_checks.check_sweep_args": lambda: call(**_run_kwargs()),
    # laws.py
    f"{SCALING}.laws.chinchilla_loss": lambda: call(N=1e9, D=2e10, params=_law()),
    f"{SCALING}.laws.training_flops": lambda: call(N=1e9, D=2e10),
    f"{SCALING}.laws.compute_optimal": lambda: call(C=1e21, params=_law()),
    f"{SCALING}.laws.load_chinchilla_points": lambda: call(exclude_highest_loss=5),
    # fitting.py
    f"{SCALING}.fitting.huber": lambda: call(r=np.array([-0.01, 0.0, 5e-4]), delta=1e-3),
    f"{SCALING}.fitting.chinchilla_objective": lambda: call(
        theta=np.array([6.0, 6.0, 0.5, 0.3, 0.3]),
        log_n=np.log(_runs()[0]),
        log_d=np.log(_runs()[1]),
        log_loss=np.log(_runs()[2]),
        delta=1e-3,
    ),  # fmt: skip
    f"{SCALING}.fitting.paper_init_grid": lambda: call(),
    f"{SCALING}.fitting.ChinchillaFit": lambda: call(
        E=1.7,
        A=400.0,
        B=410.0,
        alpha=0.3,
        beta=0.3,
        residuals=np.array([0.01, -0.02]),
        objective=0.5,
        init=(6.0, 6.0, 0.5, 0.3, 0.3),
    ),  # fmt: skip
    f"{SCALING}.fitting.fit_chinchilla": lambda: call(
        N=_runs()[0], D=_runs()[1], loss=_runs()[2], delta=1e-3, starts=1, init=_law(), fixed_E=1.8
    ),
    f"{SCALING}.fitting.chinchilla_residuals": lambda: call(
        N=_runs()[0], D=_runs()[1], loss=_runs()[2], params=_law()
    ),
    f"{SCALING}.fitting.bootstrap_chinchilla": lambda: call(
        N=_runs()[0],
        D=_runs()[1],
        loss=_runs()[2],
        n_resamples=2,
        seed=0,
        delta=1e-3,
        starts=0,
        full=_law(),
    ),  # fmt: skip
    f"{SCALING}.fitting.fit_power_law": lambda: call(
        x=np.array([1.0, 2.0, 4.0]), y=np.array([3.0, 4.1, 5.9])
    ),
    f"{SCALING}.fitting.isoflop_minima": lambda: call(
        N=_epoch()[0],
        C=_epoch()[1],
        loss=_epoch()[2],
        budgets=np.array([1e20]),
        width=0.1,
        min_runs=4,
    ),  # fmt: skip
    # predict.py
    f"{SCALING}.predict.extrapolation_study": lambda: call(
        N=_runs()[0],
        D=_runs()[1],
        loss=_runs()[2],
        thresholds=np.array([1e19]),
        holdout_above=1e19,
        target_C=1e20,
        starts=1,
    ),  # fmt: skip
    f"{SCALING}.predict.ExtrapolationStudy": lambda: call(
        thresholds=_study().thresholds,
        n_train=_study().n_train,
        errors=_study().errors,
        median_abs_error=_study().median_abs_error,
        max_abs_error=_study().max_abs_error,
        n_opt=_study().n_opt,
        fits=_study().fits,
        held_out=_study().held_out,
    ),  # fmt: skip
    # pilot_bootstrap.py
    f"{SCALING}.pilot_bootstrap.pilot_replicate": lambda: call(
        N=_runs()[0],
        D=_runs()[1],
        loss=_runs()[2],
        thresholds=np.array([1e19]),
        holdout_above=1e19,
        target_C=1e20,
        starts=1,
        seed=0,
    ),  # fmt: skip
    f"{SCALING}.pilot_bootstrap.load_pilot_bootstrap": lambda: call(path=_pilot_bootstrap_file()),
    # sweep_seeds.py
    f"{SCALING}.sweep_seeds.summarize_sweep": lambda: call(sweep=_law_sweep(), entropy_rate=2.3),
    f"{SCALING}.sweep_seeds.load_sweep_seeds": lambda: call(path=_sweep_seeds_file()),
    f"{SCALING}.sweep_seeds.flop_counts": lambda: call(d_model=np.array([4, 8, 16, 32])),
    # schedule_seeds.py
    f"{SCALING}.schedule_seeds.summarize_fit": lambda: call(sweep=_law_sweep(), entropy_rate=2.3),
    f"{SCALING}.schedule_seeds.load_schedule_seeds": lambda: call(path=_schedule_seeds_file()),
    # schedule_long.py
    f"{SCALING}.schedule_long.load_schedule_long": lambda: call(path=_schedule_long_file()),
    # envelope.py, envelope_curves.py: two sizes' curves that cross once
    f"{SCALING}.envelope.envelope_optimal": lambda: call(
        N=np.array([1.0, 4.0]),
        D=[np.exp(np.linspace(0.0, 10.0, 6)) / 6.0, np.exp(np.linspace(2.0, 12.0, 6)) / 24.0],
        loss=[3.0 - 0.1 * np.linspace(0.0, 10.0, 6), 3.4 - 0.15 * np.linspace(2.0, 12.0, 6)],
        points=50,
        c_range=(10.0, 1e5),
    ),
    f"{SCALING}.envelope_curves.load_envelope_curves": lambda: call(path=_envelope_curves_file()),
    f"{SCALING}.envelope_curves.summarize_envelopes": lambda: call(record=_two_seed_curves()),
    f"{SCALING}.envelope_curves.add_seeds": lambda: call(
        **dict(zip(("record", "extra"), _split_curves(), strict=True))
    ),
    # deepseek.py
    f"{SCALING}.deepseek.deepseek_flops_per_token": lambda: call(
        n_layer=30, d_model=4096, seq_len=4096
    ),
    f"{SCALING}.deepseek.six_n_flops_per_token": lambda: call(
        n_layer=30, d_model=4096, vocab_size=102400
    ),
    f"{SCALING}.deepseek.deepseek_hyperparameters": lambda: call(C=1e20),
    f"{SCALING}.deepseek.deepseek_allocation": lambda: call(C=1e20),
    # sensitivity.py
    f"{SCALING}.sensitivity.allocation_sensitivity": lambda: call(
        points=_epoch_ndl(),
        budget=5.88e23,
        drop=(0, 1),
        method="isoflop",
        budgets=np.array([1e20, 3e20, 1e21]),
        starts=1,
        width=0.1,
    ),  # fmt: skip
    # lm.py and reference.py
    f"{SCALING}.lm.make_corpus": lambda: call(
        vocab_size=8,
        train_tokens=64,
        valid_tokens=32,
        mix=0.5,
        bigram_concentration=0.1,
        concentration=0.1,
        seed=0,
    ),  # fmt: skip
    f"{SCALING}.lm.init_params": lambda: call(config=_config(), seed=0),
    f"{SCALING}.lm.count_params": lambda: call(config=_config()),
    f"{SCALING}.lm.batch_starts": lambda: call(
        n_tokens=64, context=4, batch_size=2, steps=3, seed=0
    ),
    f"{SCALING}.lm.windows": lambda: call(
        stream=_corpus().train, starts=np.array([0, 5]), context=4
    ),
    f"{SCALING}.lm.lr_schedule": lambda: call(steps=20, peak=1e-2, warmup=5, final_fraction=0.1),
    f"{SCALING}.reference.reference_logits": lambda: call(
        params=_params(), tokens=TOKENS, config=_config()
    ),
    f"{SCALING}.reference.reference_loss": lambda: call(
        params=_params(), inputs=TOKENS, targets=TARGETS, config=_config()
    ),
    # sweep.py
    f"{SCALING}.sweep.sweep_plan": lambda: call(
        corpus=_corpus(),
        d_models=(8,),
        steps=(2, 3),
        base=_config(),
        batch_size=2,
        schedule="fixed",
    ),  # fmt: skip
    f"{SCALING}.sweep.SweepPlan": lambda: call(
        runs=((_config(), 3, (2, 3)),), batch_size=2, schedule="fixed"
    ),
    f"{SCALING}.sweep.SweepResult": lambda: call(
        N=np.array([1000.0, 2000.0]),
        D=np.array([64.0, 128.0]),
        C=np.array([3.84e5, 1.536e6]),
        loss=np.array([2.1, 2.0]),
        d_model=np.array([8, 16]),
        steps=np.array([8, 8]),
        curves=(np.array([2.5, 2.1]), np.array([2.4, 2.0])),
        framework="torch",
        schedule="matched",
    ),  # fmt: skip
    # torch.py
    f"{SCALING}.torch.TinyLM": lambda: call(config=_config()),
    f"{SCALING}.torch.TinyLM.forward": lambda: call(_tiny_lm().forward, tokens=_torch(TOKENS)),
    f"{SCALING}.torch.TinyLM.load_numpy": lambda: call(_tiny_lm().load_numpy, params=_params()),
    f"{SCALING}.torch.train_run": lambda: call(**_run_kwargs(), device="cpu"),
    f"{SCALING}.torch.train_sweep": lambda: call(**_sweep_kwargs(), device="cpu"),
    # jax.py
    f"{SCALING}.jax.forward": lambda: call(
        params=_jax_params(), tokens=_jax(TOKENS), config=_config()
    ),
    f"{SCALING}.jax.loss_fn": lambda: call(
        params=_jax_params(), inputs=_jax(TOKENS), targets=_jax(TARGETS), config=_config()
    ),
    f"{SCALING}.jax.train_run": lambda: call(**_run_kwargs()),
    f"{SCALING}.jax.train_sweep": lambda: call(**_sweep_kwargs()),
    # exercises_*.py: a check takes whatever the student wrote; tests/common attacks `fn`.
    f"{SCALING}.exercises_allocation.check_compute_optimal_split": lambda: call(
        fn=_split, fixed=("fn",)
    ),
    f"{SCALING}.exercises_robust.check_robust_exponent": lambda: call(fn=_robust, fixed=("fn",)),
    f"{SCALING}.exercises_profiles.check_predict_n_opt": lambda: call(fn=_profiles, fixed=("fn",)),
    f"{SCALING}.exercises_pilot.check_plan_pilot_runs": lambda: call(fn=_pilot, fixed=("fn",)),
    f"{SCALING}.exercises_pilot.PilotLab": lambda: call(
        law=_law(), budget=1e21, noise=0.001, seed=0
    ),
    # widgets.py
    f"{SCALING}.widgets.allocation_table": lambda: call(C=1e22, laws=_laws()),
    f"{SCALING}.widgets.plot_isoflop": lambda: call(C=1e22, laws=_laws()),
    f"{SCALING}.widgets.compute_explorer": lambda: call(
        laws=_laws(), log10_c_range=(18.0, 26.0), log10_c=22.0
    ),
    f"{SCALING}.serving.TokenCosts": lambda: call(
        device="cpu",
        params=4096,
        batches=(1, 4),
        decode_seconds_per_flop=np.array([8e-11, 2e-11]),
        train_seconds_per_flop=1e-11,
        flops_per_s=1e11,
        bytes_per_s=2e10,
        predicted_gain=np.array([10.0, 2.5]),
        product_flops_per_s=np.array([2e10, 5e10]),
    ),
    # serving.py: a measurement; tiny sizes (its ceilings still stream 256 MiB, a few tenths of s)
    f"{SCALING}.serving.measure_token_costs": lambda: call(
        width=16,
        layers=2,
        batches=(1, 4),
        train_batch=4,
        repeats=1,
        threads=1,
        device="cpu",
        seed=0,
    ),
}

_SEED = "a seed in [0, 2**62] is valid (labs.common.validate.seed); 10**15 is one"
_COUNTS = "parameter, token and FLOP counts are integers by nature; they are read as float64"

# (key, parameter, mutation) -> why this hostile class is a legitimate input there.
ACCEPTED: dict[tuple[str, str, str], str] = {
    **{
        (f"{SCALING}.{key}", "seed", "huge-int"): _SEED
        for key in (
            "lm.make_corpus",
            "lm.init_params",
            "lm.batch_starts",
            "fitting.bootstrap_chinchilla",
            "pilot_bootstrap.pilot_replicate",
            "sweep_checks.check_sweep_args",
            "exercises_pilot.PilotLab",
            "torch.train_run",
            "torch.train_sweep",
            "jax.train_run",
            "jax.train_sweep",
        )  # fmt: skip
    },
    **{
        (f"{SCALING}.{key}", parameter, "array-int-dtype"): _COUNTS
        for key, parameter in (
            ("fit_checks.positive_array", "value"),
            ("fitting.fit_chinchilla", "N"),
            ("fitting.fit_chinchilla", "D"),
            ("fitting.chinchilla_residuals", "N"),
            ("fitting.chinchilla_residuals", "D"),
            ("fitting.bootstrap_chinchilla", "N"),
            ("fitting.bootstrap_chinchilla", "D"),
            ("fitting.isoflop_minima", "N"),
            ("fitting.isoflop_minima", "C"),
            ("fitting.isoflop_minima", "budgets"),
            ("predict.extrapolation_study", "N"),
            ("predict.extrapolation_study", "D"),
            ("predict.extrapolation_study", "thresholds"),
            ("pilot_bootstrap.pilot_replicate", "N"),
            ("pilot_bootstrap.pilot_replicate", "D"),
            ("pilot_bootstrap.pilot_replicate", "thresholds"),
            ("sweep.SweepResult", "N"),
            ("sweep.SweepResult", "D"),
            ("sweep.SweepResult", "C"),
        )
    },
    **{
        (f"{SCALING}.fit_checks.same_length", parameter, mutation): (
            "same_length compares lengths only; its callers check the values first"
        )
        for parameter in ("N", "D")
        for mutation in ("array-nan", "array-inf", "array-int-dtype", "array-complex")
    },
    **{
        (f"{SCALING}.sweep_checks.check_sweep_args", parameter, "none"): (
            "None asks for the default, as in train_run (the run's length, the last step)"
        )
        for parameter in ("schedule_steps", "eval_at")
    },
    **{
        (f"{SCALING}.fitting.fit_power_law", parameter, "array-int-dtype"): (
            "a power law between counts is legitimate: integer x and y are read as float64"
        )
        for parameter in ("x", "y")
    },
    (f"{SCALING}.envelope.envelope_optimal", "N", "array-int-dtype"): (
        "parameter counts are integers: integer N is read as float64, as in fit_power_law"
    ),
    (f"{SCALING}.fitting.fit_chinchilla", "fixed_E", "none"): (
        "None is the default: E is fitted with the other four parameters"
    ),
    (f"{SCALING}.fitting.fit_chinchilla", "starts", "none"): (
        "None runs the paper's full 4,500-point grid, documented to take minutes"
    ),
    (f"{SCALING}.lm.windows", "stream", "ids-huge"): (
        "windows cuts any stream of non-negative ids; the vocabulary is checked where ids are "
        "embedded (reference_logits, TinyLM.forward, jax.forward)"
    ),
    (f"{SCALING}.fitting.ChinchillaFit", "init", "sequence-empty"): (
        "() is the default: a fit made by hand has no starting point to record"
    ),
    (f"{SCALING}.predict.ExtrapolationStudy", "n_opt", "array-nan"): (
        "NaN is how the study marks 'no target_C given' in n_opt"
    ),
    (f"{SCALING}.predict.ExtrapolationStudy", "n_train", "ids-huge"): (
        "a count of training runs has no upper bound a result table could check"
    ),
    **{
        (f"{SCALING}.sweep.SweepResult", parameter, "ids-huge"): (
            "a result table records the widths and step counts that were run; the caps apply "
            "when a run is configured (TinyLMConfig, train_run)"
        )
        for parameter in ("d_model", "steps")
    },
}
