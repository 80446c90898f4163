"""Chapter 1, scaling laws: fit them, spend compute optimally, and see what small runs predict.

Framework-free: the laws (Hoffmann et al. 2022, Kaplan et al. 2020), the fits (Appendix D.2 of
Hoffmann et al. and the IsoFLOP approach), the Epoch AI points, and the tiny language models of
the chapter's own sweep (corpus, weights, NumPy reference). The sweep's training loops live in
`labs.scaling.torch` and `labs.scaling.jax`:

    from labs.scaling import torch as scaling_torch   # pulls in PyTorch
    from labs.scaling import jax as scaling_jax       # pulls in JAX

Modules: `config` (the dataclasses), `laws`, `fitting`, `envelope` (approach 1), `predict`,
`pilot_bootstrap` (the committed refits of the pilot fits, `python -m
labs.scaling.pilot_bootstrap`), `sensitivity` (how fragile a fitted allocation is), `deepseek`
(DeepSeek LLM's own laws), `lm` (corpus, weights, batches), `reference` (the NumPy forward pass),
`sweep`, `checks` (argument checks shared by all of them).
"""

from labs.scaling.config import MarkovCorpus, TinyLMConfig
from labs.scaling.deepseek import (
    deepseek_allocation,
    deepseek_flops_per_token,
    deepseek_hyperparameters,
    six_n_flops_per_token,
)
from labs.scaling.envelope import envelope_optimal
from labs.scaling.fitting import (
    ChinchillaFit,
    bootstrap_chinchilla,
    chinchilla_objective,
    chinchilla_residuals,
    fit_chinchilla,
    fit_power_law,
    huber,
    isoflop_minima,
    paper_init_grid,
)
from labs.scaling.laws import (
    EPOCH_2024,
    HOFFMANN_2022,
    KAPLAN_2020,
    ChinchillaParams,
    KaplanExponents,
    chinchilla_loss,
    compute_optimal,
    load_chinchilla_points,
    training_flops,
)
from labs.scaling.lm import count_params, init_params, make_corpus
from labs.scaling.predict import extrapolation_study
from labs.scaling.reference import reference_loss
from labs.scaling.sensitivity import allocation_sensitivity
from labs.scaling.sweep import SweepResult

__all__ = [
    "EPOCH_2024",
    "HOFFMANN_2022",
    "KAPLAN_2020",
    "ChinchillaFit",
    "ChinchillaParams",
    "KaplanExponents",
    "MarkovCorpus",
    "SweepResult",
    "TinyLMConfig",
    "allocation_sensitivity",
    "bootstrap_chinchilla",
    "chinchilla_loss",
    "chinchilla_objective",
    "chinchilla_residuals",
    "compute_optimal",
    "count_params",
    "deepseek_allocation",
    "deepseek_flops_per_token",
    "deepseek_hyperparameters",
    "envelope_optimal",
    "extrapolation_study",
    "fit_chinchilla",
    "fit_power_law",
    "huber",
    "init_params",
    "isoflop_minima",
    "load_chinchilla_points",
    "make_corpus",
    "paper_init_grid",
    "reference_loss",
    "six_n_flops_per_token",
    "training_flops",
]
