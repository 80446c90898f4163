"""Valid calls for chapter 7 (labs.economics): one small, fast call per public callable.

Each entry is a factory returning `call(...)`: the smallest valid call, by keyword, so the walker
can replace one argument at a time with hostile values (see harness.py). Float parameters get
float examples and count parameters int examples, so that each gets the hostile values of its
kind.
"""

from __future__ import annotations

import numpy as np

from tests.hostile.harness import call

X = np.array([[1.0, 2.0], [3.0, 4.0], [0.5, -1.0]])  # (m, k) = (3, 2)
W = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]])  # (k, n) = (2, 3)
BUDGETS = np.array([0.0, 100.0, 250.0])


def _torch(a):
    import torch

    return torch.tensor(a)


def _jax(a):
    import jax.numpy as jnp

    return jnp.asarray(a, dtype=jnp.float32)


def _jax_key():
    import jax

    return jax.random.PRNGKey(0)  # a raw uint32 pair: the walker cannot mutate a typed key


def _torch_dtype():
    import torch

    return torch.float32


def _jax_dtype():
    import jax.numpy as jnp

    return jnp.float32


def _torch_matmul_forward():
    from labs.economics.torch import Matmul

    return call(Matmul(_torch(W)).forward, x=_torch(X))


def _spec_kwargs():
    return dict(
        name="Test chip",
        bf16_tflops=100.0,
        fp8_tflops=200.0,
        fp16_tflops=100.0,
        memory_gbs=1000.0,
        interconnect_gbs=400.0,
        interconnect="NVLink",
        usd_per_hour=2.0,
        key="test_chip",
    )


def _spec_peak():
    from labs.economics.hardware import HardwareSpec

    return call(HardwareSpec(**_spec_kwargs()).peak_tflops, precision="bf16")


def _scenario_kwargs():
    return dict(
        name="lab",
        description="a small lab",
        cost_per_shot=10.0,
        hardware_cost_factor=2.0,
        prior_skill=0.5,
        n_ideas=5,
        prediction_noise=0.02,
        idea_spread=0.02,
        allocation="upper-confidence",
    )


def _scenario_simulate():
    from labs.economics.research import Scenario

    return call(Scenario(**_scenario_kwargs()).simulate, budget_usd=BUDGETS, n_trials=20, seed=0)


def _plot_scenarios():
    from labs.economics.research import Scenario

    scenarios = [Scenario(**_scenario_kwargs())]
    # A list of Scenario objects has no generated hostile values but None and object(): the
    # widget tests check that other entries are refused.
    return call(
        scenarios=scenarios, budgets_usd=[10.0, 100.0], n_trials=20, seed=0, measure="regret"
    )


def _step_kwargs():
    return dict(
        flops_per_token=1e6,
        tokens_per_step=1000.0,
        n_gpus=4,
        peak_flops=1e9,
        compute_efficiency=0.5,
        n_moe_layers=1,
        d_model=1000,
        k=2,
        ep_nodes=2,
        max_nodes=1,
        gpus_per_node=2,
        n_experts=4,
        nvlink_gbs=1.0,
        ib_gbs=1.0,
        bytes_per_element=3.0,
        bubble_fraction=0.1,
        optimizer_seconds=0.05,
        overlap=True,
    )


def _step():
    from labs.economics.steptime import TrainingStep

    return TrainingStep(**_step_kwargs())


def _student(*args):  # any function: the checks run the student's code, attacked elsewhere
    return 0.0


def _prices_kwargs():
    return dict(
        model="test-model",
        input_miss_usd_per_m=0.27,
        input_hit_usd_per_m=0.07,
        output_usd_per_m=1.1,
    )


def _prices_per_request():
    from labs.economics.billing import ApiPrices

    return call(
        ApiPrices(**_prices_kwargs()).usd_per_request,
        prompt_tokens=1000.0,
        output_tokens=250.0,
        cache_hit_share=0.5,
    )


def _prices_per_million_output():
    from labs.economics.billing import ApiPrices

    return call(
        ApiPrices(**_prices_kwargs()).usd_per_million_output_tokens,
        prompt_tokens_per_output_token=4.0,
        cache_hit_share=0.5,
    )


_B = "labs.economics.billing"
_C = "labs.economics.costs"
_H = "labs.economics.hardware"
_O = "labs.economics.ownership"
_R = "labs.economics.research"
_RR = "labs.economics.rank_reversal"
_W = "labs.economics.widgets"
_S = "labs.economics.steptime"

EXAMPLES = {
    # billing.py
    f"{_B}.ApiPrices": lambda: call(**_prices_kwargs()),
    f"{_B}.ApiPrices.usd_per_request": _prices_per_request,
    f"{_B}.ApiPrices.usd_per_million_output_tokens": _prices_per_million_output,
    "labs.economics.framework_rates.blas_widths": lambda: call(
        blas_info=[{"user_api": "blas", "internal_api": "openblas", "architecture": "Haswell"}],
        environ={"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
        cpuinfo="flags : avx2",
    ),
    "labs.economics.framework_rates.matmul_rounds": lambda: call(
        sizes=(8, 16), rounds=1, repeats=1, seed=0, show_progress=False
    ),
    f"{_B}.margin": lambda: call(
        revenue_usd=562_027.0, cost_usd=87_072.0, definition="profit over cost"
    ),
    f"{_B}.output_tokens_per_second_with_prefill": lambda: call(
        decode_tokens_per_second=14_800.0,
        prefill_tokens_per_second=73_700.0,
        prompt_tokens_per_output_token=3.6,
    ),
    # costs.py
    f"{_C}.TrainingStage": lambda: call(stage="Pre-training", gpu_hours=100.0),
    f"{_C}.CostRow": lambda: call(stage="Pre-training", gpu_hours=100.0, usd=200.0),
    f"{_C}.training_cost": lambda: call(gpu_hours=100.0, usd_per_gpu_hour=2.0),
    f"{_C}.deepseek_v3_cost_table": lambda: call(usd_per_gpu_hour=2.0),
    f"{_C}.training_flops": lambda: call(active_params=1e9, tokens=1e12),
    f"{_C}.attention_training_flops_per_token": lambda: call(
        n_layers=2, n_heads=4, qk_head_dim=16, v_head_dim=16, seq_len=128
    ),
    f"{_C}.model_flops_utilization": lambda: call(
        flops=1e20, gpu_hours=1000.0, peak_flops_per_gpu=1e15
    ),
    f"{_C}.gpu_hours_per_trillion_tokens": lambda: call(gpu_hours=1000.0, tokens=1e12),
    f"{_C}.tokens_per_gpu_hour": lambda: call(active_params=1e9, peak_flops_per_gpu=1e15, mfu=0.4),
    f"{_C}.training_days": lambda: call(gpu_hours=4800.0, n_gpus=8),
    f"{_C}.self_hosting_breakeven": lambda: call(
        monthly_fixed_usd=10_000.0,
        api_usd_per_million_tokens=10.0,
        self_host_usd_per_million_tokens=2.0,
    ),
    f"{_C}.priced_self_hosting_breakeven": lambda: call(
        monthly_people_usd=10_000.0,
        api_usd_per_million_tokens=1.1,
        node_usd_per_hour=16.0,
        node_tokens_per_second=14_800.0,
        nodes_per_unit=2,
        hours_per_month=730.0,
    ),
    # ownership.py
    f"{_O}.owned_usd_per_hour": lambda: call(
        purchase_usd=35_000.0,
        lifetime_years=4.0,
        power_w=700.0,
        pue=1.3,
        usd_per_kwh=0.1,
        other_usd_per_hour=0.3,
        interest_rate=0.05,
        resale_share=0.2,
    ),
    f"{_O}.usd_per_useful_hour": lambda: call(owned_usd_per_hour=1.39, utilisation=0.8),
    f"{_O}.breakeven_utilisation": lambda: call(owned_usd_per_hour=1.39, rent_usd_per_hour=2.0),
    f"{_O}.breakeven_purchase_usd": lambda: call(
        rent_usd_per_hour=2.0,
        utilisation=0.8,
        lifetime_years=4.0,
        power_w=700.0,
        pue=1.3,
        usd_per_kwh=0.1,
        other_usd_per_hour=0.3,
        interest_rate=0.05,
        resale_share=0.2,
    ),
    f"{_O}.fleet_utilisation": lambda: call(average_nodes=226.75, peak_nodes=278.0),
    # serving.py
    "labs.economics.serving.decode_ceiling": lambda: call(
        nodes_per_unit=2,
        weight_bytes=671e9,
        cache_bytes_per_token=70_272.0,
        context_tokens=4989.0,
        active_params=37e9,
        attention_flops_per_token=16_990_208.0,
        gpu_memory_gb=80.0,
        gpu_memory_gbs=3350.0,
        gpu_peak_tflops=1979.0,
        attention_peak_tflops=989.5,
        gpus_per_node=8,
    ),
    "labs.economics.serving.mla_decode_flops_per_cached_token": lambda: call(
        n_heads=128, kv_lora_rank=512, rope_head_dim=64, n_layers=61
    ),
    # exercises.py: a check takes whatever the student wrote (tests/common attacks it).
    "labs.economics.exercises.check_plan_run": lambda: call(fn=_student, fixed=("fn",)),
    "labs.economics.exercises.check_ib_bandwidth_where_dispatch_binds": lambda: call(
        fn=_student, fixed=("fn",)
    ),
    "labs.economics.exercises.check_nodes_to_own": lambda: call(fn=_student, fixed=("fn",)),
    # hardware.py
    f"{_H}.HardwareSpec": lambda: call(**_spec_kwargs()),
    f"{_H}.HardwareSpec.peak_tflops": _spec_peak,
    f"{_H}.hardware": lambda: call(name="H800 SXM"),
    f"{_H}.hardware_for_device_name": lambda: call(device_name="NVIDIA H100 80GB HBM3"),
    # reference.py
    "labs.economics.reference.matmul_flops": lambda: call(m=3, k=2, n=3),
    "labs.economics.reference.matmul": lambda: call(x=X, w=W),
    "labs.economics.reference.matmul_ridge_size": lambda: call(
        peak_tflops=989.4, memory_gbs=3350.0, bytes_per_element=2.0
    ),
    "labs.economics.reference.measure_matmul_tflops": lambda: call(
        n=8, dtype=np.float32, repeats=1, seed=0
    ),
    # torch.py
    "labs.economics.torch.Matmul": lambda: call(weight=_torch(W)),
    "labs.economics.torch.Matmul.forward": _torch_matmul_forward,
    # dtype fixed: the walker takes a torch.dtype for a tensor (it has .is_floating_point as an
    # attribute); tests/economics/test_bad_input.py gives the torch timer None, object() and int
    # dtypes instead.
    "labs.economics.torch.measure_matmul_tflops": lambda: call(
        n=8, dtype=_torch_dtype(), repeats=1, device="cpu", seed=0, fixed=("dtype",)
    ),
    # jax.py
    "labs.economics.jax.init_matmul": lambda: call(key=_jax_key(), k=2, n=3, dtype=_jax_dtype()),
    "labs.economics.jax.matmul": lambda: call(params={"w": _jax(W)}, x=_jax(X)),
    "labs.economics.jax.measure_matmul_tflops": lambda: call(
        # device=None (the default device): a jax.Device cannot be deep-copied by the walker;
        # object() still stands in for a wrong device.
        n=8,
        dtype=_jax_dtype(),
        repeats=1,
        device=None,
        seed=0,
    ),
    # research.py
    f"{_R}.shots_affordable": lambda: call(
        budget_usd=BUDGETS, cost_per_shot=10.0, hardware_cost_factor=2.0
    ),
    f"{_R}.simulate_research_program": lambda: call(
        budget_usd=BUDGETS,
        cost_per_shot=10.0,
        n_ideas=5,
        prediction_noise=0.02,
        idea_spread=0.02,
        prior_skill=0.5,
        hardware_cost_factor=2.0,
        n_trials=20,
        seed=0,
        allocation="upper-confidence",
        confidence_sds=2.5,
        idea_tails=4.0,
    ),
    f"{_R}.ResearchProgramResult": lambda: call(
        budgets_usd=BUDGETS,
        shots=np.array([0, 10, 25]),
        success_probability=np.array([0.0, 0.5, 0.9]),
        standard_error=np.array([0.0, 0.1, 0.05]),
        expected_regret=np.array([0.05, 0.02, 0.01]),
        regret_standard_error=np.array([0.001, 0.002, 0.001]),
        n_trials=20,
    ),
    f"{_R}.Scenario": lambda: call(**_scenario_kwargs()),
    # rank_reversal.py (re-exported by research.py)
    f"{_RR}.rank_reversal_probability": lambda: call(prediction_noise=0.02, idea_spread=0.02),
    f"{_RR}.prediction_noise_for_rank_reversal": lambda: call(
        reversal_probability=0.25, idea_spread=0.02
    ),
    f"{_R}.Scenario.simulate": _scenario_simulate,
    # steptime.py
    f"{_S}.TrainingStep": lambda: call(**_step_kwargs()),
    f"{_S}.step_time": lambda: call(step=_step()),
    f"{_S}.binding_bandwidth": lambda: call(step=_step(), link="inter_node"),
    f"{_S}.v3_training_step": lambda: call(compute_efficiency=0.45),
    # widgets.py
    f"{_W}.training_cost_report": lambda: call(
        gpu_hours=1000.0,
        usd_per_gpu_hour=2.0,
        n_gpus=8,
        active_params=1e9,
        tokens=1e11,
        chip="H800 SXM",
        precision="bf16",
    ),
    f"{_W}.training_cost_calculator": lambda: call(
        gpu_hours=2_788_000.0, usd_per_gpu_hour=2.0, n_gpus=2048, active_params=37e9, tokens=14.8e12
    ),
    f"{_W}.plot_scenarios": _plot_scenarios,
    f"{_W}.shots_simulator": lambda: call(cost_per_shot=1000.0, n_ideas=10),
    f"{_W}.plot_rent_or_own": lambda: call(
        purchase_usd=35_000.0,
        lifetime_years=4.0,
        power_w=700.0,
        pue=1.3,
        usd_per_kwh=0.1,
        rent_usd_per_hour=2.0,
        other_usd_per_hour=0.3,
        interest_rate=0.05,
        resale_share=0.2,
        marked_utilisation=0.8,
    ),
    f"{_W}.rent_or_own": lambda: call(
        purchase_usd=35_000.0,
        lifetime_years=4.0,
        rent_usd_per_hour=2.0,
        usd_per_kwh=0.1,
        other_usd_per_hour=0.3,
        power_w=700.0,
        pue=1.3,
        marked_utilisation=0.8,
        interest_rate=0.05,
        resale_share=0.2,
    ),
}

# (key, parameter, mutation) -> why this hostile class is a legitimate input there.
_HUGE_COUNT = "a count of 10**15 is arithmetic on Python ints here: exact, no allocation, no loop"
_RAW_KEY = "every uint32 pair is a valid raw JAX PRNG key, including all-ones and 10**9"
ACCEPTED: dict[tuple[str, str, str], str] = {
    ("labs.economics.framework_rates.blas_widths", "environ", "dict-empty"): (
        "an environment with no variables set is a valid environment: MKL then has no cap"
    ),
    ("labs.economics.reference.matmul_flops", "m", "huge-int"): _HUGE_COUNT,
    ("labs.economics.reference.matmul_flops", "k", "huge-int"): _HUGE_COUNT,
    ("labs.economics.reference.matmul_flops", "n", "huge-int"): _HUGE_COUNT,
    **{
        (f"{_C}.attention_training_flops_per_token", p, "huge-int"): _HUGE_COUNT
        for p in ("n_layers", "n_heads", "qk_head_dim", "v_head_dim", "seq_len")
    },
    (f"{_C}.training_days", "n_gpus", "huge-int"): "10**15 GPUs only divides the hours: no work",
    (f"{_W}.training_cost_report", "n_gpus", "huge-int"): "10**15 GPUs only divides the hours",
    ("labs.economics.jax.init_matmul", "key", "ids-negative"): _RAW_KEY,
    ("labs.economics.jax.init_matmul", "key", "ids-huge"): _RAW_KEY,
    (f"{_R}.shots_affordable", "budget_usd", "array-int-dtype"): (
        "whole-dollar budgets are money, not an index: they are taken as float64 exactly"
    ),
    (f"{_R}.simulate_research_program", "budget_usd", "array-int-dtype"): (
        "whole-dollar budgets are money, not an index: they are taken as float64 exactly"
    ),
    (f"{_R}.Scenario.simulate", "budget_usd", "array-int-dtype"): (
        "whole-dollar budgets are money, not an index: they are taken as float64 exactly"
    ),
    (f"{_R}.ResearchProgramResult", "shots", "ids-huge"): (
        "10**9 shots is a possible count (a large budget over a cheap shot)"
    ),
    # A huge price per token at home (or per node-hour) never pays back: inf by definition.
    (f"{_C}.self_hosting_breakeven", "self_host_usd_per_million_tokens", "huge"): (
        "a self-hosting price above the API's: no volume pays, the documented math.inf"
    ),
    (f"{_C}.priced_self_hosting_breakeven", "node_usd_per_hour", "huge"): (
        "a unit that costs more than the API charges for all it serves: the documented inf"
    ),
}
