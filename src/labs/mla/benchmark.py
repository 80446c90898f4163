"""A decode benchmark for chapter 3 (PyTorch): tokens per second and cache bytes against context,
and the device's own limits (matrix-product FLOP/s, streaming-read bytes/s) to judge it against.

Each variant gets a cache already holding `context` tokens (random values: the content does not
change the arithmetic), then generates `steps` tokens one at a time for `batch` sequences. The
time covers only the decode steps.

Taught in chapter 3, "A decode benchmark" and "When does it pay?".
"""

from __future__ import annotations

import time

import torch

from labs.common import validate
from labs.common.ceilings import CLOCKS, measure_ceilings
from labs.common.validate import one_of, size
from labs.mla.checks import check_bench_shape, check_benchmark, check_mla_config
from labs.mla.config import AttentionConfig
from labs.mla.torch import attention_module, check_device

__all__ = [
    "absorbed_roof_rounds",
    "batched_product_flops",
    "bench_configs",
    "decode_benchmark",
    "measure_device_limits",
]


def bench_configs(d_model: int = 512, n_heads: int = 8, head_dim: int = 64) -> dict:
    """Small MHA, GQA (4 query heads per KV head) and MLA layers with DeepSeek-V2's ratios:
    d_c = 4 d_h and d_h^R = d_h / 2 (Table 1), no query compression. n_heads is a multiple of 4
    (GQA's groups of 4), head_dim a multiple of 4 (d_h^R = d_h / 2 must be even)."""
    n_heads, head_dim = check_bench_shape(n_heads, head_dim)
    return {
        "MHA": AttentionConfig(
            kind="mha", n_layers=1, d_model=d_model, n_heads=n_heads, head_dim=head_dim
        ),
        "GQA": AttentionConfig(
            kind="gqa",
            n_layers=1,
            d_model=d_model,
            n_heads=n_heads,
            head_dim=head_dim,
            n_kv_heads=n_heads // 4,
        ),
        "MLA": AttentionConfig(
            kind="mla",
            n_layers=1,
            d_model=d_model,
            n_heads=n_heads,
            head_dim=head_dim,
            kv_lora_rank=4 * head_dim,
            rope_head_dim=head_dim // 2,
        ),
    }


def _sync(device: torch.device) -> None:
    """Wait for the device to finish its queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize()  # GPU work is asynchronous: wait before reading the clock


def decode_benchmark(
    config: AttentionConfig,
    context: int,
    *,
    batch: int = 4,
    steps: int = 8,
    absorbed: bool | str = False,
    device: torch.device | str = "cpu",
    repeats: int = 3,
    seed: int = 0,
    cpu_threads: int = 1,
    clock: str = "wall",
) -> tuple[float, int]:
    """(tokens per second, cache bytes) for `steps` decode steps after `context` cached tokens.

    The best of `repeats` runs, after one warm-up step; float32 throughout. Caps that keep a typo
    from running for hours: context + steps below 2**24 positions, the cache within 2**28
    elements, at most 1,024 steps, 100 repeats and 1,024 threads. On a CPU the steps
    run on `cpu_threads` threads (restored afterwards): a decode step is a handful of tiny
    matrix products, and on a shared machine waiting for a second thread can cost more than the
    arithmetic, which would measure the scheduler rather than the attention.

    `clock` is "wall" (`time.perf_counter`, the only one that sees a GPU's work) or "cpu"
    (`time.process_time`: this process's CPU time, which leaves out the time other programs hold
    the core; a CPU device and one thread only, as in `labs.common.ceilings.measure_ceilings`).
    """
    config, context, batch, steps, absorbed, repeats, seed, cpu_threads = check_benchmark(
        config, context, batch, steps, absorbed, repeats, seed, cpu_threads
    )
    device = check_device(device)
    clock = one_of("clock", clock, CLOCKS)
    if clock == "cpu" and (device.type != "cpu" or cpu_threads != 1):
        raise ValueError(
            f"clock='cpu' needs device='cpu' and cpu_threads=1, got device={str(device)!r} and "
            f"cpu_threads={cpu_threads}: CPU time misses a GPU's work and adds up every thread's"
        )
    timer = time.process_time if clock == "cpu" else time.perf_counter
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads)
    try:
        with torch.no_grad():
            return _run(config, context, batch, steps, absorbed, device, repeats, seed, timer)
    finally:
        torch.set_num_threads(threads)


def _run(config, context, batch, steps, absorbed, device, repeats, seed, timer) -> tuple:
    """The best time of `repeats` runs of `steps` single-token decode steps."""
    generator = torch.Generator(device=device).manual_seed(seed)  # random data made in place
    module = attention_module(config).to(device).eval()
    kwargs = {"absorbed": absorbed} if config.kind == "mla" else {}
    x = torch.randn(batch, steps + 1, config.d_model, generator=generator, device=device)
    best = float("inf")
    cache = module.new_cache(batch, context + steps + 1)
    cache.length = context
    for name in cache.tensors:
        cache.filled(name).uniform_(-1, 1, generator=generator)  # the first `context` positions
    for _ in range(repeats):
        cache.length = context  # each repeat decodes the same steps after the same context
        module(x[:, :1], cache, **kwargs)  # warm-up step (also folds the merged weights)
        _sync(device)
        start = timer()
        for t in range(1, steps + 1):
            module(x[:, t : t + 1], cache, **kwargs)
        _sync(device)
        best = min(best, timer() - start)
    return batch * steps / best, cache.nbytes


def measure_device_limits(
    device: torch.device | str = "cpu",
    *,
    cpu_threads: int = 1,
    repeats: int = 5,
    clock: str = "wall",
) -> tuple[float, float]:
    """(FLOP/s, bytes/s) this device reaches: a float32 (1024 x 1024) matrix product, and the
    faster of a sum and a matrix-vector product over a float32 tensor of
    `labs.common.ceilings.stream_bytes` (256 MiB, or four times a CPU's last-level cache where
    that is larger, so it streams from memory).

    The best of `repeats` (at most 100) after a warm-up, wall-clock; on a CPU with `cpu_threads`
    threads (as `decode_benchmark`), restored afterwards. These are the roofline's ceilings for
    this machine: what a good kernel can reach here, not the vendor's peak. The measurement is
    `labs.common.ceilings.measure_ceilings`, shared with chapters 1, 4, 7 and 8; `clock` as there
    ("cpu": process time, a CPU and one thread only).
    """
    device = check_device(device)
    cpu_threads = size("cpu_threads", cpu_threads, maximum=1024, why="more than any CPU has")
    return measure_ceilings(clock=clock, threads=cpu_threads, repeats=repeats, device=device)


def batched_product_flops(
    rows: int,
    inner: int,
    cols: int,
    *,
    batch: int = 1,
    repeats: int = 5,
    clock: str = "cpu",
    seed: int = 0,
) -> float:
    """FLOP/s of one float32 batched product (batch, rows, inner) @ (batch, inner, cols) on one
    CPU thread: the ceiling at a kernel's own shape, where `measure_device_limits` gives it at
    (1024 x 1024)^2.

    Absorbed MLA's decode scores are this product with rows = the query heads, inner = d_c + d_h^R
    and cols = the context: with few heads the product is "skinny" (a handful of rows), and a CPU
    reaches a fraction of its square-product FLOP/s on it. The best of `repeats` (at most 100)
    after a warm-up; `clock` "cpu" (process time) or "wall". Each operand within 2**28 elements.
    """
    rows = size("rows", rows, maximum=2**16, why="more rows than any decode step has")
    inner = size("inner", inner, maximum=2**16, why="wider than any latent")
    cols = size("cols", cols, maximum=2**24, why="positions beyond 2**24")
    batch = size("batch", batch, maximum=2**16, why="more sequences than a benchmark needs")
    repeats = size("repeats", repeats, maximum=100, why="the best of 100 is as good as it gets")
    clock = one_of("clock", clock, CLOCKS)
    seed = validate.seed("seed", seed)
    if batch * max(rows, cols) * inner > 2**28:
        raise ValueError(
            f"batch * max(rows, cols) * inner must be at most 2**28 elements, got "
            f"{batch * max(rows, cols) * inner:,} (batch={batch}, rows={rows}, cols={cols}, "
            f"inner={inner})"
        )
    timer = time.process_time if clock == "cpu" else time.perf_counter
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generator = torch.Generator().manual_seed(seed)
        a = torch.randn(batch, rows, inner, generator=generator)
        b = torch.randn(batch, inner, cols, generator=generator)
        torch.bmm(a, b)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            start = timer()
            torch.bmm(a, b)
            best = min(best, timer() - start)
    finally:
        torch.set_num_threads(threads)
    return 2 * batch * rows * inner * cols / max(best, 1e-9)


def _step_product_flops(
    product: str, config: AttentionConfig, context: int, batch: int, repeats: int, seed: int
) -> float:
    """FLOP/s of absorbed MLA's own products on one CPU thread, in process time, in the layout
    of `MultiHeadLatentAttention`'s step: the latent and the RoPE key are the first `context`
    positions of a longer cache (strided across the batch), the queries one row per head.

    "scores": q_lat (B, h, d_c) @ c_kv^T plus q_r (B, h, d_h^R) @ k^R^T, 2 B h S (d_c + d_h^R)
    FLOPs; "weighted sum": probs (B, h, S) @ c_kv, 2 B h S d_c FLOPs. The best of `repeats`."""
    heads, latent, rope = config.n_heads, config.kv_lora_rank, config.rope_head_dim
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generator = torch.Generator().manual_seed(seed)
        slots = context + 8  # a cache longer than what is filled, as in a decode step

        def randn(*shape):
            return torch.randn(*shape, generator=generator)

        c_kv = randn(batch, slots, latent).narrow(1, 0, context)  # (B, S, C), as cache.filled
        k_rope = randn(batch, slots, rope).narrow(1, 0, context)  # (B, S, R)
        if product == "scores":
            q_lat, q_r = randn(batch, heads, latent), randn(batch, heads, rope)

            def run():
                return q_lat @ c_kv.transpose(1, 2) + q_r @ k_rope.transpose(1, 2)

            flops = 2 * batch * heads * context * (latent + rope)
        else:
            probs = torch.softmax(randn(batch, heads, context), dim=-1)

            def run():
                return probs @ c_kv

            flops = 2 * batch * heads * context * latent
        with torch.no_grad():
            run()  # warm-up
            best = float("inf")
            for _ in range(repeats):
                start = time.process_time()
                run()
                best = min(best, time.process_time() - start)
    finally:
        torch.set_num_threads(threads)
    return flops / max(best, 1e-9)


def absorbed_roof_rounds(
    config: AttentionConfig,
    context: int,
    *,
    batch: int = 4,
    steps: int = 4,
    rounds: int = 7,
    repeats: int = 2,
) -> dict:
    """Absorbed MLA's decode step, the products that bound it and the square product, timed
    in turn within each of `rounds` rounds on one CPU thread in process time (every other round
    in reverse order; round r uses seed r): {"step": tokens per second (`decode_benchmark`),
    "scores": FLOP/s of the step's score products, (batch, n_h, d_c) against the cached latent
    and (batch, n_h, d_h^R) against the cached RoPE key, "weighted sum": FLOP/s of (batch, n_h,
    context) @ the cached latent, "square": FLOP/s of (1024 x 1024)^2
    (`batched_product_flops`)}, each a list of one value per round, the best of `repeats` runs.
    The scores and the weighted sum are timed in the step's own layout: the operands the step
    multiplies, read from a cache slice as `MultiHeadLatentAttention` reads them, so their rate
    is a ceiling for the step and not a proxy's.

    A busy moment on a shared host then slows one round of every measurement, not every run of
    one, and a ratio taken within a round (the products' roof over the square product's rate,
    the step's rate over that roof) cancels it; a best of each, taken at different moments, can
    pair one measurement's quiet moment with another's busy one. `config` is an MLA config;
    `context`, `batch`, `steps` and `repeats` within `decode_benchmark`'s caps; at most 100
    rounds.
    """
    config = check_mla_config(config)
    config, context, batch, steps, _, repeats, _, _ = check_benchmark(
        config, context, batch, steps, True, repeats, 0, 1
    )
    rounds = size("rounds", rounds, maximum=100, why="the median of 100 is as good as it gets")
    heads, latent = config.n_heads, config.kv_lora_rank
    if batch * max(heads, latent) * context > 2**28:  # batched_product_flops' cap, checked first
        raise ValueError(
            f"batch * context * max(n_heads, kv_lora_rank) must be at most 2**28 elements, got "
            f"{batch * max(heads, latent) * context:,} (batch={batch}, context={context})"
        )
    timings = {
        "step": lambda r: decode_benchmark(
            config,
            context,
            batch=batch,
            steps=steps,
            absorbed=True,
            repeats=repeats,
            seed=r,
            clock="cpu",
        )[0],
        "scores": lambda r: _step_product_flops("scores", config, context, batch, repeats, r),
        "weighted sum": lambda r: _step_product_flops(
            "weighted sum", config, context, batch, repeats, r
        ),
        "square": lambda r: batched_product_flops(1024, 1024, 1024, repeats=repeats, seed=r),
    }
    out = {name: [] for name in timings}
    for r in range(rounds):
        for name in timings if r % 2 == 0 else reversed(timings):
            out[name].append(timings[name](r))
    return out
