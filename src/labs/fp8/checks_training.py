"""Argument checks for the FP8 layer, its backward pass, the training runs and the GEMM timing.

Taught in chapter 2 ("The backward pass in FP8", "The layer", "Training in FP8: does the loss
notice?", "When does FP8 pay?"). `labs.fp8.checks` re-exports every name.
"""

from __future__ import annotations

import numpy as np

from labs.common import validate
from labs.fp8.checks_accumulator import check_accumulation, check_fp8_matmul
from labs.fp8.checks_codec import check_float, check_layout, format_by_name

__all__: list[str] = []  # internal: the public entry points live in the kernel modules

# The precisions of labs.fp8.torch_train (see its module docstring).
PRECISIONS = (
    "fp32",
    "bf16",
    "bf16_full",
    "fp8",
    "fp8_forward",
    "e5m2_tensor",
    "e4m3_tensor",
    "e4m3_unscaled",
    "e4m3_frozen",
    "e4m3_tensor_outliers",
    "fp8_short_accumulator",
)


def check_layer_sizes(in_features, out_features) -> tuple[int, int]:
    """The widths of a linear layer, whose (in, out) weight must hold at most 2**28 elements."""
    why = "the weight matrix is allocated"
    in_features = validate.size("in_features", in_features, maximum=validate.MAX_ELEMENTS, why=why)
    out_features = validate.size(
        "out_features", out_features, maximum=validate.MAX_ELEMENTS // in_features, why=why
    )
    return in_features, out_features


def check_linear_input(x, in_features: int, *, framework: str, weight=None):
    """The input of an FP8 linear layer: a float array ending with `in_features`. With `weight`
    (a torch layer's), x must also lie on its device and be no wider than its dtype."""
    x = check_float("x", x, framework=framework)
    if x.shape[-1] != in_features:
        raise ValueError(f"x must end with in_features={in_features}, got shape {tuple(x.shape)}")
    if weight is not None:
        check_layer_input("x", x, weight)
    return x


def check_layer_input(name: str, x, weight) -> None:
    """A torch layer's input against its weight: on the weight's device and, for a float input,
    no wider than the weight's dtype. torch promotes a narrower input (bfloat16 into a float32
    layer) but fails deep inside a matrix product on a wider one (float64 into float32)."""
    import torch

    validate.same_device(("the layer's weight", weight), (name, x))
    if x.is_floating_point() and torch.promote_types(x.dtype, weight.dtype) != weight.dtype:
        raise TypeError(
            f"{name} must be no wider than the layer's weight dtype {weight.dtype}, got "
            f"{x.dtype}: cast it with .to({weight.dtype})"
        )


def check_linear_params(params, *, framework: str):
    """{"kernel": (in, out), "bias": (out,)} float arrays; returns (kernel, bias)."""
    if not isinstance(params, dict) or not {"kernel", "bias"} <= params.keys():
        raise TypeError("params must be a dict with 'kernel' and 'bias' (see init_linear)")
    kernel = check_float("params['kernel']", params["kernel"], framework=framework, min_ndim=2)
    bias = check_float("params['bias']", params["bias"], framework=framework)
    if kernel.ndim != 2 or bias.shape != (kernel.shape[1],):
        raise ValueError(
            f"params['kernel'] must be (in, out) and params['bias'] (out,), got shapes "
            f"{tuple(kernel.shape)} and {tuple(bias.shape)}"
        )
    return kernel, bias


def check_device(device):
    """`device` (None: "cuda") as a torch.device; TypeError/ValueError naming it otherwise."""
    return validate.torch_device_arg("device", device, default="cuda")


def check_key(name: str, key):
    """A JAX PRNG key: a typed key (`jax.random.key`) or a raw uint32 key (`jax.random.PRNGKey`)."""
    return validate.jax_key(name, key)


def check_fp8_linear(in_features, out_features, bias, fmt, block) -> tuple:
    """FP8Linear's arguments: (in_features, out_features, format, block); block divides both."""

    in_features, out_features = check_layer_sizes(in_features, out_features)
    validate.boolean("bias", bias)
    block = check_layout((out_features, in_features), "block", block, name="weight")
    return in_features, out_features, format_by_name(fmt), block


def check_fp8_linear_controls(accumulator_bits, promote_every, input_gain, in_features, backward):
    """FP8Linear's two control options: (accumulator_bits or None, promote_every or None,
    input_gain or None). The accumulator needs backward="fp8" (its GEMMs are not autograd's);
    input_gain is a finite positive float tensor of shape (in_features,)."""
    if accumulator_bits is not None:
        accumulator_bits, promote_every, _ = check_accumulation(
            accumulator_bits, promote_every, "truncate"
        )
        if backward != "fp8":
            raise ValueError(
                f'accumulator_bits needs backward="fp8" (every GEMM in the limited accumulator), '
                f"got backward={backward!r}"
            )
    elif promote_every is not None:
        raise ValueError(
            f"promote_every needs accumulator_bits (FP32 accumulation has nothing to promote), "
            f"got promote_every={promote_every!r} with accumulator_bits=None"
        )
    if input_gain is not None:
        input_gain = check_float("input_gain", input_gain, framework="torch")
        if tuple(input_gain.shape) != (in_features,):
            raise ValueError(
                f"input_gain must have shape ({in_features},) (one gain per input channel), "
                f"got {tuple(input_gain.shape)}"
            )
        if not bool((input_gain > 0).all()):
            raise ValueError("input_gain must be positive in every channel, got a value <= 0")
    return accumulator_bits, promote_every, input_gain


def check_fp8_linear_call(params, x, fmt, block, *, framework: str) -> tuple:
    """The JAX fp8_linear's arguments: (params, x, format, block)."""

    kernel, bias = check_linear_params(params, framework=framework)
    x = check_linear_input(x, kernel.shape[0], framework=framework)
    block = check_layout(tuple(x.shape), "tile", block)
    block = check_layout(tuple(kernel.shape), "block", block, name="params['kernel']")
    return {"kernel": kernel, "bias": bias}, x, format_by_name(fmt), block


def check_linear_backward(x, weight, grad_output, fmt, block, *, framework: str) -> tuple:
    """linear_backward's arguments: x (M, I), weight (O, I), grad_output (M, O), every size a
    multiple of `block`; returns (x, weight, grad_output, format, block)."""
    x = check_float("x", x, framework=framework, min_ndim=2)
    weight = check_float("weight", weight, framework=framework, min_ndim=2)
    grad_output = check_float("grad_output", grad_output, framework=framework, min_ndim=2)
    shapes = tuple(tuple(t.shape) for t in (x, weight, grad_output))
    (m, i), (o, i2), (m2, o2) = (s[:2] for s in shapes)
    if any(len(s) != 2 for s in shapes) or (i, m, o) != (i2, m2, o2):
        raise ValueError(
            "x, weight and grad_output must be (M, in), (out, in) and (M, out), got shapes "
            f"{shapes[0]}, {shapes[1]} and {shapes[2]}"
        )
    for name, shape in zip(("x", "weight", "grad_output"), shapes, strict=True):
        block = check_layout(shape, "block", block, name=name)
    return x, weight, grad_output, format_by_name(fmt), block


def check_tokens(name: str, tokens, vocab: int, *, context: int) -> np.ndarray:
    """A 1-D integer NumPy stream of ids in 0..vocab-1, longer than `context`."""
    tokens = validate.array(name, tokens, dtype="int", ndim=1)
    lo, hi = int(tokens.min()), int(tokens.max())
    if lo < 0 or hi >= vocab:
        raise ValueError(f"{name}: tokens must lie in 0..{vocab - 1}, got values from {lo} to {hi}")
    if len(tokens) <= context:
        raise ValueError(f"{name} must hold more than {context} tokens, got {len(tokens)}")
    return tokens


def check_token_windows(name: str, tokens, vocab: int, context: int, *, weight=None):
    """A (B, context) integer torch tensor of ids in 0..vocab-1 (range read on the host only),
    on the device of `weight` (the model's embedding) when given."""
    tokens = validate.integer_array(name, tokens, framework="torch", ndim=2, low=0, high=vocab)
    if tokens.shape[1] != context:
        raise ValueError(f"{name} must have shape (B, {context}), got {tuple(tokens.shape)}")
    if weight is not None:
        validate.same_device(("the model's weights", weight), (name, tokens))
    return tokens


def check_markov(n, vocab, concentration, *, max_tokens: int, max_vocab: int) -> tuple:
    """The arguments of markov_tokens: n in 3..max_tokens, vocab in 2..max_vocab."""
    n = validate.size("n", n, minimum=3, maximum=max_tokens, why="drawn one at a time")
    vocab = validate.size("vocab", vocab, minimum=2, maximum=max_vocab, why="vocab**3 table")
    return n, vocab, validate.real_number("concentration", concentration, positive=True)


def check_tiny_lm(vocab, precision, context, d_model, hidden, *, limits: tuple) -> tuple:
    """TinyLM's sizes: (vocab, context, d_model, hidden); context * d_model and hidden must be
    multiples of 128. `limits` = (max vocab, max width, max context)."""
    max_vocab, max_width, max_context = limits
    validate.one_of("precision", precision, PRECISIONS)
    vocab = validate.size("vocab", vocab, minimum=2, maximum=max_vocab)
    context = validate.size("context", context, maximum=max_context)
    d_model = validate.size("d_model", d_model, maximum=max_width)
    hidden = validate.size("hidden", hidden, maximum=max_width)
    if (context * d_model) % 128 or hidden % 128:
        raise ValueError(
            f"context * d_model ({context * d_model}) and hidden ({hidden}) must be multiples "
            "of 128"
        )
    return vocab, context, d_model, hidden


def check_training(
    precision, train_tokens, eval_tokens, vocab, steps, batch, lr, seed, *, limits: tuple
):
    """The arguments of train_tiny_lm. `limits` = (max vocab, max steps, max batch)."""
    max_vocab, max_steps, max_batch = limits
    validate.one_of("precision", precision, PRECISIONS)
    vocab = validate.size("vocab", vocab, minimum=2, maximum=max_vocab)
    train_tokens = check_tokens("train_tokens", train_tokens, vocab, context=2)
    eval_tokens = check_tokens("eval_tokens", eval_tokens, vocab, context=2)
    steps = validate.size("steps", steps, maximum=max_steps, why="a longer run is a typo here")
    batch = validate.size("batch", batch, maximum=max_batch)
    lr = validate.learning_rate("lr", lr)
    seed = validate.seed("seed", seed)
    return train_tokens, eval_tokens, vocab, steps, batch, lr, seed


def check_cuda_operands(a, b, supported: tuple[bool, str]) -> None:
    """RuntimeError unless FP8 GEMMs run here (`supported` from scaled_mm_supported) and a, b
    live on the CUDA device."""
    ok, reason = supported
    if not ok:
        raise RuntimeError(reason)
    if a is not None and (a.device.type != "cuda" or b.device.type != "cuda"):
        raise RuntimeError(
            f"a and b must be on the CUDA device, got {a.device} and {b.device}: move them with "
            ".cuda() (torch._scaled_mm has no CPU kernel)"
        )


def check_scaled_mm(a, b, out_dtype):
    """The arguments of the torch scaled_mm: finite float (M, K), (K, N), all multiples of 16."""
    import torch

    a, b, _, _ = check_fp8_matmul(a, b, "tensor", "tensor", "fp32", 1, "E4M3", framework="torch")
    validate.one_of("out_dtype", out_dtype, (torch.bfloat16, torch.float16, torch.float32))
    if any(d % 16 for d in (*a.shape, b.shape[1])):
        raise ValueError(
            f"M, K and N of a and b must be multiples of 16, got {tuple(a.shape)} @ "
            f"{tuple(b.shape)}"
        )
    return a, b


def check_gemm_timing(n, repeats) -> tuple[int, int]:
    """n: a multiple of 16 up to 2**14 (three n x n matrices must fit); repeats: 1..10000."""
    n = validate.size("n", n, minimum=16, maximum=2**14, why="three n x n matrices must fit")
    repeats = validate.size("repeats", repeats, maximum=10_000, why="each repeat is a GEMM")
    if n % 16:
        raise ValueError(f"n must be a multiple of 16 (torch._scaled_mm), got {n}")
    return n, repeats


def check_timing_sizes(sizes, repeats) -> tuple[list[int], int]:
    """1 to 16 GEMM sizes, each a multiple of 16 up to 2**14, and repeats in 1..10000."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"sizes must be a sequence of ints, got {validate.describe_value(sizes)}")
    sizes = list(sizes)
    validate.size("len(sizes)", len(sizes), maximum=16, why="each size is timed")
    checked = []
    for i, n in enumerate(sizes):
        n = validate.size(f"sizes[{i}]", n, minimum=16, maximum=2**14, why="n x n matrices")
        if n % 16:
            raise ValueError(f"sizes[{i}] must be a multiple of 16 (torch._scaled_mm), got {n}")
        checked.append(n)
    return checked, check_gemm_timing(16, repeats)[1]
