"""Chapter 1's serving cost, measured: the time per FLOP of a decoded token against a trained one.

Taught in chapter 1, "When does it pay?". The chapter's model says a training token of a model
with N parameters costs 6N FLOPs at the device's compute rate, while a token decoded at batch b
costs 2N FLOPs but also needs the weights read once per decoding step for b tokens, so its time
per FLOP is max(1 / FLOP/s, bytes per weight / (2 b bytes/s)): at small batch far more than a
training token's. `measure_token_costs` checks that model on the device present.

A stack of `layers` square float32 matrices of side `width` stands in for a model's weights (by
default 4 x 2048^2 = 16.8M parameters, 67 MB, more than most CPUs' last-level cache, so a
decoding step streams them from memory). A decoding step at batch b is the forward product of b
token vectors through the stack; a training step at batch `train_batch` is the forward and
backward products (the gradients of the weights and of the activations: 6N FLOPs per token). The
prediction uses this device's own ceilings (`labs.common.ceilings.measure_ceilings`: a square
product's FLOP/s and the bytes/s of a tensor streamed from memory), measured in the same call.

A timing is a fact about one machine: the result names the device, and chapter 1 asserts only
what holds on any device where a square product is compute-bound and a matrix-vector product is
memory-bound (decoding at batch 1 costs several times a training token's time per FLOP, and the
gap closes as the batch grows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labs.common.ceilings import best_seconds, measure_ceilings, timing_device
from labs.common.validate import describe_value, float_array, integer, real_number, size, text

__all__ = ["TokenCosts", "measure_token_costs"]

BYTES_PER_WEIGHT = 4  # float32
MAX_WEIGHT_BYTES = 2 * 2**30  # the stand-in model's weights, at most 2 GiB
MAX_BATCH = 8192


@dataclass(frozen=True)
class TokenCosts:
    """What `measure_token_costs` returns: seconds per FLOP of decoded and trained tokens.

    Attributes:
        device: the device's name ("cpu" or the GPU's name).
        params: the stand-in model's parameters, layers x width^2.
        batches: the decoding batches, in the order given.
        decode_seconds_per_flop: per batch, the best decoding step's seconds / (2 N b).
        train_seconds_per_flop: the best training step's seconds / (6 N train_batch).
        flops_per_s, bytes_per_s: this device's square-product and streaming ceilings.
        predicted_gain: per batch, the model's decode / train time per FLOP from those
            ceilings, max(1, FLOP/s x 4 bytes / (2 b bytes/s)).
        product_flops_per_s: per batch, the FLOP/s of one width x width product at M = b rows
            (the decoding step's shape), timed on its own with the weight warm, so that it
            measures the product's shape, not the stream.
    """

    device: str
    params: int
    batches: tuple[int, ...]
    decode_seconds_per_flop: np.ndarray
    train_seconds_per_flop: float
    flops_per_s: float
    bytes_per_s: float
    predicted_gain: np.ndarray
    product_flops_per_s: np.ndarray

    def __post_init__(self) -> None:
        text("device", self.device)
        size("params", self.params, maximum=MAX_WEIGHT_BYTES // BYTES_PER_WEIGHT)
        batches = _batches(self.batches)
        for name in ("decode_seconds_per_flop", "predicted_gain", "product_flops_per_s"):
            values = float_array(name, getattr(self, name), ndim=1)
            if values.shape != (len(batches),):
                raise ValueError(
                    f"{name} must hold one value per batch ({len(batches)}), got shape "
                    f"{values.shape}"
                )
            if (values <= 0).any():
                raise ValueError(f"{name} must be positive, got {values.tolist()}")
        if (np.asarray(self.predicted_gain) < 1).any():
            raise ValueError(
                f"predicted_gain must be at least 1 (the model's max(1, ...)), got "
                f"{np.asarray(self.predicted_gain).tolist()}"
            )
        for name in ("train_seconds_per_flop", "flops_per_s", "bytes_per_s"):
            real_number(name, getattr(self, name), positive=True)

    @property
    def measured_gain(self) -> np.ndarray:
        """Per batch, a decoded token's time per FLOP over a trained token's."""
        return self.decode_seconds_per_flop / self.train_seconds_per_flop

    @property
    def shape_gain(self) -> np.ndarray:
        """Per batch, the model with the product's rate at M = b in place of the square one:
        max(4 bytes / (2 b bytes/s), 1 / product FLOP/s) over a trained token's time per FLOP."""
        b = np.array(self.batches, dtype=float)
        stream = BYTES_PER_WEIGHT / (2 * b * self.bytes_per_s)
        compute = 1 / np.asarray(self.product_flops_per_s, dtype=float)
        return np.maximum(stream, compute) / self.train_seconds_per_flop


def _batches(batches) -> tuple[int, ...]:
    if isinstance(batches, (str, bytes)) or not isinstance(batches, Sequence):
        raise TypeError(
            f"batches must be a sequence of decoding batch sizes, got {describe_value(batches)}"
        )
    if len(batches) == 0:
        raise ValueError("batches must hold at least one batch size, got an empty sequence")
    if len(batches) > 16:
        raise ValueError(f"batches must hold at most 16 batch sizes, got {len(batches)}")
    return tuple(
        size(f"batches[{i}]", b, maximum=MAX_BATCH, why="a decoding batch, not a dataset")
        for i, b in enumerate(batches)
    )


def measure_token_costs(
    *,
    width: int = 2048,
    layers: int = 4,
    batches: Sequence[int] = (1, 4, 16, 64, 256),
    train_batch: int = 128,
    repeats: int = 3,
    threads: int = 1,
    device="cpu",
    seed: int = 0,
) -> TokenCosts:
    """Seconds per FLOP of a decoded token at each of `batches` and of a trained token, on
    `device`, with the model's prediction from the device's own ceilings (module docstring).

    Args:
        width: side of each square weight matrix (1 to 16,384).
        layers: matrices in the stack (1 to 64); layers x width^2 x 4 bytes at most 2 GiB.
        batches: decoding batch sizes (1 to 16 of them, each 1 to 8,192).
        train_batch: tokens per training step (1 to 8,192).
        repeats: timed calls of each step after an untimed one (1 to 100); the fastest counts.
        threads: CPU threads torch may use (1 to 1,024), restored afterwards.
        device: a CPU or a CUDA device, as a torch.device or a string.
        seed: seeds the weights and inputs, in [0, 2**32).

    Raises:
        TypeError, ValueError: an argument of the wrong type or out of range (named).
    """
    import torch

    width = size("width", width, maximum=16_384)
    layers = size("layers", layers, maximum=64)
    weight_bytes = layers * width * width * BYTES_PER_WEIGHT
    if weight_bytes > MAX_WEIGHT_BYTES:
        raise ValueError(
            f"layers x width^2 x 4 bytes must be at most 2 GiB, got {layers} x {width}^2 "
            f"({weight_bytes / 2**30:.1f} GiB)"
        )
    batches = _batches(batches)
    train_batch = size("train_batch", train_batch, maximum=MAX_BATCH)
    repeats = size("repeats", repeats, maximum=100, why="the best of 100 is as good as it gets")
    threads = size("threads", threads, maximum=1024, why="more than any CPU has")
    device = timing_device(device)
    seed = integer("seed", seed, minimum=0, maximum=2**32 - 1)
    # On a CPU with one thread, this process's CPU time: load from other programs then cannot
    # inflate one step's time and not another's (on a loaded 2-core machine the wall clock failed
    # the chapter's batch-1 check in two runs of five); a GPU's work, or several threads', needs
    # the wall clock.
    clock = "cpu" if device.type == "cpu" and threads == 1 else "wall"
    flops_per_s, bytes_per_s = measure_ceilings(
        clock=clock, threads=threads, repeats=repeats, device=device
    )
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(threads)
    try:
        decode, train, product = _time_steps(
            width, layers, batches, train_batch, repeats, device, seed, clock
        )
    finally:
        torch.set_num_threads(before)
    params = layers * width * width
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    b = np.array(batches, dtype=float)
    return TokenCosts(
        device=name,
        params=params,
        batches=batches,
        decode_seconds_per_flop=np.array(decode) / (2 * params * b),
        train_seconds_per_flop=train / (6 * params * train_batch),
        flops_per_s=flops_per_s,
        bytes_per_s=bytes_per_s,
        predicted_gain=np.maximum(1.0, flops_per_s * BYTES_PER_WEIGHT / (2 * b * bytes_per_s)),
        product_flops_per_s=2 * width * width * b / np.array(product),
    )


def _time_steps(width, layers, batches, train_batch, repeats, device, seed, clock):
    """Best seconds of one decoding step per batch, of one training step, and of one product
    at M = b per batch (the first weight alone, warm after the untimed call)."""
    import torch

    generator = torch.Generator(device="cpu").manual_seed(seed)

    def normal(*shape):
        return torch.randn(*shape, generator=generator).to(device)

    weights = [normal(width, width) / width**0.5 for _ in range(layers)]

    def forward(x):
        for w in weights:
            x = x @ w
        return x

    decode, product = [], []
    with torch.no_grad():
        for b in batches:
            x = normal(b, width)
            decode.append(best_seconds(lambda x=x: forward(x), repeats=repeats, clock=clock,
                                       device=device))  # fmt: skip
            product.append(best_seconds(lambda x=x: x @ weights[0], repeats=repeats, clock=clock,
                                        device=device))  # fmt: skip
    for w in weights:
        w.requires_grad_(True)
    x = normal(train_batch, width).requires_grad_(True)  # the activations' gradients too

    def train_step():
        for w in weights:
            w.grad = None
        forward(x).square().mean().backward()

    train = best_seconds(train_step, repeats=repeats, clock=clock, device=device)
    return decode, train, product
