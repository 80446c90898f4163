"""Bytes moved by a program XLA compiled: a traffic count read from the compiled program itself.

A cost model that counts passes over memory assumes how a kernel is written. A compiler decides
what it runs: XLA groups operations into *fusions*, and each fusion reads its inputs from memory
and writes its output back, while what happens inside it stays in registers and caches. So the
traffic of a compiled program is, to a first approximation, the sum over its top-level steps of
the bytes each one reads and writes. `compiled_traffic` returns that sum, step by step, from the
text of the program `jax.jit` compiles for the default device.

The count is a model too: a step that reads an operand twice inside its loop (a reduction and
then an elementwise use of the same row) counts it once, on the assumption that the row is still
in cache the second time; a step's internal scratch is not counted.

Taught in chapter 0, "When does it pay?".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import jax

from labs.common.validate import array, callable_arg

__all__ = ["compiled_traffic"]

# Instructions that move no data of their own: arguments, literals, and views or bundles of
# arrays that other steps produced.
_FREE = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast", "after-all"}
# Control flow whose traffic depends on how often a body runs, which the text does not say.
_LOOPS = {"while", "conditional"}
_ARRAY = re.compile(r"([a-z][a-z0-9]*)\[([^\]]*)\]")
_LINE = re.compile(r"\s*(?:ROOT\s+)?%?(?P<name>[^\s=]+)\s*=\s*(?P<rest>.+)")


def _bits(element: str) -> int:
    """Bits per element of an HLO element type: f32 -> 32, bf16 -> 16, f8e4m3fn -> 8, pred -> 8."""
    if element == "pred":
        return 8
    if element == "token":
        return 0
    digits = re.match(r"[a-z]+(\d+)", element)
    if digits is None:
        raise ValueError(f"hlo holds an element type this count does not know: {element!r}")
    return int(digits.group(1))


def _shape_bytes(shape: str) -> int:
    """Bytes of an HLO shape: `f32[64,16384]{1,0}`, `f32[]` or a tuple `(f32[64]{0}, s32[])`."""
    total = 0
    for element, dims in _ARRAY.findall(shape):
        count = math.prod(int(re.sub(r"\D", "", d)) for d in dims.split(",") if d.strip())
        total += (count * _bits(element) + 7) // 8
    return total


def _closing(text: str, start: int) -> int:
    """Index of the parenthesis that closes the one at `start`."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise ValueError("hlo holds an instruction with unbalanced parentheses")


def _split_top(text: str) -> list[str]:
    """`text` split at the commas that lie outside any brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += 1 if char in "([{" else -1 if char in ")]}" else 0
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _instruction(rest: str) -> tuple[str, str, list[str]]:
    """(shape, opcode, operand names) of the right-hand side of an HLO instruction."""
    rest = rest.strip()
    if rest.startswith("("):  # a tuple shape
        end = _closing(rest, 0) + 1
    else:
        end = len(rest.split(None, 1)[0])
    shape, after = rest[:end], rest[end:].lstrip()
    opcode = re.match(r"[\w\-]+", after)
    if opcode is None or after[opcode.end() : opcode.end() + 1] != "(":
        raise ValueError(f"hlo holds an instruction this count cannot read: {rest[:80]!r}")
    open_at = opcode.end()
    inside = after[open_at + 1 : _closing(after, open_at)]
    operands = [part.split()[-1].lstrip("%") for part in _split_top(inside) if part.strip()]
    return shape, opcode.group(0), operands


def _entry_traffic(hlo: str) -> dict[str, int]:
    """{step: bytes its distinct operands and its output take} for each top-level step of the
    ENTRY computation of an HLO module's text, in program order."""
    lines = hlo.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("ENTRY")), None)
    if start is None:
        raise ValueError("hlo holds no ENTRY computation")
    shapes: dict[str, int] = {}
    traffic: dict[str, int] = {}
    for line in lines[start + 1 :]:
        if line.startswith("}"):
            break
        match = _LINE.match(line)
        if match is None:
            continue
        shape, opcode, operands = _instruction(match.group("rest"))
        name = match.group("name")
        shapes[name] = _shape_bytes(shape)
        if opcode in _LOOPS:
            raise ValueError(
                f"the compiled program holds control flow ({opcode}): its traffic depends on how "
                "often the body runs, which this count does not follow"
            )
        if opcode not in _FREE:
            read = sum(shapes.get(operand, 0) for operand in dict.fromkeys(operands))
            traffic[name] = read + shapes[name]
    return traffic


def compiled_traffic(fn: Callable, x) -> dict[str, int]:
    """Bytes each top-level step of the program XLA compiles for `fn(x)` reads and writes.

    Args:
        fn: a function of one array; wrapped in `jax.jit` unless it already is a jitted one.
        x: the argument: a JAX or NumPy array of finite floating-point numbers (its shape and
            dtype pick the program compiled; its values do not matter).

    Returns:
        {step name: bytes}, in program order: for each step of the compiled program's ENTRY
        computation that moves data (a fusion, or an operation left unfused), the bytes of its
        distinct operands plus those of its output. Parameters, constants, tuples and bitcasts
        count nothing. The sum over the steps is the program's traffic in this model; divided by
        `x.nbytes` it is the number of arrays of x's size moved.

    Raises:
        TypeError: fn is not callable, or x is not a JAX or NumPy array of floats.
        ValueError: x is empty or not finite, or the compiled program holds a loop or a
            conditional, whose traffic depends on how often its body runs.
    """
    fn = callable_arg("fn", fn)
    x = array("x", x, framework="jax")
    jitted = fn if hasattr(fn, "lower") else jax.jit(fn)
    return _entry_traffic(jitted.lower(x).compile().as_text())
