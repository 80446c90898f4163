"""Reference solutions of chapter 7's exercises."""

import math


def plan_run(budget_usd, usd_per_gpu_hour, peak_tflops, mfu):
    flops = budget_usd / usd_per_gpu_hour * 3600 * peak_tflops * 1e12 * mfu
    n = math.sqrt(flops / 120)  # C = 6 N D, D = 20 N
    return n, 20 * n


def ib_bandwidth_where_dispatch_binds(compute_efficiency, max_nodes):
    from labs.economics import step_time, v3_training_step

    t = step_time(v3_training_step(compute_efficiency, max_nodes=max_nodes))
    return 50.0 * t["inter_node"] / t["compute"]  # at 50 GB/s; time scales as 1 / bandwidth
