"""Chapter 6 sampling FLOPs: the token passes of a sampler with and without a KV cache, counted by
hand and counted on the chapter's own sampler; the step functions that use them; a count made with
a cache recounted without one; bad input."""

from __future__ import annotations

import pytest
import torch

from labs.common.tasks import AdditionTask
from labs.distill import (
    distill_step_flops,
    grpo_step_flops,
    sampling_flops,
    sampling_token_passes,
    uncached_flops,
)
from labs.grpo.policy import TinyPolicy, sample


@pytest.mark.parametrize(
    ("prompt", "new", "no_cache", "cache"),
    [
        (7, 3, 7 + 8 + 9, 9),  # the addition task: prompt of 7, answers of up to 3 tokens
        (5, 4, 5 + 6 + 7 + 8, 8),
        (1, 1, 1, 1),  # one token after one: a single pass either way
        (4, 1, 4, 4),
    ],
)
def test_token_passes_by_hand(prompt, new, no_cache, cache):
    assert sampling_token_passes(prompt, new, kv_cache=False) == no_cache
    assert sampling_token_passes(prompt, new, kv_cache=True) == cache


def test_token_passes_are_what_the_chapters_sampler_runs():
    """Count the positions labs.grpo's sampler feeds through the model, call by call."""
    task = AdditionTask()
    torch.manual_seed(0)
    policy = TinyPolicy(task.vocab_size, d_model=8, n_layers=1, n_heads=2)
    fed = []
    forward = policy._forward

    def counting_forward(ids):
        fed.append(ids.shape[1])  # positions per sequence in this call
        return forward(ids)

    policy._forward = counting_forward
    prompts = torch.as_tensor(task.prompts(task.train[:5]))
    tok = task.tokenizer
    sample(policy, prompts, task.max_answer_tokens, eos_id=tok.eos_id, pad_id=tok.pad_id)
    assert fed == [7, 8, 9]  # the whole prefix again at every step
    passes = sampling_token_passes(prompts.shape[1], task.max_answer_tokens, kv_cache=False)
    assert sum(fed) == passes == 24


def test_sampling_flops_are_two_n_per_pass():
    assert sampling_flops(1000, 7, 3, kv_cache=False) == 2 * 1000 * 24
    assert sampling_flops(1000, 7, 3, kv_cache=True) == 2 * 1000 * 9


def test_step_functions_count_the_sampler_they_are_told():
    # GRPO, 10 parameters, 4 completions, 9 positions, 2 updates: sampling 2 x 24 passes, scoring
    # twice and training twice 2 + 2 + 12 = 16 per position: (48 + 144) x 10 x 4.
    assert grpo_step_flops(10, 4, 9, 2, sampled_tokens=24) == 192 * 10 * 4
    # distillation, teacher 100 and student 10 parameters, 4 traces: the teacher samples
    # 2 x 100 x 24, the student trains 6 x 10 x 9 per trace.
    assert distill_step_flops(100, 10, 4, 9, sampled_tokens=24) == (4800 + 540) * 4
    # without sampled_tokens, sampling is counted once per position (a KV cache)
    assert grpo_step_flops(10, 4, 9, 2) == grpo_step_flops(10, 4, 9, 2, sampled_tokens=9)
    assert distill_step_flops(100, 10, 4, 9) == (1800 + 540) * 4


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: sampling_token_passes(0, 3, kv_cache=False), ValueError, "prompt_tokens"),
        (lambda: sampling_token_passes(7, 0, kv_cache=False), ValueError, "new_tokens"),
        (lambda: sampling_token_passes(7, 3.5, kv_cache=False), TypeError, "new_tokens"),
        (lambda: sampling_token_passes(7, 3, kv_cache="no"), TypeError, "kv_cache"),
        (lambda: sampling_flops(0, 7, 3, kv_cache=True), ValueError, "params"),
        (lambda: grpo_step_flops(10, 4, 9, 2, sampled_tokens=0), ValueError, "sampled_tokens"),
        (lambda: distill_step_flops(100, 10, 4, 9, sampled_tokens=2.5), TypeError, "sampled"),
    ],
)
def test_bad_input_names_the_parameter(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_uncached_flops_by_hand():
    # A run that sampled 100 answers of 3 tokens after 7 from a model of 1,000 parameters, counted
    # with a cache: 9 passes each. Without one each answer takes 7 + 8 + 9 = 24 passes, 15 more,
    # each 2 x 1,000 FLOPs: 100 x 15 x 2,000 = 3,000,000 more than the 1,800,000 counted.
    assert uncached_flops(1.8e6, 100, 1000, 7, 3) == 1.8e6 + 3.0e6
    assert uncached_flops(0.0, 0, 1000, 7, 3) == 0.0  # a curve's start: nothing sampled yet
    assert uncached_flops(5.0, 10, 1000, 4, 1) == 5.0  # one token after the prompt: no saving


def test_uncached_flops_recount_the_step_functions():
    # A GRPO step counted with a cache, recounted, is the same step counted without one.
    cached = grpo_step_flops(10, 4, 9, 2)
    assert uncached_flops(cached, 4, 10, 7, 3) == grpo_step_flops(10, 4, 9, 2, sampled_tokens=24)
    cached = distill_step_flops(100, 10, 4, 9)  # the teacher (100 parameters) samples
    assert uncached_flops(cached, 4, 100, 7, 3) == distill_step_flops(
        100, 10, 4, 9, sampled_tokens=24
    )


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: uncached_flops(-1.0, 1, 10, 7, 3), ValueError, "flops"),
        (lambda: uncached_flops("1", 1, 10, 7, 3), TypeError, "flops"),
        (lambda: uncached_flops(1.0, -1, 10, 7, 3), ValueError, "samples"),
        (lambda: uncached_flops(1.0, 2.0, 10, 7, 3), TypeError, "samples"),
        (lambda: uncached_flops(1.0, 1, 0, 7, 3), ValueError, "params"),
        (lambda: uncached_flops(1.0, 1, 10, 0, 3), ValueError, "prompt_tokens"),
        (lambda: uncached_flops(1.0, 1, 10, 7, 0), ValueError, "new_tokens"),
    ],
)
def test_uncached_flops_bad_input_names_the_parameter(call, error, name):
    with pytest.raises(error, match=name):
        call()
