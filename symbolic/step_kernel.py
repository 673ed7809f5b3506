"""The single-token decoding step of symbolic.stepper, compiled with numba into one call.

Sampling feeds one token at a time, and a numpy step is some sixty small calls per token, each with its
own overhead and its own pass over small arrays; here the whole step (three blocks and the output head)
is one compiled loop nest over the stepper's prepared weights and its cache, written in place:
- a linear layer is `x @ W + b` with the bias as W's last row (the stepper's `_affine` matrices), four
  input rows at a time so each output is loaded and stored once per four rows;
- attention reads the transposed keys row by row (contiguous over positions) and the values with their
  trailing 1, whose weighted sum is the softmax's denominator;
- the products may fuse into FMA instructions (`contract`): a last-bit difference from numpy's
  products, as between any two BLAS builds;
- exp (softmax) and erf (GELU) are polynomial forms the loops vectorise (`_exp`, `_erf`; relative
  error < 1e-7 and absolute error < 4e-7), instead of a library call per element.
The arithmetic is the stepper's (tests/symbolic/test_stepper.py holds both to the torch model).

numba loads with the first stepper (about a second), and compiles once per machine: the compiled code is
cached beside this file (or in numba's user cache when the package folder is read-only).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_OPTIONS = dict(cache=True, nogil=True, boundscheck=False, fastmath={"contract"})


@intrinsic
def _float(typingctx, value):  # type: ignore[no-untyped-def]
    """A weight as float32: float32 as it is; uint16 holds the bits of an IEEE half (LLVM's fpext, one
    vcvtph2ps for eight weights on CPUs with F16C)."""
    if isinstance(value, types.Integer) and value.bitwidth == 16:
        def widen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())
        return types.float32(value), widen
    if value == types.float32:
        def same(context, builder, signature, args):  # type: ignore[no-untyped-def]
            return args[0]
        return types.float32(value), same
    return None


@intrinsic
def _bits_to_float(typingctx, bits):  # type: ignore[no-untyped-def]
    """An int32's bits as a float32."""
    if isinstance(bits, types.Integer) and bits.bitwidth == 32:
        def cast(context, builder, signature, args):  # type: ignore[no-untyped-def]
            return builder.bitcast(args[0], ir.FloatType())
        return types.float32(bits), cast
    return None


_LOG2E = np.float32(1.4426950408889634)
_LN2_HIGH = np.float32(0.693359375)
_LN2_LOW = np.float32(-2.12194440e-4)


@njit(**_OPTIONS)
def _exp(x: np.float32) -> np.float32:
    """e^x in float32 arithmetic that the loops around it can vectorise (math.exp is a library call per
    element): 2^n · e^r with r = x - n·ln 2 in [-ln2/2, ln2/2] (ln 2 split in two for exactness), e^r by
    its Taylor series to r^7 (relative error < 1e-7); 2^n from the exponent bits. x below -87 counts as
    -87 (e^-87 ≈ 1.6e-38: nothing against the softmax's largest weight, 1)."""
    x = max(x, np.float32(-87.0))
    n = np.float32(math.floor(x * _LOG2E + np.float32(0.5)))
    r = x - n * _LN2_HIGH - n * _LN2_LOW
    p = np.float32(1.0 / 5040.0)
    p = p * r + np.float32(1.0 / 720.0)
    p = p * r + np.float32(1.0 / 120.0)
    p = p * r + np.float32(1.0 / 24.0)
    p = p * r + np.float32(1.0 / 6.0)
    p = p * r + np.float32(0.5)
    p = p * r + np.float32(1.0)
    p = p * r + np.float32(1.0)
    return p * _bits_to_float(np.int32((np.int32(n) + np.int32(127)) << np.int32(23)))


@njit(**_OPTIONS)
def _erf(x: np.float32) -> np.float32:
    """erf by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7; < 4e-7 in float32), vectorisable."""
    a = abs(x)
    t = np.float32(1.0) / (np.float32(1.0) + np.float32(0.3275911) * a)
    p = np.float32(1.061405429)
    p = p * t - np.float32(1.453152027)
    p = p * t + np.float32(1.421413741)
    p = p * t - np.float32(0.284496736)
    p = p * t + np.float32(0.254829592)
    y = np.float32(1.0) - p * t * _exp(-a * a)
    return y if x >= 0 else -y


@njit(**_OPTIONS)
def _accumulate(x: np.ndarray, matrix: np.ndarray, rows: int, columns: int, out: np.ndarray) -> None:
    """out[:columns] += x[:rows] @ matrix[:rows, :columns], four rows at a time (each output is loaded and
    stored once per four rows)."""
    i = 0
    while i + 4 <= rows:
        a, b, c, d = x[i], x[i + 1], x[i + 2], x[i + 3]
        w0, w1, w2, w3 = matrix[i], matrix[i + 1], matrix[i + 2], matrix[i + 3]
        for j in range(columns):
            out[j] += a * _float(w0[j]) + b * _float(w1[j]) + c * _float(w2[j]) + d * _float(w3[j])
        i += 4
    while i < rows:
        a = x[i]
        w0 = matrix[i]
        for j in range(columns):
            out[j] += a * _float(w0[j])
        i += 1


@njit(**_OPTIONS)
def _affine_into(x: np.ndarray, matrix: np.ndarray, out: np.ndarray) -> None:
    """out = x @ matrix[:-1] + matrix[-1]."""
    rows = x.shape[0]
    columns = matrix.shape[1]
    bias = matrix[rows]
    for j in range(columns):
        out[j] = _float(bias[j])
    _accumulate(x, matrix, rows, columns, out)


@njit(**_OPTIONS)
def _normalise_into(x: np.ndarray, out: np.ndarray, eps: np.float32) -> None:
    """Layer norm of a zero-mean stream without its affine part (folded into the next linear)."""
    total = np.float32(0.0)
    for j in range(x.shape[0]):
        total += x[j] * x[j]
    scale = np.float32(1.0) / np.float32(math.sqrt(total / np.float32(x.shape[0]) + eps))
    for j in range(x.shape[0]):
        out[j] = x[j] * scale


@njit(**_OPTIONS)
def step_token(token: int, position: int, embed: np.ndarray, position_embed: np.ndarray, qkv: np.ndarray,
               out: np.ndarray, ff1: np.ndarray, ff2: np.ndarray, head: np.ndarray, keys_t: np.ndarray,
               values: np.ndarray, x: np.ndarray, normed: np.ndarray, projected_qkv: np.ndarray,
               scores: np.ndarray, hidden: np.ndarray, projected: np.ndarray, logits: np.ndarray,
               want_logits: bool, eps: np.float32) -> None:
    """Feeds `token` at `position` of a cache: stores its keys and values in every layer, leaves the
    residual stream in `x` and, with `want_logits`, the next token's logits in `logits`.

    qkv, out, ff1, ff2: the blocks' `_affine` matrices stacked by layer; head: the output head's.
    keys_t (layers, heads, head_dim, capacity) and values (layers, heads, capacity, head_dim + 1): the
    cache. The other arrays are scratch rows (normed: width, projected_qkv: 3·width, scores: capacity,
    hidden: d_ff, projected: width, logits: vocab)."""
    layers = qkv.shape[0]
    heads = keys_t.shape[1]
    head_dim = keys_t.shape[2]
    width = x.shape[0]
    end = position + 1
    for j in range(width):
        x[j] = embed[token, j] + position_embed[position, j]
    for layer in range(layers):
        _normalise_into(x, normed, eps)
        _affine_into(normed, qkv[layer], projected_qkv)
        for h in range(heads):
            for d in range(head_dim):
                keys_t[layer, h, d, position] = projected_qkv[width + h * head_dim + d]
                values[layer, h, position, d] = projected_qkv[2 * width + h * head_dim + d]
        weighted = projected[:head_dim + 1]  # scratch until the out projection writes `projected`
        for h in range(heads):
            for p in range(end):
                scores[p] = 0.0
            # the query is already scaled by 1/√head_dim
            _accumulate(projected_qkv[h * head_dim:], keys_t[layer, h], head_dim, end, scores)
            top = scores[0]
            for p in range(1, end):
                top = max(top, scores[p])
            for p in range(end):
                scores[p] = _exp(scores[p] - top)
            for d in range(head_dim + 1):
                weighted[d] = 0.0
            _accumulate(scores, values[layer, h], end, head_dim + 1, weighted)
            for d in range(head_dim):  # the last column summed the weights
                normed[h * head_dim + d] = weighted[d] / weighted[head_dim]
        _affine_into(normed, out[layer], projected)
        for j in range(width):
            x[j] += projected[j]
        _normalise_into(x, normed, eps)
        _affine_into(normed, ff1[layer], hidden)
        for j in range(hidden.shape[0]):  # GELU: ff1 gave u = h/√2, ff2 takes the other 1/√2
            u = hidden[j]
            hidden[j] = u * (np.float32(1.0) + _erf(u))
        _affine_into(hidden, ff2[layer], projected)
        for j in range(width):
            x[j] += projected[j]
    if want_logits:
        _normalise_into(x, normed, eps)
        _affine_into(normed, head, logits)


__all__ = ["step_token"]
