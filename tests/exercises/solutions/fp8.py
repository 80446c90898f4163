"""Reference solutions of chapter 2's exercises."""

import numpy as np

from labs.fp8 import quantization_error, round_significand


def decode_e4m3(code):
    sign = -1.0 if code & 0x80 else 1.0
    exponent, mantissa = (code >> 3) & 0xF, code & 0x7
    if exponent == 15 and mantissa == 7:
        return float("nan")
    if exponent == 0:
        return sign * 2.0**-6 * mantissa / 8
    return sign * 2.0 ** (exponent - 7) * (1 + mantissa / 8)


def choose_granularity(x, budget):
    for granularity in ("tensor", "row", "tile"):
        error = quantization_error(x, "E4M3", granularity)
        if error["relative_rms"] <= budget and error["flushed_to_zero"] <= budget:
            return granularity
    return None


def promoted_sum(values, bits, promote_every):
    total, running = np.float32(0), np.float32(0)
    for k, v in enumerate(values):
        running = round_significand(running + v, bits)
        if promote_every and (k + 1) % promote_every == 0:
            total, running = np.float32(total + running), np.float32(0)
    return float(total + running)
