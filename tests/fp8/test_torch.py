"""The PyTorch half: FP8Linear's straight-through gradients, the _scaled_mm path, training."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labs.fp8 import E4M3, markov_tokens, torch_timing
from labs.fp8 import fake_quantize as np_fake_quantize
from labs.fp8 import torch as ftorch
from labs.fp8.torch_train import PRECISIONS, BF16Linear, TinyLM, train_tiny_lm
from tests.conftest import requires_gpu


def test_fp8_linear_gradients_are_straight_through():
    torch.manual_seed(0)
    layer = ftorch.FP8Linear(128, 128)
    x = torch.randn(4, 128, requires_grad=True)
    grad_out = torch.randn(4, 128)
    layer(x).backward(grad_out)
    # straight-through: d/dW is grad_out^T x_hat, d/dx is grad_out W_hat, d/db is sum(grad_out)
    x_hat = torch.from_numpy(np_fake_quantize(x.detach().numpy(), E4M3, "tile"))
    w_hat = torch.from_numpy(np_fake_quantize(layer.weight.detach().numpy(), E4M3, "block"))
    torch.testing.assert_close(layer.weight.grad, grad_out.T @ x_hat, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x.grad, grad_out @ w_hat, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(layer.bias.grad, grad_out.sum(0))


def test_fp8_linear_stays_close_to_fp32():
    torch.manual_seed(1)
    layer = ftorch.FP8Linear(256, 128)
    x = torch.randn(32, 256)
    with torch.no_grad():
        exact = F.linear(x, layer.weight, layer.bias)
        err = (layer(x) - exact).norm() / exact.norm()
    # E4M3 keeps 3 mantissa bits: each rounding errs by <= 2**-4 relative, ~2**-4/sqrt(3) rms
    assert 0.005 < float(err) < 0.07


def test_bf16_linear_rounds_to_bfloat16():
    torch.manual_seed(2)
    layer = BF16Linear(128, 128)
    x = torch.randn(3, 128)
    expected = F.linear(x.bfloat16().float(), layer.weight.bfloat16().float(), layer.bias)
    torch.testing.assert_close(layer(x), expected)


def test_fp8_linear_bad_input():
    with pytest.raises(ValueError, match="multiples of block=128"):
        ftorch.FP8Linear(100, 128)
    with pytest.raises(ValueError, match="in_features=128"):
        ftorch.FP8Linear(128, 128)(torch.randn(2, 64))
    with pytest.raises(TypeError, match="fmt must be"):
        ftorch.FP8Linear(128, 128, fmt="int8")


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda: ftorch.quantize(np.ones((2, 4)), E4M3, "row"), TypeError, "torch.Tensor"),
        (lambda: ftorch.quantize(torch.ones(2, 6), E4M3, "tile", 4), ValueError, "pad"),
        (lambda: ftorch.quantize(torch.ones(2, 8), E4M3, "cols", 4), ValueError, "granularity"),
        (
            lambda: ftorch.quantize(torch.tensor([1.0, float("nan")]), E4M3, "row"),
            ValueError,
            "NaN or inf",
        ),
        (
            lambda: ftorch.dequantize(
                torch.zeros(1, 4).to(torch.float8_e4m3fn), torch.tensor([[float("nan")]]), "row"
            ),
            ValueError,
            "finite and > 0",
        ),
        (
            lambda: ftorch.dequantize(torch.zeros(1, 4), torch.ones(1, 1), "row"),
            TypeError,
            "float8",
        ),
        (lambda: ftorch.limited_sum(torch.ones(4), 40), ValueError, "<= 24"),
        (lambda: ftorch.to_fp8(torch.ones(2), E4M3, saturate=1), TypeError, "saturate"),
        (
            lambda: ftorch.fp8_matmul(torch.ones(2, 4), torch.ones(3, 4)),
            ValueError,
            r"\(M, K\)",
        ),
    ],
)
def test_bad_input(call, exc, fragment):
    with pytest.raises(exc, match=fragment):
        call()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
def test_scaled_mm_names_the_requirement_without_a_capable_gpu():
    ok, reason = ftorch.scaled_mm_supported()
    assert not ok and "8.9" in reason
    with pytest.raises(RuntimeError, match="compute capability >= 8.9"):
        ftorch.scaled_mm(torch.ones(16, 16), torch.ones(16, 16))
    with pytest.raises(RuntimeError, match="8.9"):
        ftorch.gemm_throughput(64)


@requires_gpu
def test_scaled_mm_on_gpu_matches_fp32_and_reports_throughput():
    ok, reason = ftorch.scaled_mm_supported()
    if not ok:
        pytest.skip(reason)
    gen = torch.Generator(device="cuda").manual_seed(0)
    a = torch.randn(256, 512, device="cuda", generator=gen)
    b = torch.randn(512, 128, device="cuda", generator=gen)
    got = ftorch.scaled_mm(a, b).float()
    exact = a @ b
    # per-tensor E4M3 inputs: ~3% relative rms error on a random GEMM
    assert float((got - exact).norm() / exact.norm()) < 0.1
    result = ftorch.gemm_throughput(4096, repeats=10)
    print(
        f"{result['device']}: BF16 {result['bf16_tflops']:.0f} TFLOP/s, "
        f"FP8 {result['fp8_tflops']:.0f} TFLOP/s, ratio {result['ratio']:.2f}"
    )
    assert result["ratio"] > 1.0


def test_linear_timings_code_path_runs_on_the_cpu():
    # The GPU measurement's closures, run once each on the CPU (this torch has a CPU kernel for
    # torch._scaled_mm): they must build a correct FP8 GEMM and report all four timings. The
    # timer is a stand-in that records what each closure returned.
    outputs = []

    def once(fn, repeats):
        outputs.append(fn())
        return float(len(outputs))  # distinct, so a key bound to the wrong timing shows

    try:
        rows = torch_timing._linear_timings([32, 64], 1, "cpu", once)
    except (RuntimeError, NotImplementedError) as err:  # a torch without the CPU kernel
        pytest.skip(f"torch._scaled_mm has no CPU kernel here: {err}")
    assert [r["n"] for r in rows] == [32, 64]
    assert [(r["bf16_s"], r["fp8_s"], r["quantize_s"], r["gemm_s"]) for r in rows] == [
        (1.0, 2.0, 3.0, 4.0),
        (5.0, 6.0, 7.0, 8.0),
    ]
    for i in (0, 4):  # per size: BF16 product, FP8 layer, quantised inputs, FP8 GEMM alone
        exact = outputs[i].float()
        for fp8 in (outputs[i + 1], outputs[i + 3]):
            assert fp8.shape == exact.shape and fp8.dtype == torch.bfloat16
            # per-tensor E4M3 inputs: a few percent of relative error, not a wrong product
            assert float((fp8.float() - exact).norm() / exact.norm()) < 0.1
        qa, sa, qb, sb = outputs[i + 2]
        assert qa.dtype == qb.dtype == torch.float8_e4m3fn and sa.ndim == sb.ndim == 0


def test_tiny_lm_shapes_and_validation():
    model = TinyLM(32, "fp8")
    assert isinstance(model.fc1, ftorch.FP8Linear) and isinstance(model.head, torch.nn.Linear)
    assert model(torch.zeros(5, 2, dtype=torch.int64)).shape == (5, 32)
    with pytest.raises(ValueError, match="precision must be one of"):
        TinyLM(32, "fp4")
    with pytest.raises(ValueError, match="multiples of 128"):
        TinyLM(32, "fp32", d_model=50)


def test_every_precision_starts_from_the_same_weights():
    # the notebook compares precisions on paired runs: same seed, same initial weights
    states = []
    for precision in PRECISIONS:
        torch.manual_seed(0)
        states.append(TinyLM(16, precision).state_dict())
    for state in states[1:]:
        assert state.keys() == states[0].keys()
        for name, value in state.items():
            assert torch.equal(value, states[0][name]), name


def test_training_runs_and_learns_in_every_precision():
    tokens, entropy = markov_tokens(4000, vocab=16, seed=1)
    results = {
        p: train_tiny_lm(p, tokens[:3000], tokens[3000:], 16, steps=60, batch=64, lr=1e-2)
        for p in PRECISIONS
        if p != "e4m3_unscaled"  # the negative control: see the test below
    }
    for r in results.values():
        assert r["train_losses"][-1] < r["train_losses"][0]  # it learns
        assert np.isfinite(r["eval_loss"]) and r["eval_loss"] > entropy * 0.5
    # same seed, same data: the runs start from the same loss
    starts = [r["train_losses"][0] for r in results.values()]
    assert max(starts) - min(starts) < 0.05
    with pytest.raises(ValueError, match="tokens must lie in"):
        train_tiny_lm("fp32", tokens, tokens, 4, steps=1)


def test_unscaled_e4m3_gradients_flush_to_zero_and_scaled_ones_do_not():
    # gradients of a mean loss are ~1e-4, below E4M3's smallest subnormal 2**-9 ~ 2e-3:
    # cast without a scale they become 0; per tile they keep their scale
    x = torch.randn(128, 128, generator=torch.Generator().manual_seed(0))
    dy = torch.full((128, 128), 1e-4)
    for scaling, expect_zero in (("unscaled", True), ("fine", False)):
        layer = ftorch.FP8Linear(128, 128, backward="fp8", scaling=scaling)
        layer(x.clone().requires_grad_()).backward(dy)
        assert bool((layer.weight.grad == 0).all()) == expect_zero, scaling


def test_frozen_scales_hurt_training_against_v3_scales():
    # the chapter's second negative control at a smaller size: weights, activations and gradients
    # outgrow the max-abs of the first step and saturate. On seeds 0-2 the frozen runs end ~4%
    # above the V3-recipe runs; two seeds, each required to be worse by at least 1.5%.
    tokens, _ = markov_tokens(20_000, vocab=16, seed=1)
    for seed in (0, 1):
        loss = {
            p: train_tiny_lm(
                p, tokens[:16_000], tokens[16_000:], 16, steps=60, batch=128, seed=seed
            )["eval_loss"]
            for p in ("fp8", "e4m3_frozen")
        }
        assert loss["e4m3_frozen"] > 1.015 * loss["fp8"], (seed, loss)


def test_bf16_linear_backward_rounds_the_backward_gemms_to_bfloat16():
    torch.manual_seed(3)
    layer = BF16Linear(128, 64, backward="bf16")
    x = torch.randn(5, 128, requires_grad=True)
    dy = torch.randn(5, 64) * 1e-3
    layer(x).backward(dy)
    dy_b, w_b = dy.bfloat16().float(), layer.weight.detach().bfloat16().float()
    torch.testing.assert_close(x.grad, dy_b @ w_b)
    torch.testing.assert_close(layer.weight.grad, dy_b.T @ x.detach().bfloat16().float())
    torch.testing.assert_close(layer.bias.grad, dy.sum(0))
    # the control: straight-through gradients are float32 GEMMs of the unrounded dy and differ
    st = BF16Linear(128, 64)
    with torch.no_grad():
        st.weight.copy_(layer.weight)
        st.bias.copy_(layer.bias)
    x_st = x.detach().clone().requires_grad_()
    st(x_st).backward(dy)
    gap = (x_st.grad - x.grad).abs().max() / x_st.grad.abs().max()
    assert 1e-4 < float(gap) < 2**-7  # a BF16 rounding of dy (8 significant bits), no more
    # same forward either way
    torch.testing.assert_close(layer(x.detach()), st(x.detach()))


def test_bf16_linear_backward_bad_input():
    with pytest.raises(ValueError, match="backward"):
        BF16Linear(8, 4, backward="fp8")


def test_bf16_full_precision_builds_bf16_backward_layers():
    model = TinyLM(16, "bf16_full")
    assert isinstance(model.fc1, BF16Linear) and model.fc1.backward == "bf16"
    assert TinyLM(16, "bf16").fc2.backward == "straight_through"
