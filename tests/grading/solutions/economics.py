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


def nodes_to_own(hourly_nodes, owned_usd_per_node_hour, rent_usd_per_node_hour):
    def day_cost(k):
        rented = sum(max(0, n - k) for n in hourly_nodes)
        return k * len(hourly_nodes) * owned_usd_per_node_hour + rented * rent_usd_per_node_hour

    return min(range(max(hourly_nodes) + 1), key=day_cost)  # the smallest k on a tie
