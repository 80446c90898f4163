"""The tiny language models: the corpus against an empirical estimate, the NumPy reference
against PyTorch and JAX on the same weights, and the torch/JAX training sweeps against each
other for the same seed."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from labs.scaling import TinyLMConfig, count_params, init_params, make_corpus, reference_loss
from labs.scaling import jax as scaling_jax
from labs.scaling import torch as scaling_torch
from labs.scaling.lm import batch_starts, lr_schedule, windows
from tests.conftest import requires_gpu


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(64, 40_000, 4_096, seed=3)


@pytest.fixture(scope="module")
def corpus2():  # with a second-order part, to exercise the pair-chain entropy
    return make_corpus(8, 60_000, 2_048, mix=0.5, seed=4)


def test_entropy_rate_matches_the_sampled_stream(corpus, corpus2):
    # Independent check: the average of -log P(x_t | context) over the sampled stream is a Monte
    # Carlo estimate of the entropy rate; with 40k-60k tokens its standard error is ~0.01 nats.
    for c in (corpus, corpus2):
        s = c.train
        logp = np.log(c.transition[s[:-2], s[1:-1], s[2:]])
        assert -logp.mean() == pytest.approx(c.entropy_rate, abs=0.03)
        np.testing.assert_allclose(c.transition.sum(-1), 1.0, atol=1e-12)
    # a pure first-order chain: one token of context is all there is
    assert corpus.entropy_first == pytest.approx(corpus.entropy_rate, abs=1e-9)
    assert corpus.best_loss(32) == pytest.approx(corpus.entropy_rate)
    assert corpus2.entropy_first > corpus2.entropy_rate


def test_corpus_is_seeded():
    a, b = make_corpus(16, 1000, 100, seed=7), make_corpus(16, 1000, 100, seed=7)
    np.testing.assert_array_equal(a.train, b.train)
    assert not np.array_equal(a.train, make_corpus(16, 1000, 100, seed=8).train)


@pytest.mark.parametrize(
    "config",
    [
        TinyLMConfig(vocab_size=64, context=16, d_model=16, n_layers=1, n_heads=2),
        TinyLMConfig(vocab_size=64, context=8, d_model=8, n_layers=2, n_heads=1),
    ],
)
def test_param_count_matches_both_frameworks(config):
    assert count_params(config) == sum(v.size for v in init_params(config).values())
    model = scaling_torch.TinyLM(config)
    assert count_params(config) == sum(p.numel() for p in model.parameters())


def test_forward_parity_numpy_torch_jax(corpus):
    config = TinyLMConfig(vocab_size=64, context=16, d_model=16, n_layers=2, n_heads=2)
    params = init_params(config, seed=5)
    x, y = windows(corpus.train, batch_starts(len(corpus.train), 16, 4, 1, 0)[0], 16)
    ref = reference_loss(params, x, y, config)  # float64
    model = scaling_torch.TinyLM(config).load_numpy(params)
    got_torch = scaling_torch._loss(model, torch.as_tensor(x), torch.as_tensor(y)).item()
    got_jax = float(
        scaling_jax.loss_fn(
            {k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(x), jnp.asarray(y), config
        )
    )
    # float32 frameworks against a float64 reference: a loss near 4 agrees to ~1e-6 relative.
    assert got_torch == pytest.approx(ref, rel=1e-5)
    assert got_jax == pytest.approx(ref, rel=1e-5)


def test_torch_and_jax_train_the_same_curve(corpus):
    config = TinyLMConfig(vocab_size=64, context=16, d_model=16, n_layers=1, n_heads=2)
    curve_t, eval_t = scaling_torch.train_run(
        config, corpus, 40, batch_size=8, peak_lr=3e-2, eval_at=(20, 40)
    )
    curve_j, eval_j = scaling_jax.train_run(
        config, corpus, 40, batch_size=8, peak_lr=3e-2, eval_at=(20, 40)
    )
    # Same weights, batches and Adam; float32 on both sides, with different kernels (summation
    # order) for matmuls and reductions. Rounding differences of ~1e-7 per step are amplified
    # a little by Adam's normalisation; over 40 steps they stay below 1e-4.
    np.testing.assert_allclose(curve_t, curve_j, atol=1e-4, rtol=0)
    assert eval_t.keys() == eval_j.keys() == {20, 40}
    for k in eval_t:
        assert eval_t[k] == pytest.approx(eval_j[k], abs=1e-4)
    assert curve_t[-5:].mean() < curve_t[:5].mean() - 0.3  # it learns


def test_sweeps_agree_between_frameworks(corpus):
    kwargs = dict(d_models=(4, 8), steps=(10, 20), batch_size=8, peak_lr=3e-2)
    base = TinyLMConfig(vocab_size=64, context=16)
    t = scaling_torch.train_sweep(corpus, base=base, **kwargs)
    j = scaling_jax.train_sweep(corpus, base=base, **kwargs)
    assert len(t) == len(j) == 4
    np.testing.assert_array_equal(t.N, j.N)
    np.testing.assert_array_equal(t.D, [10 * 8 * 16, 20 * 8 * 16] * 2)
    np.testing.assert_allclose(t.C, 6 * t.N * t.D)
    np.testing.assert_allclose(t.loss, j.loss, atol=1e-4)  # tolerance as in the test above
    assert (t.framework, j.framework) == ("torch", "jax")
    again = scaling_torch.train_sweep(corpus, base=base, **kwargs)
    np.testing.assert_array_equal(t.loss, again.loss)  # seeded: bit-identical on one machine


def test_fixed_schedule_reads_checkpoints_of_one_run(corpus):
    base = TinyLMConfig(vocab_size=64, context=16)
    fixed = scaling_torch.train_sweep(
        corpus, (4,), (10, 20), base=base, batch_size=8, schedule="fixed"
    )
    assert fixed.schedule == "fixed" and fixed.steps.tolist() == [10, 20]
    assert len(fixed.curves[1]) == 20 and np.array_equal(fixed.curves[0], fixed.curves[1][:10])


def test_lr_schedule():
    lrs = lr_schedule(100, 1e-2, warmup=10, final_fraction=0.1)
    assert lrs[0] == pytest.approx(1e-3) and lrs[9] == pytest.approx(1e-2)
    assert lrs[10] == pytest.approx(1e-2) and lrs[-1] == pytest.approx(1e-3)
    assert np.all(np.diff(lrs[10:]) <= 0)


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (
            lambda c: TinyLMConfig(vocab_size=64, context=16, d_model=12, n_layers=1, n_heads=5),
            ValueError,
            "divisible",
        ),
        (lambda c: TinyLMConfig(vocab_size=64, context=1), ValueError, "context"),
        (
            lambda c: scaling_torch.train_sweep(c, (8,), (10,), schedule="cosine"),
            ValueError,
            "schedule",
        ),
        (lambda c: scaling_torch.train_sweep(c, (), (10,)), ValueError, "d_models"),
        (lambda c: scaling_jax.train_sweep(c, (8,), (0,)), ValueError, "steps"),
        (
            lambda c: scaling_torch.train_run(TinyLMConfig(vocab_size=32, context=16), c, 10),
            ValueError,
            "vocab_size",
        ),
        (
            lambda c: scaling_jax.train_run(
                TinyLMConfig(vocab_size=64, context=16), c, 10, eval_at=(20,)
            ),
            ValueError,
            "eval_at",
        ),
        (
            lambda c: scaling_torch.train_run(
                TinyLMConfig(vocab_size=64, context=16), c, 10, peak_lr=0.0
            ),
            ValueError,
            "peak_lr",
        ),
        (
            lambda c: scaling_torch.train_run(TinyLMConfig(vocab_size=64, context=16), "text", 10),
            TypeError,
            "corpus",
        ),
        (lambda c: make_corpus(64, 1000, 100, mix=1.5), ValueError, "mix"),
        (lambda c: make_corpus(1), ValueError, "vocab_size"),
        (lambda c: init_params("config"), TypeError, "config"),
    ],
)
def test_bad_input(corpus, call, exc, fragment):
    with pytest.raises(exc, match=fragment):
        call(corpus)


@requires_gpu
def test_torch_run_on_gpu_matches_cpu(corpus):
    config = TinyLMConfig(vocab_size=64, context=16, d_model=16, n_layers=1, n_heads=2)
    cpu, _ = scaling_torch.train_run(config, corpus, 10, batch_size=8)
    gpu, _ = scaling_torch.train_run(config, corpus, 10, batch_size=8, device="cuda")
    np.testing.assert_allclose(cpu, gpu, atol=1e-3)  # TF32 matmuls may be on: a looser bound


def test_config_replace_keeps_validation():
    with pytest.raises(ValueError, match="d_model"):
        dataclasses.replace(TinyLMConfig(), d_model=0)
