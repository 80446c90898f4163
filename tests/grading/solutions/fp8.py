"""Reference solutions of chapter 2's exercises."""

import numpy as np

from labs.fp8 import quantization_error


def decode_float(code, exponent_bits, mantissa_bits, infinities):
    bias = 2 ** (exponent_bits - 1) - 1
    top = 2**exponent_bits - 1
    sign = -1.0 if (code >> (exponent_bits + mantissa_bits)) & 1 else 1.0
    exponent = (code >> mantissa_bits) & top
    mantissa = code & (2**mantissa_bits - 1)
    if exponent == top:
        if infinities:
            return sign * float("inf") if mantissa == 0 else float("nan")
        if mantissa == 2**mantissa_bits - 1:
            return float("nan")
    if exponent == 0:
        return sign * 2.0 ** (1 - bias) * mantissa / 2**mantissa_bits
    return sign * 2.0 ** (exponent - bias) * (1 + mantissa / 2**mantissa_bits)


def choose_granularity(x, budget):
    for granularity in ("tensor", "row", "tile"):
        error = quantization_error(x, "E4M3", granularity)
        if error["relative_rms"] <= budget and error["flushed_to_zero"] <= budget:
            return granularity
    return None


def v3_accumulate(values, bits, group):
    running = 0.0
    for start in range(0, len(values), group):
        terms = [running] + [float(v) for v in values[start : start + group]]
        _, e = np.frexp(max(abs(t) for t in terms))  # the largest |t| < 2**e
        step = 2.0 ** (e - bits)
        running = sum(np.floor(t / step) * step for t in terms)
        _, e_r = np.frexp(running)
        running = float(np.floor(running / 2.0 ** (e_r - bits)) * 2.0 ** (e_r - bits))
    return running
