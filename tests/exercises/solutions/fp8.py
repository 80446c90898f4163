"""Reference solutions of chapter 2's exercises."""

import numpy as np

from labs.fp8 import round_significand


def decode_e4m3(code):
    sign = -1.0 if code & 0x80 else 1.0
    exponent, mantissa = (code >> 3) & 0xF, code & 0x7
    if exponent == 15 and mantissa == 7:
        return float("nan")
    if exponent == 0:
        return sign * 2.0**-6 * mantissa / 8
    return sign * 2.0 ** (exponent - 7) * (1 + mantissa / 8)


def tile_scales(x, block):
    tile_amax = np.abs(x).reshape(x.shape[0], -1, block).max(axis=-1)
    return np.where(tile_amax > 0, tile_amax / 448, 1.0)


def promoted_sum(values, bits, promote_every):
    total, running = np.float32(0), np.float32(0)
    for k, v in enumerate(values):
        running = round_significand(running + v, bits)
        if promote_every and (k + 1) % promote_every == 0:
            total, running = np.float32(total + running), np.float32(0)
    return float(total + running)
