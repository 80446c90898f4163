"""Reference solutions of chapter 7's exercises."""

import math


def training_days_wall_clock(gpu_hours, n_gpus):
    return gpu_hours / n_gpus / 24


def mfu_from_run(active_params, tokens, gpu_hours, peak_tflops):
    return 6 * active_params * tokens / (gpu_hours * 3600 * peak_tflops * 1e12)


def breakeven_tokens_per_day(monthly_fixed_usd, api_usd_per_million, self_host_usd_per_million):
    if self_host_usd_per_million >= api_usd_per_million:
        return math.inf
    saving_per_million = api_usd_per_million - self_host_usd_per_million
    return monthly_fixed_usd / saving_per_million * 1e6 / 30
