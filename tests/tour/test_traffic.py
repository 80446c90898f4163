"""The compiled-traffic count of chapter 0: bytes each top-level step of an XLA program moves."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from labs.tour.traffic import _entry_traffic, compiled_traffic


def test_an_elementwise_function_reads_its_input_once_and_writes_its_output_once():
    # exp(x) * 2 fuses into one step on every backend: 1,000 float32 in, 1,000 float32 out.
    traffic = compiled_traffic(lambda x: jnp.exp(x) * 2.0, jnp.zeros(1000, jnp.float32))
    assert sum(traffic.values()) == 4_000 + 4_000
    # float16 halves both: 128 elements of 2 bytes, read once and written once
    traffic = compiled_traffic(lambda x: x + 1, jnp.zeros(128, jnp.float16))
    assert sum(traffic.values()) == 2 * 128 * 2


def test_a_jitted_function_and_a_numpy_argument_are_taken_as_they_are():
    fn = jax.jit(lambda x: jnp.tanh(x) - 1.0)
    assert sum(compiled_traffic(fn, np.ones((8, 16), np.float32)).values()) == 2 * 8 * 16 * 4


def test_the_softmax_kernels_move_at_least_what_any_softmax_must():
    # read the logits once, write the probabilities once: two arrays at the least
    x = jnp.zeros((4, 256), jnp.float32)
    for fn in (
        lambda x: jnp.exp(x) / jnp.exp(x).sum(-1, keepdims=True),
        lambda x: jax.nn.softmax(x, axis=-1),
    ):
        assert sum(compiled_traffic(fn, x).values()) >= 2 * x.nbytes


# A hand-written ENTRY computation: a two-output fusion whose outputs are taken apart, a bf16
# convert, shapes printed beside the operands (older HLO text), and a parameter read twice.
_HLO = """HloModule m

%fused (p: f32[4,8]) -> (f32[4], f32[4,8]) {
  %p = f32[4,8]{1,0} parameter(0)
  ROOT %t = (f32[4]{0}, f32[4,8]{1,0}) tuple(%p, %p)
}

ENTRY %main (x: f32[4,8]) -> bf16[4,8] {
  %x = f32[4,8]{1,0} parameter(0)
  %c = f32[] constant(2)
  %two = (f32[4]{0}, f32[4,8]{1,0}) fusion(f32[4,8]{1,0} %x, f32[] %c), kind=kLoop, calls=%fused
  %s = f32[4]{0} get-tuple-element((f32[4]{0}, f32[4,8]{1,0}) %two), index=0
  %e = f32[4,8]{1,0} get-tuple-element(%two), index=1
  %b = f32[4,8]{1,0} bitcast(%e)
  %m = f32[4,8]{1,0} multiply(%b, %b)
  ROOT %out = bf16[4,8]{1,0} convert(%m), metadata={op_name="jit(f)/convert"}
}
"""


def test_the_count_read_off_a_hand_written_program():
    traffic = _entry_traffic(_HLO)
    # two: reads x (128 bytes) and the constant (4), writes 16 + 128 bytes
    # m: reads the bitcast of e once (128), writes 128; out: reads 128, writes 32 bf16 (64)
    assert traffic == {"two": 128 + 4 + 16 + 128, "m": 128 + 128, "out": 128 + 64}


def test_a_loop_is_refused_rather_than_counted_once():
    loop = _HLO.replace("multiply(%b, %b)", "while(%b), condition=%c1, body=%b1")
    with pytest.raises(ValueError, match="control flow"):
        _entry_traffic(loop)
    with pytest.raises(ValueError, match="no ENTRY"):
        _entry_traffic("HloModule m\n")


def test_bad_arguments_name_the_parameter():
    with pytest.raises(TypeError, match="fn"):
        compiled_traffic(None, jnp.zeros(4))
    with pytest.raises(TypeError, match="x"):
        compiled_traffic(jnp.exp, torch.zeros(4))
    with pytest.raises(TypeError, match="x"):
        compiled_traffic(jnp.exp, "logits")
    with pytest.raises(ValueError, match="x"):
        compiled_traffic(jnp.exp, np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="x"):
        compiled_traffic(jnp.exp, np.zeros((0, 3)))
