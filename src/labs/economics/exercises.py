"""Chapter 7 exercises: wall-clock days, MFU, and the self-hosting break-even per day.

Expected values are worked by hand in the comments beside each case (exact arithmetic on round
inputs), not produced by the package's own functions.
"""

from __future__ import annotations

from labs.common.exercises import Case, CheckReport, Exercise, check

TRAINING_DAYS_WALL_CLOCK = Exercise(
    name="training_days_wall_clock",
    signature="training_days_wall_clock(gpu_hours: float, n_gpus: int) -> float",
    cases=(
        # 48 GPU-hours on 2 GPUs: 24 hours each, one day.
        Case((48.0, 2), 1.0, "48 GPU-hours on 2 GPUs", "days = GPU-hours / GPUs / 24."),
        # 2,048 GPUs for 24 hours is 49,152 GPU-hours: one day.
        Case(
            (49_152.0, 2048),
            1.0,
            "one day of a 2,048-GPU cluster",
            "divide by the number of GPUs: they run at the same time.",
        ),
        # 180,000 / 2,048 / 24 = 3.662109375 days (V3's 'about 3.7 days per trillion tokens').
        Case(
            (180_000.0, 2048),
            3.662109375,
            "V3's 180K GPU-hours per trillion tokens on 2,048 GPUs",
            "hours to days: divide by 24, not by 60 or 3600.",
        ),
        Case((0.0, 8), 0.0, "no work at all", "zero GPU-hours take zero days."),
    ),
)

MFU_FROM_RUN = Exercise(
    name="mfu_from_run",
    signature=(
        "mfu_from_run(active_params: float, tokens: float, gpu_hours: float, "
        "peak_tflops: float) -> float"
    ),
    cases=(
        # 6 * 1e9 * 3.6e12 = 2.16e22 FLOPs; 10,000 GPU-hours = 3.6e7 s; at 1,000 TFLOP/s the
        # hardware could do 3.6e22 FLOPs, so MFU = 2.16 / 3.6 = 0.6.
        Case(
            (1e9, 3.6e12, 10_000.0, 1000.0),
            0.6,
            "1B parameters, 3.6T tokens, 10,000 GPU-hours, 1,000 TFLOP/s",
            "training costs 6 FLOPs per parameter per token (2 forward, 4 backward); hours are "
            "3600 seconds; TFLOP/s is 1e12 FLOP/s.",
        ),
        # 6 * 5e9 * 1e12 = 3e22 FLOPs; 100,000 h = 3.6e8 s, and 3.6e8 s * 312e12 FLOP/s =
        # 1.1232e23 FLOPs possible; MFU = 3e22 / 1.1232e23 = 0.267094...
        Case(
            (5e9, 1e12, 100_000.0, 312.0),
            3e22 / 1.1232e23,
            "5B parameters, 1T tokens, 100,000 GPU-hours on an A100 (312 TFLOP/s)",
            "check the order of magnitude: MFU is a fraction between 0 and 1.",
            rtol=1e-9,
        ),
    ),
)

BREAKEVEN_TOKENS_PER_DAY = Exercise(
    name="breakeven_tokens_per_day",
    signature=(
        "breakeven_tokens_per_day(monthly_fixed_usd: float, api_usd_per_million: float, "
        "self_host_usd_per_million: float) -> float"
    ),
    cases=(
        # $30,000 / ($10 - $0) per million = 3,000 million tokens a month = 100 million a day.
        Case(
            (30_000.0, 10.0, 0.0),
            1e8,
            "$30K a month, API at $10 per million, free self-hosted tokens",
            "break-even per month = fixed / (API price - own price) million tokens; a month is "
            "30 days here.",
        ),
        # $3,000 / ($2 - $1) = 3,000 million tokens a month = 100 million a day.
        Case(
            (3_000.0, 2.0, 1.0),
            1e8,
            "$3K a month, API $2 and own $1 per million",
            "subtract the self-hosting price per token: each token saves only the difference.",
        ),
        # Self-hosting's tokens cost more than the API's: it never pays back.
        Case(
            (1_000.0, 1.0, 1.5),
            float("inf"),
            "own tokens dearer than the API's",
            "if self-hosting costs more per token, no volume breaks even: return float('inf').",
        ),
    ),
)


def check_training_days_wall_clock(fn) -> CheckReport:
    """Run the public cases of exercise 7.1 against `fn`."""
    return check(fn, TRAINING_DAYS_WALL_CLOCK)


def check_mfu_from_run(fn) -> CheckReport:
    """Run the public cases of exercise 7.2 against `fn`."""
    return check(fn, MFU_FROM_RUN)


def check_breakeven_tokens_per_day(fn) -> CheckReport:
    """Run the public cases of exercise 7.3 against `fn`."""
    return check(fn, BREAKEVEN_TOKENS_PER_DAY)
