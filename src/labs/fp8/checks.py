"""The chapter's argument checks, written once and used by the NumPy, torch and JAX entry points.

Every public function of `labs.fp8` checks its arguments here (or with `labs.common.validate`)
and then calls a bare kernel. The array checks take anything with `.shape` and `.dtype`;
`framework=` says which arrays a parameter accepts ("numpy", "torch" or "jax"), so that one
framework's data never slips onto another's path. Values (NaN, inf, id ranges) are read only
for host-resident data: on a GPU the checks cost no device synchronisation.

Taught in chapter 2 ("The code: a bit-exact codec", "Outliers, and why V3 scales per tile",
"Accumulation: 14 bits are not enough for long sums").
"""

from __future__ import annotations

import math

import numpy as np

from labs.common import validate
from labs.fp8.config import format_by_name

__all__: list[str] = []  # internal: the public entry points live in the kernel modules

GRANULARITIES = ("tensor", "row", "tile", "column_tile", "block")
FLOAT32_MAX = float(np.finfo(np.float32).max)
ROUNDINGS = ("truncate", "nearest")
ACCUMULATIONS = ("fp32", "limited")
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
FLOAT32_BITS = 24  # significant bits of a float32, the implicit leading 1 included
# A group longer than this is a typo: V3 uses 128, and a block beyond 2**16 no longer fits a row.
MAX_BLOCK = 2**16
# The limited accumulator holds all M * N * K products at once and loops over K in Python.
MAX_LIMITED_PRODUCTS = 2**24


def _is_fp8_dtype(value) -> bool:
    return "float8" in str(value.dtype)


def _is_float_dtype(value) -> bool:
    if hasattr(value, "is_floating_point"):  # a torch tensor
        return bool(value.is_floating_point())
    try:
        dtype = np.dtype(value.dtype)
    except TypeError:  # not a NumPy-compatible dtype (a JAX key, ...)
        return False
    return dtype.kind == "f" or (dtype.kind == "V" and "float" in dtype.name)


def check_float(name: str, value, *, framework: str = "numpy", min_ndim: int = 1, finite=True):
    """A float array (not an FP8 one) with at least `min_ndim` dimensions, no NaN/inf on the host.

    The NumPy path returns a float32 copy of the data, the others the array unchanged.
    """
    if framework == "jax" and not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise TypeError(
            f"{name} must be an array (JAX or NumPy), got {validate.describe_value(value)}"
        )
    if hasattr(value, "dtype") and (_is_fp8_dtype(value) or not _is_float_dtype(value)):
        raise TypeError(
            f"{name} must be a floating-point array (float32/float64/bfloat16), got "
            f"{validate.describe_value(value)}"
        )
    value = validate.array(name, value, framework=framework, min_ndim=min_ndim, finite=finite)
    if finite and "64" in str(value.dtype):  # float64 beyond float32's range would become inf
        host = _host_values(value, framework)
        if host is not None and np.abs(host).max() > FLOAT32_MAX:
            raise ValueError(
                f"{name} must fit in float32 (|{name}| <= {FLOAT32_MAX:.4g}, the kernels compute "
                f"in float32), got a float64 value of {np.abs(host).max():.4g}"
            )
    return value.astype(np.float32) if framework == "numpy" else value


def check_real(name: str, value) -> np.ndarray:
    """Real numbers (floats or ints) as float64, NaN and +-inf allowed (the codec encodes them)."""
    if isinstance(value, np.ndarray) and (value.dtype.kind not in "fiuV" or value.dtype == bool):
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {value.dtype}")
    return validate.array(name, value, dtype=("float", "int"), finite=False).astype(np.float64)


def check_codes(name: str, value) -> np.ndarray:
    """FP8 codes: a uint8 array, or integers in 0..255."""
    if isinstance(value, np.ndarray) and value.dtype.kind not in "iu":
        raise TypeError(f"{name} must be uint8 FP8 codes, got an array of dtype {value.dtype}")
    arr = validate.array(name, value, dtype="int", finite=False)
    if arr.dtype != np.uint8:
        if arr.min() < 0 or arr.max() > 255:
            raise ValueError(
                f"{name} must lie in 0..255, got values from {arr.min()} to {arr.max()}"
            )
    return arr


def check_fp8(name: str, value, *, framework: str):
    """An array in an FP8 dtype (torch.float8_e4m3fn / float8_e5m2, or JAX's ml_dtypes ones),
    without NaN or inf codes (values read on the host only)."""
    validate.array(name, value, framework=framework, finite=False)
    if not _is_fp8_dtype(value):
        raise TypeError(f"{name} must be a float8 array, got {validate.describe_value(value)}")
    host = _host_values(value, framework)
    if host is not None and not np.all(np.isfinite(host)):
        raise ValueError(f"{name} must be finite; it holds NaN or inf codes")
    return value


def check_shape(name: str, shape) -> tuple[int, ...]:
    """A shape: a tuple of positive ints holding at most validate.MAX_ELEMENTS elements."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise TypeError(f"{name} must be a tuple of ints, got {validate.describe_value(shape)}")
    dims = tuple(validate.integer(f"{name}[{i}]", d, minimum=1) for i, d in enumerate(shape))
    if math.prod(dims) > validate.MAX_ELEMENTS:
        raise ValueError(
            f"{name} must hold at most {validate.MAX_ELEMENTS} elements, got {dims} "
            f"({math.prod(dims)} elements)"
        )
    return dims


def check_layout(shape: tuple, granularity: str, block, name: str = "x", what: str = "granularity"):
    """Check `granularity` (the parameter `what`) and `block` against the shape of `name`;
    returns `block` as an int."""
    validate.one_of(what, granularity, GRANULARITIES)
    block = validate.size("block", block, maximum=MAX_BLOCK, why="V3 uses 128")
    if len(shape) < 1:
        raise ValueError(f"{name} must have at least one dimension, got shape {shape}")
    if granularity == "tile" and shape[-1] % block:
        raise ValueError(
            f"granularity 'tile' needs the last dimension of {name} to be a multiple of "
            f"block={block}, got shape {shape}; pad with zeros to a multiple of {block} first"
        )
    if granularity in ("column_tile", "block") and len(shape) < 2:
        raise ValueError(f"granularity {granularity!r} needs at least 2 dimensions, got {shape}")
    if granularity == "column_tile" and shape[-2] % block:
        raise ValueError(
            f"granularity 'column_tile' needs the second-to-last dimension of {name} to be a "
            f"multiple of block={block}, got shape {shape}; pad with zeros first"
        )
    if granularity == "block":
        if shape[-1] % block or shape[-2] % block:
            raise ValueError(
                f"granularity 'block' needs the last two dimensions of {name} to be multiples of "
                f"block={block}, got shape {shape}; pad with zeros first"
            )
    return block


def check_matmul_layout(a, b, a_granularity: str, b_granularity: str, block) -> int:
    """The groups of `fp8_matmul`: a's along its rows, b's along its columns (through b.T)."""
    block = check_layout(tuple(a.shape), a_granularity, block, name="a", what="a_granularity")
    return check_layout(tuple(b.T.shape), b_granularity, block, name="b.T", what="b_granularity")


def check_uint8_codes(name: str, value) -> np.ndarray:
    """A non-empty uint8 NumPy array of FP8 codes (what `quantize` returns)."""
    if not isinstance(value, np.ndarray) or value.dtype != np.uint8:
        raise TypeError(
            f"{name} must be a uint8 NumPy array of FP8 codes, got {validate.describe_value(value)}"
        )
    return validate.array(name, value, dtype="int", finite=False)


def scales_shape(shape: tuple, granularity: str, block: int) -> tuple:
    """The shape of the scales of an array of `shape` (see labs.fp8.reference)."""
    if granularity == "tensor":
        return ()
    if granularity == "row":
        return (*shape[:-1], 1)
    if granularity == "tile":
        return (*shape[:-1], shape[-1] // block)
    if granularity == "column_tile":
        return (*shape[:-2], shape[-2] // block, shape[-1])
    return (*shape[:-2], shape[-2] // block, shape[-1] // block)


def check_scales(scales, shape: tuple, granularity: str, block: int, *, framework: str):
    """Scales of the right shape for data of `shape`, finite and > 0 (values read on the host)."""
    scales = validate.array("scales", scales, framework=framework, min_ndim=0, finite=False)
    if _is_fp8_dtype(scales):
        raise TypeError(f"scales must be float32 scales, got dtype {scales.dtype}")
    expected = scales_shape(tuple(shape), granularity, block)
    if tuple(scales.shape) != expected:
        raise ValueError(
            f"scales must have shape {expected} for granularity {granularity!r}, block={block} "
            f"and data of shape {tuple(shape)}; got {tuple(scales.shape)}"
        )
    host = _host_values(scales, framework)
    if host is not None and (not np.all(np.isfinite(host)) or np.any(host <= 0)):
        raise ValueError("scales must be finite and > 0; got a NaN, an inf, a zero or less")
    return scales


def _host_values(value, framework: str):
    """The values as a float64 NumPy array where reading them costs no device sync, else None."""
    host = validate.host_values(value) if framework != "numpy" else np.asarray(value)
    return None if host is None else np.asarray(host).astype(np.float64)


def check_amax(name: str, value) -> np.ndarray:
    """Group max-abs values: a finite float array with no negative entry (float32)."""
    value = check_float(name, value, min_ndim=0)
    if np.any(value < 0):
        raise ValueError(f"{name} must be >= 0 (a max-abs), got a value of {value.min()}")
    return value


def check_positive(name: str, value) -> np.ndarray:
    """A finite float array (float32) whose every entry is > 0 (a scale)."""
    value = check_float(name, value, min_ndim=0)
    if np.any(value <= 0):
        raise ValueError(f"{name} must be > 0 everywhere, got a value of {value.min()}")
    return value


def check_bits(name: str, bits, minimum: int = 1) -> int:
    """A number of significant bits a float32 can hold: an int in [minimum, 24]."""
    bits = validate.integer(name, bits, minimum=minimum)
    if bits > FLOAT32_BITS:
        raise ValueError(f"{name} must be <= 24 (float32 holds 24 significant bits), got {bits}")
    return bits


def check_accumulation(accumulator_bits, promote_every, rounding) -> tuple:
    """The accumulator model's arguments (bits in [2, 24], promote_every >= 1 or None)."""
    bits = check_bits("accumulator_bits", accumulator_bits, minimum=2)
    if promote_every is not None:  # JAX's scan counts K in int32
        promote_every = validate.size("promote_every", promote_every, maximum=2**31 - 1)
    validate.one_of("rounding", rounding, ROUNDINGS)
    return bits, promote_every, rounding


# The aligned accumulator's domain: 2**-100 <= |value| <= 2**100, far beyond any FP8 product
# (E4M3 products lie between 2**-18 and about 2**17.6), so that every power-of-two shift it
# applies stays inside float32's normal exponents in each framework.
ALIGNED_RANGE = (2.0**-100, 2.0**100)


def check_aligned(accumulator_bits, group, promote_every) -> tuple[int, int, int | None]:
    """The aligned accumulator's (bits, group, promote_every): the group's sum of group + 1
    integers below 2**bits must stay exact in float32, and promotion falls on group ends."""
    group = validate.size("group", group, maximum=2**20)
    headroom = math.ceil(math.log2(group + 1))  # bits the sum of group + 1 terms can carry
    bits = check_bits("accumulator_bits", accumulator_bits, minimum=2)
    if bits + headroom > FLOAT32_BITS:
        raise ValueError(
            f"accumulator_bits must be <= {FLOAT32_BITS - headroom} with group={group} (the sum "
            f"of {group + 1} aligned {bits}-bit terms must stay exact in float32), got {bits}"
        )
    if promote_every is not None:
        promote_every = validate.size("promote_every", promote_every, maximum=2**31 - 1)
        if promote_every % group:
            raise ValueError(
                f"promote_every must be a multiple of group={group} (promotion happens between "
                f"groups), got {promote_every}"
            )
    return bits, group, promote_every


def check_aligned_values(values, *, framework: str):
    """Finite float values with every nonzero magnitude inside ALIGNED_RANGE (on the host)."""
    values = check_float("values", values, framework=framework)
    host = _host_values(values, framework)
    if host is not None and host.size:
        magnitude = np.abs(host.astype(np.float64))
        nonzero = magnitude[magnitude > 0]
        lo, hi = ALIGNED_RANGE
        if nonzero.size and (nonzero.min() < lo or nonzero.max() > hi):
            raise ValueError(
                f"values must be 0 or of magnitude in [2**-100, 2**100] (the model's shifts stay "
                f"in float32's exponents), got magnitudes from {nonzero.min():.3g} to "
                f"{nonzero.max():.3g}"
            )
    return values


def check_linear_input(x, in_features: int, *, framework: str):
    """The input of an FP8 linear layer: a float array ending with `in_features`."""
    x = check_float("x", x, framework=framework)
    if x.shape[-1] != in_features:
        raise ValueError(f"x must end with in_features={in_features}, got shape {tuple(x.shape)}")
    return x


def check_saturate(saturate) -> bool:
    """The overflow rule: True or False (its message the tests pin)."""
    if not isinstance(saturate, (bool, np.bool_)):
        raise TypeError(f"saturate must be a bool, got {type(saturate).__name__}")
    return bool(saturate)


def check_layer_sizes(in_features, out_features) -> tuple[int, int]:
    """The widths of a linear layer, whose (in, out) weight must hold at most 2**28 elements."""
    why = "the weight matrix is allocated"
    in_features = validate.size("in_features", in_features, maximum=validate.MAX_ELEMENTS, why=why)
    out_features = validate.size(
        "out_features", out_features, maximum=validate.MAX_ELEMENTS // in_features, why=why
    )
    return in_features, out_features


def check_device(device):
    """`device` (None: "cuda") as a torch.device; TypeError/ValueError naming it otherwise."""
    return validate.torch_device_arg("device", device, default="cuda")


def check_key(name: str, key):
    """A JAX PRNG key: a typed key (`jax.random.key`) or a raw uint32 key (`jax.random.PRNGKey`)."""
    return validate.jax_key(name, key)


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


def check_rng(seed) -> np.random.Generator:
    """A NumPy generator seeded by `seed`, an int >= 0."""
    return np.random.default_rng(validate.integer("seed", seed, minimum=0))


def check_mask(name: str, where, x) -> np.ndarray:
    """A boolean mask shaped like `x` (None: every element) selecting some nonzero value of x."""
    if where is None:
        where = np.ones(x.shape, dtype=bool)
    where = np.asarray(where) if not isinstance(where, (str, bytes)) else np.asarray(None)
    if where.dtype != np.bool_ or where.shape != x.shape:
        raise ValueError(
            f"{name} must be a boolean mask of shape {x.shape}, got dtype {where.dtype} "
            f"and shape {where.shape}"
        )
    if not np.any(x[where]):
        raise ValueError("x must not be all zeros (its relative error is undefined)")
    return where


def check_dot_products(lengths, trials, *accumulator, maximum: int) -> tuple:
    """The lengths K (a non-empty sequence of ints >= 1) and trials, with trials * K <= maximum,
    then the accumulator's (bits, promote_every, rounding): (lengths, trials, *accumulator)."""
    if isinstance(lengths, (str, bytes)) or not hasattr(lengths, "__iter__"):
        raise TypeError(
            f"lengths must be a sequence of ints, got {validate.describe_value(lengths)}"
        )
    lengths = [validate.integer(f"lengths[{i}]", k, minimum=1) for i, k in enumerate(lengths)]
    if not lengths:
        raise ValueError("lengths must name at least one K")
    trials = validate.size("trials", trials, maximum=maximum, why="trials * K products are held")
    if trials * max(lengths) > maximum:
        raise ValueError(
            f"trials * max(lengths) must be <= {maximum} (the products are held at once and "
            f"summed in a Python loop over K), got {trials} * {max(lengths)}"
        )
    return lengths, trials, *check_accumulation(*accumulator)


def check_tokens(name: str, tokens, vocab: int, *, context: int) -> np.ndarray:
    """A 1-D integer NumPy stream of ids in 0..vocab-1, longer than `context`."""
    tokens = validate.array(name, tokens, dtype="int", ndim=1)
    lo, hi = int(tokens.min()), int(tokens.max())
    if lo < 0 or hi >= vocab:
        raise ValueError(f"{name}: tokens must lie in 0..{vocab - 1}, got values from {lo} to {hi}")
    if len(tokens) <= context:
        raise ValueError(f"{name} must hold more than {context} tokens, got {len(tokens)}")
    return tokens


def check_token_windows(name: str, tokens, vocab: int, context: int):
    """A (B, context) integer torch tensor of ids in 0..vocab-1 (range read on the host only)."""
    tokens = validate.integer_array(name, tokens, framework="torch", ndim=2, low=0, high=vocab)
    if tokens.shape[1] != context:
        raise ValueError(f"{name} must have shape (B, {context}), got {tuple(tokens.shape)}")
    return tokens


# --- One check per public signature, shared by the NumPy, torch and JAX entry points -------------


def check_quantize(x, fmt, granularity, block, *, framework: str = "numpy", power_of_two=False):
    """The arguments of quantize / fake_quantize / group_amax: (x, format, block);
    `power_of_two` must be a bool."""
    validate.boolean("power_of_two", power_of_two)
    x = check_float("x", x, framework=framework)
    return x, format_by_name(fmt), check_layout(tuple(x.shape), granularity, block)


def check_dequantize(q, scales, granularity, block, *, framework: str):
    """The arguments of the torch and JAX dequantize: (q, scales, block)."""
    q = check_fp8("q", q, framework=framework)
    block = check_layout(tuple(q.shape), granularity, block, name="q")
    return q, check_scales(scales, q.shape, granularity, block, framework=framework), block


def check_round(x, bits, rounding, *, framework: str = "numpy"):
    """The arguments of round_significand: (x, bits); bits in 1..24 in every framework."""
    x = check_float("x", x, framework=framework, min_ndim=0)
    validate.one_of("rounding", rounding, ROUNDINGS)
    return x, check_bits("bits", bits)


def check_fp8_matmul(a, b, a_granularity, b_granularity, accumulate, block, fmt, *, framework):
    """The operands and layout of fp8_matmul: (a, b, format, block). The accumulator's options
    are checked by `check_accumulation`."""

    a = check_float("a", a, framework=framework, min_ndim=2)
    b = check_float("b", b, framework=framework, min_ndim=2)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(
            f"a and b must be (M, K) and (K, N) matrices, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    validate.one_of("accumulate", accumulate, ACCUMULATIONS)
    (m, k), n = a.shape, b.shape[1]
    if accumulate == "limited" and m * n * k > MAX_LIMITED_PRODUCTS:
        raise ValueError(
            f"a and b give M * N * K = {m * n * k} products, more than the limited accumulator's "
            f"{MAX_LIMITED_PRODUCTS} (it holds them all and loops over K in Python): use "
            "accumulate='fp32' or smaller matrices"
        )
    block = check_matmul_layout(a, b, a_granularity, b_granularity, block)
    return a, b, format_by_name(fmt), block


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


def check_activations(rows, cols, outlier_fraction, outlier_scale, *, maximum: int) -> tuple:
    """The arguments of heavy_tailed_activations: rows * cols <= maximum, fraction in [0, 1]."""
    rows = validate.size("rows", rows, maximum=maximum, why=f"rows * cols <= {maximum}")
    cols = validate.size("cols", cols, maximum=maximum // rows, why=f"rows * cols <= {maximum}")
    fraction = validate.real_number("outlier_fraction", outlier_fraction, nonnegative=True)
    if fraction > 1:
        raise ValueError(f"outlier_fraction must be in [0, 1], got {fraction}")
    scale = validate.real_number("outlier_scale", outlier_scale, positive=True)
    return rows, cols, fraction, scale


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
    seed = validate.integer("seed", seed, minimum=0, maximum=2**63 - 1)
    return train_tokens, eval_tokens, vocab, steps, batch, lr, seed


def check_option(name: str, value, options: tuple) -> str:
    """One of `options` (a string), ValueError naming `name` otherwise."""
    return validate.one_of(name, value, options)


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


def check_recipe_tensors(tensors, history, *, max_steps: int) -> tuple[list, int]:
    """compare_recipes' arguments: a list of 1..max_steps finite, not-all-zero 2-D float arrays
    of one shape whose last axis 128 divides, and a history length in 1..max_steps."""
    if isinstance(tensors, np.ndarray) or not hasattr(tensors, "__len__"):
        raise TypeError(f"tensors must be a list of arrays, got {validate.describe_value(tensors)}")
    validate.size("len(tensors)", len(tensors), maximum=max_steps, why="held at once")
    arrays = [check_float(f"tensors[{i}]", t, min_ndim=2) for i, t in enumerate(tensors)]
    for i, a in enumerate(arrays):
        if a.shape != arrays[0].shape or a.ndim != 2:
            raise ValueError(
                f"tensors must all be 2-D of shape {arrays[0].shape}; tensors[{i}] has shape "
                f"{a.shape}"
            )
        if not np.any(a):
            raise ValueError(f"tensors[{i}] is all zeros (its relative error is undefined)")
    check_layout(arrays[0].shape, "tile", 128, name="tensors[0]")
    return arrays, validate.size("history", history, maximum=max_steps)
