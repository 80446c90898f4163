"""Hidden cases of chapter 7, worked by hand (the arithmetic is beside each case)."""

from labs.common.exercises import Case

HIDDEN = {
    "training_days_wall_clock": (
        Case(
            (2_788_000.0, 2048),
            2_788_000 / 2048 / 24,
            "V3's 2.788M GPU-hours on 2,048 GPUs",
            rtol=1e-12,
        ),
        Case((12.0, 1), 0.5, "12 GPU-hours on one GPU: half a day"),
    ),
    "mfu_from_run": (
        # 6 x 2e9 x 3e11 = 3.6e21 FLOPs; 1,000 h = 3.6e6 s at 2,000 TFLOP/s = 7.2e21: MFU 0.5.
        Case(
            (2e9, 3e11, 1_000.0, 2_000.0),
            0.5,
            "2B parameters, 300B tokens, 1,000 GPU-hours",
            rtol=1e-9,
        ),
    ),
    "breakeven_tokens_per_day": (
        # $6,000 / ($3 - $1) = 3,000 million tokens a month = 1e8 a day.
        Case((6_000.0, 3.0, 1.0), 1e8, "$6K a month, API $3 and own $1 per million", rtol=1e-12),
        Case((500.0, 2.0, 2.0), float("inf"), "equal prices: never breaks even"),
    ),
}
FORBIDDEN = {
    "training_days_wall_clock": ("labs.economics.costs.training_days",),
    "mfu_from_run": ("labs.economics.costs.model_flops_utilization",),
    "breakeven_tokens_per_day": ("labs.economics.costs.self_hosting_breakeven",),
}
