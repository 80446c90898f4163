"""The chapter's argument checks, written once and used by the laws, the fits, the NumPy reference
and the torch and JAX training loops alike.

They hold two ideas, in two modules: `labs.scaling.fit_checks` guards the laws and their fits
(chapter 1, "The idea" to "Predicting the big run from small ones"), `labs.scaling.sweep_checks`
the tiny language model and its sweep (chapter 1, "Your own sweep"). Every name stays importable
from here, re-exported explicitly. Taught nowhere: the chapter's prose meets only the bare kernels
these checks guard.
"""

from __future__ import annotations

from labs.scaling.fit_checks import MAX_RESAMPLES as MAX_RESAMPLES
from labs.scaling.fit_checks import MAX_STARTS as MAX_STARTS
from labs.scaling.fit_checks import broadcast as broadcast
from labs.scaling.fit_checks import budget_list as budget_list
from labs.scaling.fit_checks import check_extrapolation_args as check_extrapolation_args
from labs.scaling.fit_checks import check_fit_result as check_fit_result
from labs.scaling.fit_checks import check_law as check_law
from labs.scaling.fit_checks import check_objective_args as check_objective_args
from labs.scaling.fit_checks import check_runs as check_runs
from labs.scaling.fit_checks import check_sensitivity_args as check_sensitivity_args
from labs.scaling.fit_checks import check_starts as check_starts
from labs.scaling.fit_checks import check_study as check_study
from labs.scaling.fit_checks import int_tuple as int_tuple
from labs.scaling.fit_checks import positive_array, same_length
from labs.scaling.sweep_checks import MAX_BATCH as MAX_BATCH
from labs.scaling.sweep_checks import MAX_CORPUS_TOKENS as MAX_CORPUS_TOKENS
from labs.scaling.sweep_checks import MAX_CORPUS_VOCAB as MAX_CORPUS_VOCAB
from labs.scaling.sweep_checks import MAX_STEPS as MAX_STEPS
from labs.scaling.sweep_checks import check_batch as check_batch
from labs.scaling.sweep_checks import check_batch_args as check_batch_args
from labs.scaling.sweep_checks import check_config as check_config
from labs.scaling.sweep_checks import check_corpus as check_corpus
from labs.scaling.sweep_checks import check_corpus_args as check_corpus_args
from labs.scaling.sweep_checks import check_device as check_device
from labs.scaling.sweep_checks import check_params as check_params
from labs.scaling.sweep_checks import check_plan as check_plan
from labs.scaling.sweep_checks import check_plan_args as check_plan_args
from labs.scaling.sweep_checks import check_schedule_args as check_schedule_args
from labs.scaling.sweep_checks import check_steps as check_steps
from labs.scaling.sweep_checks import check_stream as check_stream
from labs.scaling.sweep_checks import check_sweep_args
from labs.scaling.sweep_checks import check_sweep_result as check_sweep_result
from labs.scaling.sweep_checks import check_targets as check_targets
from labs.scaling.sweep_checks import check_tokens as check_tokens
from labs.scaling.sweep_checks import check_widths as check_widths
from labs.scaling.sweep_checks import check_windows as check_windows

__all__ = ["check_sweep_args", "positive_array", "same_length"]
