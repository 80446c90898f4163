"""Argument checks shared by every chapter and every framework.

A public function checks its arguments once, at the boundary, with these helpers, then calls a
bare kernel that does no checking. A wrong input raises a `ValueError` or `TypeError` that names
the parameter, says what was expected and what came, before NumPy, torch or JAX sees it.

The array checks accept NumPy arrays, torch tensors and JAX arrays alike (`framework=` says which
ones a parameter takes). Finiteness is checked only for data that lives in host memory: reading a
GPU tensor's values would force a device synchronisation on every call, so device-resident data
and traced JAX values are checked for type, dtype and shape only.

The checks live in three modules by idea, and every public name is re-exported here, where the
chapters import it from: `labs.common.validate_values` (numbers, counts, flags, strings, choices,
types), `labs.common.validate_arrays` (arrays of any framework, dtypes, devices, PRNG keys, axes,
shapes) and `labs.common.validate_results` (a loss or an output that came out NaN or inf).
"""

from __future__ import annotations

from labs.common.validate_arrays import (
    array,
    axis_index,
    float_array,
    float_dtype,
    holds_bool,
    host_values,
    integer_array,
    jax_key,
    on_module_device,
    same_device,
    same_shape,
    torch_device_arg,
)
from labs.common.validate_results import finite_loss, finite_result
from labs.common.validate_values import (
    MAX_ELEMENTS,
    MAX_LEARNING_RATE,
    MAX_SEED,
    boolean,
    callable_arg,
    describe_value,
    divisible,
    instance,
    integer,
    learning_rate,
    one_of,
    power_of_two,
    read_only,
    real_number,
    seed,
    size,
    text,
)

__all__ = [
    "MAX_ELEMENTS",
    "MAX_LEARNING_RATE",
    "MAX_SEED",
    "array",
    "axis_index",
    "boolean",
    "callable_arg",
    "describe_value",
    "divisible",
    "float_array",
    "finite_loss",
    "finite_result",
    "float_dtype",
    "holds_bool",
    "host_values",
    "jax_key",
    "instance",
    "integer",
    "integer_array",
    "learning_rate",
    "on_module_device",
    "one_of",
    "power_of_two",
    "read_only",
    "real_number",
    "same_device",
    "same_shape",
    "seed",
    "size",
    "text",
    "torch_device_arg",
]

_describe = describe_value  # the short name the chapters' older helpers use
