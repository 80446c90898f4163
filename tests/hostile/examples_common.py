"""Valid calls for labs.common: runtime, display, plotting, progress, facts, tasks, exercises,
the machine's ceilings and the validators themselves."""

from __future__ import annotations

import numpy as np

from labs.common import exercises as ex
from labs.common import tasks
from labs.common.display import source_of
from tests.hostile.harness import Example, call

SQUARE = ex.Exercise(
    name="square",
    signature="square(x)",
    cases=(ex.Case(args=(np.array([2.0]),), expected=[4.0], label="two"),),
)
TASK = tasks.AdditionTask(max_operand=5)
PROBLEMS = TASK.train[:3]
COMPLETIONS = TASK.answers(PROBLEMS)


def _jax_key():
    import jax

    return jax.random.key(0)


def _square(x):
    return x * x


def _ones(*shape):
    import torch

    return torch.ones(*shape)


def _slider():
    import ipywidgets

    return ipywidgets.FloatSlider(value=1.0, min=0.0, max=2.0)


def _print_value(x):
    print(f"x = {x}")


def _cpu():
    import torch

    return torch.device("cpu")


def _abstract_vector():
    import jax

    return (jax.ShapeDtypeStruct((8,), "float32"),)


# The validators' `name` is the caller's parameter name, a label for the message; their options
# (minimum, maximum, framework, ...) are the calling code's constants, not user input. Only the
# value under check is attacked.
VALIDATOR_OPTIONS = ("name", "minimum", "maximum", "positive", "nonnegative", "framework")

EXAMPLES = {
    # pallas (the targets of chapter 8's kernels)
    "labs.common.pallas.resolve_target": lambda: call(interpret=True),
    "labs.common.pallas.bare_call_gpu_backend": lambda: call(),
    # (built directly: the harness's call() takes `target` for methods)
    "labs.common.pallas.call_options": lambda: Example(kwargs={"target": "gpu", "num_warps": 4}),
    "labs.common.triton_setup.jit": lambda: call(fn=_square),
    "labs.common.triton_setup.require_device": lambda: call(device=_cpu()),
    "labs.common.pallas.lower_for": lambda: call(
        function=_square, args=_abstract_vector(), platform="cuda", tpu_kind="TPU v5 lite"
    ),
    # ceilings (this machine's roofline, shared by chapters 3, 4 and 7)
    "labs.common.ceilings.measure_ceilings": lambda: call(
        clock="wall", threads=1, repeats=1, device="cpu"
    ),
    "labs.common.ceilings.last_level_cache_bytes": lambda: call(
        root="/sys/devices/system/cpu/cpu0/cache"
    ),
    "labs.common.ceilings.stream_bytes": lambda: call(cache_bytes=32 * 2**20),
    "labs.common.ceilings.best_seconds": lambda: call(
        fn=lambda: sum(range(100)), repeats=2, clock="cpu", device="cpu"
    ),
    "labs.common.ceilings.timing_device": lambda: call(device="cpu"),
    "labs.common.ceilings.stream_kernels": lambda: call(tensors=[_ones(4, 1024), _ones(5, 6)]),
    # interconnect (the expert-parallel traffic model shared by chapters 4 and 7)
    "labs.common.interconnect.dispatch_bytes_per_token": lambda: call(
        d_model=7168,
        k=8,
        n_nodes=8,
        max_nodes=4,
        gpus_per_node=8,
        dispatch_bytes=1.0,
        combine_bytes=2.0,
        n_experts=256,
        node_choice="router",
    ),  # fmt: skip
    # explorer
    "labs.common.explorer.explorer": lambda: call(draw=_print_value, controls={"x": _slider()}),
    # display
    "labs.common.display.show_source": lambda: call(obj=_square, docstring=True),
    "labs.common.display.source_of": lambda: call(obj=_square),
    "labs.common.display.strip_docstrings": lambda: call(source=source_of(_square)),
    # exercises
    "labs.common.exercise_cases.Case": lambda: call(
        args=(1.0,),
        expected=1.0,
        label="one",
        hint="h",
        kwargs={},
        rtol=1e-6,
        atol=0.0,
        also=(2.0,),
        mistakes=((3.0, "three, not one"),),
        fixed=("expected", "also"),  # any value can be an expected answer, any tuple of them also
    ),
    "labs.common.exercise_cases.CheckReport": lambda: call(
        exercise="square", status="failed", passed_cases=0, total_cases=1, details=["d"]
    ),
    "labs.common.exercise_cases.Exercise": lambda: call(
        name="square", signature="square(x)", cases=SQUARE.cases, time_limit_s=1.0
    ),
    # A check takes whatever the student wrote: test_exercises_hostile.py attacks `fn`.
    "labs.common.exercises.check": lambda: call(fn=_square, exercise=SQUARE, fixed=("fn",)),
    "labs.common.exercises.check_with_note": lambda: call(
        fn=_square, exercise=SQUARE, note=lambda answer, case: None, fixed=("fn",)
    ),
    # time_limit only builds the context manager: nothing is armed until the `with` enters it.
    "labs.common.exercise_limit.time_limit": lambda: call(seconds=1.0, what="square(x)"),
    "labs.common.exercise_limit.can_limit_time": lambda: call(),
    # compare reads the student's answer (`got`) and the case's `expected`: anything goes there.
    "labs.common.exercise_compare.compare": lambda: call(
        got=4.0, expected=4.0, rtol=1e-6, atol=1e-9, fixed=("got", "expected")
    ),
    "labs.common.exercise_compare.compare_case": lambda: call(
        got=4.0, case=SQUARE.cases[0], fixed=("got",)
    ),
    # diagnose reads the student's wrong answer: anything goes in `got`.
    "labs.common.exercise_diagnosis.diagnose": lambda: call(
        got=8.0, case=SQUARE.cases[0], fixed=("got",)
    ),
    # facts
    "labs.common.facts.Fact": lambda: call(
        key="k", value=1.0, unit="", cite="c", locator="Table 1", note=""
    ),
    "labs.common.facts.fact": lambda: call(key="float16_max"),
    # plotting and progress
    "labs.common.plotting.new_figure": lambda: call(ncols=2, nrows=1, width=4.0, height=3.0),
    "labs.common.plotting.use_style": lambda: call(),
    "labs.common.progress.progress": lambda: call(iterable=[1, 2, 3], desc="d", total=3),
    # runtime
    "labs.common.cpu_arithmetic.avx2_available": lambda: call(cpuinfo="/proc/cpuinfo"),
    # a throw-away mapping: the valid call must not change this process's environment
    "labs.common.cpu_arithmetic.pin_cpu_arithmetic": lambda: call(environ={}),
    "labs.common.cpu_arithmetic.record_arithmetic": lambda: call(made_on="AMD EPYC"),
    "labs.common.runtime.available_devices": lambda: call(),
    "labs.common.runtime.describe": lambda: call(requested="cpu", verbose=False),
    "labs.common.runtime.in_colab": lambda: call(),
    "labs.common.runtime.host_jax_device": lambda: call(),
    "labs.common.runtime.jax_device": lambda: call(requested="cpu"),
    "labs.common.runtime.library_versions": lambda: call(),
    "labs.common.runtime.processor_name": lambda: call(),
    "labs.common.runtime.provenance": lambda: call(module="labs.fp8.sweep", argv=["--seeds", "3"]),
    "labs.common.runtime.read_results": lambda: call(
        package="labs.fp8", name="training_sweep.json", path=None
    ),
    "labs.common.runtime.utc_timestamp": lambda: call(),
    "labs.common.runtime.seed_everything": lambda: call(seed=3),
    "labs.common.runtime.selected_device": lambda: call(requested="cpu"),
    "labs.common.runtime.torch_device": lambda: call(requested="cpu"),
    # tasks
    "labs.common.tasks.AdditionTask": lambda: call(max_operand=5, held_out_fraction=0.2, seed=1),
    "labs.common.tasks.AdditionTask.prompts": lambda: call(TASK.prompts, problems=PROBLEMS),
    "labs.common.tasks.AdditionTask.answers": lambda: call(TASK.answers, problems=PROBLEMS),
    "labs.common.tasks.AdditionTask.rewards": lambda: call(
        TASK.rewards, problems=PROBLEMS, completions=COMPLETIONS, format_weight=0.1
    ),
    "labs.common.tasks.AdditionTask.accuracy": lambda: call(
        TASK.accuracy, problems=PROBLEMS, completions=COMPLETIONS
    ),
    "labs.common.tasks.Problem": lambda: call(a=3, b=4),
    "labs.common.tasks.Tokenizer": lambda: call(),
    "labs.common.tasks.Tokenizer.encode": lambda: call(
        tasks.TOKENIZER.encode, text="07+12=", bos=True, eos=False
    ),
    "labs.common.tasks.Tokenizer.decode": lambda: call(
        tasks.TOKENIZER.decode, ids=np.array([3, 4, 2])
    ),
    "labs.common.tasks.correctness_reward": lambda: call(
        problem=PROBLEMS[0], completion=COMPLETIONS[0]
    ),
    "labs.common.tasks.format_reward": lambda: call(completion=COMPLETIONS[0]),
    "labs.common.tasks.parse_answer": lambda: call(completion=COMPLETIONS[0]),
    "labs.common.tasks.reward": lambda: call(
        problem=PROBLEMS[0], completion=COMPLETIONS[0], format_weight=0.1
    ),
    # validators: the value under check is attacked (see VALIDATOR_OPTIONS above)
    "labs.common.validate_arrays.array": lambda: call(
        name="value", value=np.ones(3), framework="numpy", fixed=VALIDATOR_OPTIONS
    ),
    "labs.common.validate_arrays.axis_index": lambda: call(
        name="axis", axis=1, ndim=2, fixed=("name", "ndim")
    ),
    "labs.common.validate_values.boolean": lambda: call(name="value", value=True, fixed=("name",)),
    "labs.common.validate_values.callable_arg": lambda: call(
        name="value", value=_square, fixed=("name",)
    ),
    # divisible is called after the sizes are checked as ints: only its name labels are fixed.
    "labs.common.validate_values.divisible": lambda: call(
        name="value", value=64, by=8, by_name="by", fixed=("name", "by_name")
    ),
    # describe_value describes any value for an error message: there is no bad input.
    "labs.common.validate_values.describe_value": lambda: call(value=3, fixed=("value",)),
    "labs.common.validate_arrays.float_array": lambda: call(
        name="value", value=np.ones(2), fixed=VALIDATOR_OPTIONS
    ),
    # `what` is the message's subject: naming it "value" lets the walker see its parameter named.
    "labs.common.validate_results.finite_result": lambda: call(
        what="value", value=np.ones(2), inputs={"x": 2.0}, fixed=("what",)
    ),
    "labs.common.validate_values.learning_rate": lambda: call(
        name="value", value=0.01, fixed=("name",)
    ),
    "labs.common.validate_results.finite_loss": lambda: call(loss=0.5, step=1, steps=4, lr=1e-3),
    "labs.common.validate_arrays.float_dtype": lambda: call(
        name="dtype", dtype=np.float32, fixed=("name",)
    ),
    # holds_bool reads any value; it answers whether a list or tuple holds True or False.
    "labs.common.validate_arrays.holds_bool": lambda: call(seq=[1.0, 2.0], fixed=("seq",)),
    # host_values reads any value; it answers None for what is not an array in host memory.
    "labs.common.validate_arrays.host_values": lambda: call(value=np.ones(2), fixed=("value",)),
    "labs.common.validate_arrays.jax_key": lambda: call(
        name="key", key=_jax_key(), fixed=("name",)
    ),
    "labs.common.validate_arrays.torch_device_arg": lambda: call(
        name="device", device="cpu", fixed=("name", "default")
    ),
    "labs.common.validate_values.instance": lambda: call(
        name="value", value=3, cls=int, fixed=("name", "cls")
    ),
    "labs.common.validate_values.integer": lambda: call(
        name="value", value=3, minimum=0, fixed=VALIDATOR_OPTIONS
    ),
    "labs.common.validate_arrays.integer_array": lambda: call(
        name="value",
        value=np.array([1, 2]),
        low=0,
        high=5,
        fixed=(*VALIDATOR_OPTIONS, "low", "high"),
    ),
    "labs.common.validate_values.one_of": lambda: call(
        name="value", value="a", options=("a", "b"), fixed=("name", "options")
    ),
    "labs.common.validate_values.read_only": lambda: call(mapping={"a": 1}),
    "labs.common.validate_values.real_number": lambda: call(
        name="value", value=0.5, fixed=VALIDATOR_OPTIONS
    ),
    # same_shape takes its (name, array) pairs as *args, which the walker cannot reach.
    "labs.common.validate_arrays.same_shape": lambda: call(
        lambda named: __import__("labs.common.validate", fromlist=["x"]).same_shape(*named),
        named=(("a", np.ones(2)), ("b", np.ones(2))),
        fixed=("named",),
    ),
    # same_device likewise; a tensor on another device is the case it exists for (tests/common).
    "labs.common.validate_arrays.same_device": lambda: call(
        lambda named: __import__("labs.common.validate", fromlist=["x"]).same_device(*named),
        named=(("a", _ones(2)), ("b", _ones(2))),
        fixed=("named",),
    ),
    "labs.common.validate_arrays.on_module_device": lambda: call(
        lambda named: __import__("labs.common.validate", fromlist=["x"]).on_module_device(
            "the model", __import__("torch").nn.Linear(2, 2), *named
        ),
        named=(("x", _ones(2)),),
        fixed=("named",),
    ),
    "labs.common.validate_values.seed": lambda: call(name="value", value=3, fixed=("name",)),
    "labs.common.validate_values.size": lambda: call(
        name="value", value=3, maximum=10, fixed=(*VALIDATOR_OPTIONS, "why")
    ),
    "labs.common.validate_values.power_of_two": lambda: call(
        name="value", value=64, maximum=128, fixed=(*VALIDATOR_OPTIONS, "why")
    ),
    "labs.common.validate_values.text": lambda: call(name="value", value="abc", fixed=("name",)),
}

ACCEPTED = {
    ("labs.common.facts.fact", "key", "unknown-text"): (
        "FACTS is a mapping: an unknown key raises KeyError, as a dict does, with the nearest "
        "keys suggested (tests/common/test_facts.py pins the message)"
    ),
    ("labs.common.ceilings.stream_bytes", "cache_bytes", "none"): (
        "None is what last_level_cache_bytes returns where sysfs is unreadable: the default stream"
    ),
    ("labs.common.tasks.Tokenizer.decode", "ids", "ids-empty"): (
        "decoding no ids is the empty string, as for Python's own str.join"
    ),
    **{
        ("labs.common.exercise_cases.Case", "args", m): (
            "args are whatever the exercise passes to the student's function: any values"
        )
        for m in ("sequence-empty", "sequence-nan", "sequence-string")
    },
    ("labs.common.exercise_cases.CheckReport", "total_cases", "huge-int"): (
        "a count in a record: it allocates nothing and loops over nothing"
    ),
    **{
        ("labs.common.progress.progress", "iterable", m): (
            "a progress bar wraps any iterable, empty or not, whatever it holds"
        )
        for m in ("sequence-empty", "sequence-nan", "sequence-string")
    },
    ("labs.common.progress.progress", "total", "huge-int"): (
        "total is only the number tqdm displays; a large one allocates nothing"
    ),
    ("labs.common.tasks.AdditionTask", "seed", "huge-int"): (
        "a seed in [0, 2**62] is valid (labs.common.validate.seed); 10**15 is one"
    ),
    **{
        ("labs.common.validate_values.instance", "value", m): (
            "instance checks the type only, and these are ints (bool is an int subclass)"
        )
        for m in ("bool-for-int", "huge-int", "negative-int")
    },
    ("labs.common.validate_values.seed", "value", "huge-int"): (
        "10**15 is a valid seed, under 2**62; tests/common shows 2**62 + 1 refused"
    ),
    ("labs.common.validate_values.integer", "value", "huge-int"): (
        "with no maximum given, a huge int is a valid int"
    ),
    ("labs.common.validate_arrays.torch_device_arg", "device", "none"): (
        "None means the default device (the CPU unless the caller says otherwise)"
    ),
    **{
        ("labs.common.validate_values.divisible", parameter, m): (
            "divisibility is all it checks: the caller bounds the sizes (and 8 divides these)"
        )
        for parameter, m in (("value", "huge-int"), ("value", "negative-int"))
    },
    **{
        ("labs.common.validate_results.finite_result", "value", m): (
            "a result of any kind passes through: only the floats in it are judged, and these "
            "hold no NaN or inf"
        )
        for m in ("none", "object", "array-empty", "array-int-dtype", "array-complex")
    },
    ("labs.common.validate_values.read_only", "mapping", "dict-empty"): (
        "an empty registry is still a mapping to protect"
    ),
}
