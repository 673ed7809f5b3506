"""The per-token work of sampling around the model step, compiled with numba (as symbolic.step_kernel).

Each sampled token used to cost some twenty small numpy calls on a few dozen numbers (the allowed
tokens' logits plus their biases, a softmax, a cumulative sum, a search), and each new pitch the tonal
centre's key correlations (symbolic.tonality): a third of a clip's time was this Python and numpy
overhead, not arithmetic. Here each is one compiled call with numpy's arithmetic in the same order and
precision (float32 for sampling, float64 for the lean), so the same seed draws the same tokens:
- `draw` is Decoder.sample: it finds the allowed tokens itself (a scan of the bias row costs less than
  numpy's flatnonzero, or a lookup); a top-k cut's argpartition order decides which token a draw lands
  on and only numpy's own argpartition reproduces it, so with more allowed tokens than top_k the
  caller runs numpy's argpartition on the values `draw` left and `draw_kept` draws among those kept;
- `tonal_lean` is TonalCentre.lean once numpy has the key correlations (one matrix product, kept in
  numpy: its summation order decides near-ties between rival keys).
The exponential is the C library's expf where numpy has its own vectorised one: the two may differ in
the last bit, which moves a draw only when it lands within ~1e-7 of a boundary between two tokens.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_OPTIONS = dict(cache=True, nogil=True, boundscheck=False)


@njit(**_OPTIONS)
def _search(cumulative: np.ndarray, count: int, target: np.float32) -> int:
    """numpy's searchsorted(side="right") on cumulative[:count]: the first weight above the target."""
    low, high = 0, count
    while low < high:
        middle = (low + high) // 2
        if cumulative[middle] <= target:
            low = middle + 1
        else:
            high = middle
    return min(low, count - 1)


@njit(**_OPTIONS)
def draw(logits: np.ndarray, bias: np.ndarray, lean: np.ndarray, temperature: np.float32, top_k: int,
         greedy: bool, uniform: float, values: np.ndarray, allowed: np.ndarray) -> int:
    """One token from logits + (bias + lean), all float32, among the tokens whose bias is finite: the
    first largest with `greedy`, else drawn at `temperature` by `uniform` in [0, 1) on the cumulative
    weights (in token order, as numpy's cumsum over the allowed tokens).

    values, allowed: scratch rows as long as the vocabulary. Returns the token; -1 when no token is
    allowed; when a top-k cut applies (more allowed tokens than top_k > 0), -2 - count, with the
    allowed tokens in allowed[:count] and their values in values[:count] for numpy's argpartition
    (then `draw_kept`)."""
    count = 0
    top = np.float32(-np.inf)
    best = 0
    for token in range(bias.shape[0]):
        if not math.isfinite(bias[token]):
            continue
        value = logits[token] + (bias[token] + lean[token])
        values[count] = value
        allowed[count] = token
        if value > top:
            top = value
            best = count
        count += 1
    if count == 0:
        return -1
    if greedy:
        return allowed[best]
    if 0 < top_k < count:
        return -2 - count
    total = np.float32(0.0)
    for i in range(count):
        total += np.float32(math.exp((values[i] - top) / temperature))
        values[i] = total
    return allowed[_search(values, count, np.float32(uniform) * total)]


@njit(**_OPTIONS)
def draw_kept(values: np.ndarray, allowed: np.ndarray, keep: np.ndarray, temperature: np.float32,
              uniform: float, cumulative: np.ndarray) -> int:
    """The draw of `draw` among the kept entries only, in `keep`'s order (numpy's argpartition's)."""
    count = keep.shape[0]
    top = np.float32(-np.inf)
    for i in range(count):
        top = max(top, values[keep[i]])
    total = np.float32(0.0)
    for i in range(count):
        total += np.float32(math.exp((values[keep[i]] - top) / temperature))
        cumulative[i] = total
    return allowed[keep[_search(cumulative, count, np.float32(uniform) * total)]]


@njit(**_OPTIONS)
def tonal_lean(correlations: np.ndarray, templates: np.ndarray, target: int, margin: float, scale: float,
               out: np.ndarray) -> None:
    """The arithmetic of TonalCentre.lean after its key correlations, into `out` (12,): per pitch class,
    each listener's need (how far its strongest rival key is ahead, or within `margin`) times the
    requested key's template minus the rival's, summed over listeners, times `scale`.
    correlations (listeners, 24) and templates (listeners, 24, 12), float64."""
    listeners = templates.shape[0]
    for pc in range(12):
        out[pc] = 0.0
    for listener in range(listeners):
        rival = -1
        rival_correlation = -np.inf
        for key in range(24):  # the first largest, as argmax
            if key != target and correlations[listener, key] > rival_correlation:
                rival_correlation = correlations[listener, key]
                rival = key
        lead = correlations[listener, target] - rival_correlation
        need = min(max((margin - lead) / margin, 0.0), 1.0)
        for pc in range(12):
            out[pc] += need * (templates[listener, target, pc] - templates[listener, rival, pc])
    for pc in range(12):
        out[pc] = out[pc] * scale


__all__ = ["draw", "draw_kept", "tonal_lean"]
