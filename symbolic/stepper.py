"""Decoding steps of a MusicTransformer in numpy, for sampling on the CPU.

A decoding step of this model is a few MFLOP: what costs time is reading the weights (~5.7 MB, from the
L3 cache: ~150 µs a step on this machine) and, in numpy, the overhead of ~1 µs a call, not arithmetic.
The weights are prepared once so that a step is few operations:
- each linear layer is one (inputs + 1) × outputs matrix whose last row is its bias, fed a row vector
  ending in 1, so weights and bias are one product;
- a layer norm's scale and shift fold into the linear that follows it (W(γ·n + β) + b), the attention
  scale 1/√d into the query columns, GELU's 1/√2 into ff1 and ff2;
- everything written into the residual stream (embeddings, attention output, feed-forward output) is
  centred across the model width, so the stream always has zero mean and a layer norm only divides by
  the root mean square (layer norms subtract the mean anyway: this changes nothing they see);
- the cache stores keys transposed (each head's scores are one matrix-vector product) and values with
  a constant 1 after them, so weighting the values also sums the softmax's weights;
- a single new token (nearly every step of sampling; a short chunk token by token) is one compiled call
  (symbolic.step_kernel, numba) over these matrices, in preallocated rows held by its cache; longer
  chunks and batches of sequences go through numpy's matrix products (`_hidden`).
With `half_weights` (what decoding uses) the matrices are rounded to float16: the compiled step reads
half the bytes and widens them as it goes, numpy's path computes with the same rounded values.
`MusicTransformer.decode_step` stays the reference (tests/symbolic/test_stepper.py compares logits).

The weights come from a checkpoint read without torch (symbolic.checkpoint), or from a torch model.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from symbolic.checkpoint import LAYER_NORM_EPS, TransformerWeights

if TYPE_CHECKING:  # torch loads only with a model, not with this module
    from symbolic.model import MusicTransformer


_SQRT_HALF = math.sqrt(0.5)
# Chunks of up to this many new tokens go through the single-token path one token at a time: for a few
# rows a matrix product costs BLAS a copy of the whole weight matrix, the compiled step does not.
SMALL_CHUNK = 4


class _Rows:
    """Scratch rows of one single-token step (a cache is stepped by one thread at a time)."""

    def __init__(self, width: int, hidden: int, capacity: int, vocab: int) -> None:
        self.x = np.empty(width, dtype=np.float32)  # the residual stream (zero mean)
        self.normed = np.empty(width, dtype=np.float32)
        self.qkv = np.empty(3 * width, dtype=np.float32)
        self.scores = np.empty(capacity, dtype=np.float32)
        self.hidden = np.empty(hidden, dtype=np.float32)
        self.projected = np.empty(width, dtype=np.float32)
        self.logits = np.empty(vocab, dtype=np.float32)


class StepCache:
    """Keys and values of one sequence, filled up to `length` positions, and the rows its steps use.

    Keys are stored transposed, (layer, head, head_dim, position); values as (layer, head, position,
    head_dim + 1), the last column a constant 1."""

    def __init__(self, layers: int, heads: int, head_dim: int, capacity: int, hidden: int, vocab: int) -> None:
        width = heads * head_dim
        self.keys_t = np.zeros((layers, heads, head_dim, capacity), dtype=np.float32)
        self.values = np.ones((layers, heads, capacity, head_dim + 1), dtype=np.float32)
        self.length = 0
        self.capacity = capacity
        self.rows = _Rows(width, hidden, capacity, vocab)


def _affine(weight_t: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """One matrix for x @ Wᵀ + b: Wᵀ with b as its last row (float32, contiguous)."""
    return np.ascontiguousarray(np.vstack([weight_t, bias[None, :]]), dtype=np.float32)


def _fold(scale: np.ndarray, shift: np.ndarray, weight: np.ndarray, bias: np.ndarray,
          factor: np.ndarray | float = 1.0) -> np.ndarray:
    """The layer norm's scale γ and shift β folded into the linear after it, times `factor` per output,
    in float64: [(W·diag(γ))ᵀ; b + W·β] · factor."""
    weight = np.asarray(weight, dtype=np.float64)
    folded = (weight * np.asarray(scale, dtype=np.float64)[None, :]).T * factor
    folded_bias = (np.asarray(bias, dtype=np.float64) + weight @ np.asarray(shift, dtype=np.float64)) * factor
    return _affine(folded, folded_bias)


def _centred(matrix: np.ndarray) -> np.ndarray:
    """Rows with their mean removed: what a layer norm would remove from them anyway."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return matrix - matrix.mean(axis=-1, keepdims=True)


class _Layer:
    MATRICES = ("qkv", "out", "ff1", "ff2")

    def __init__(self, arrays: dict[str, np.ndarray], prefix: str, heads: int, head_dim: int) -> None:
        def array(name: str) -> np.ndarray:
            return np.asarray(arrays[prefix + name], dtype=np.float64)

        width = heads * head_dim
        query_scale = np.ones(3 * width)
        query_scale[:width] = 1.0 / math.sqrt(head_dim)
        self.qkv = _fold(array("norm1.weight"), array("norm1.bias"), array("qkv.weight"), array("qkv.bias"),
                         query_scale)
        self.out = _affine(_centred(array("out.weight").T), _centred(array("out.bias")))
        # GELU(h) = h·½(1 + erf(h/√2)) = u(1 + erf u)/√2 with u = h/√2: ff1 computes u, ff2 takes the 1/√2.
        self.ff1 = _fold(array("norm2.weight"), array("norm2.bias"), array("ff1.weight"), array("ff1.bias"),
                         _SQRT_HALF)
        self.ff2 = _affine(_centred(array("ff2.weight").T) * _SQRT_HALF, _centred(array("ff2.bias")))


def _rounded_to_half(matrix: np.ndarray) -> np.ndarray:
    """A float32 matrix holding the float16 values nearest to `matrix`'s."""
    half = matrix.astype(np.float16)
    if not np.isfinite(half).all():
        raise ValueError("a weight is beyond float16's range")
    return half.astype(np.float32)


def _half_bits(matrix: np.ndarray) -> np.ndarray:
    """The float16 bits of a matrix of float16 values (as uint16, what the compiled step widens)."""
    return np.ascontiguousarray(matrix.astype(np.float16).view(np.uint16))


def _normalise(x: np.ndarray, eps: float) -> np.ndarray:
    """Layer norm of each row of a zero-mean stream, without its affine part (folded into the next linear)."""
    return x / np.sqrt(np.add.reduce(x * x, axis=-1, keepdims=True) / x.shape[-1] + eps)


def _linear(x: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Rows of x through an `_affine` matrix."""
    return x @ matrix[:-1] + matrix[-1]


class NumpyStepper:
    """`step(cache, ids)`: feeds new tokens of one sequence and returns the last position's logits."""

    def __init__(self, model: TransformerWeights | MusicTransformer, half_weights: bool = False) -> None:
        """
        Args:
            model: a checkpoint read without torch (TransformerWeights), or a torch MusicTransformer.
            half_weights: the prepared matrices rounded to float16 (the compiled step reads half the
                bytes and widens them to float32; the numpy path computes with the same rounded values).
        """
        from scipy.special import erf  # scipy (~0.4 s) loads with the first request's decoder, not with the server

        self.erf = erf
        weights = model if isinstance(model, TransformerWeights) else TransformerWeights.of_module(model)
        arrays = weights.arrays
        config = weights.config
        self.config = config
        self.heads, self.head_dim, self.width = config.n_heads, config.head_dim, config.d_model
        self.hidden = config.d_ff
        self.eps = LAYER_NORM_EPS
        self.embed = np.ascontiguousarray(_centred(arrays["embed.weight"]), dtype=np.float32)
        self.position = np.ascontiguousarray(_centred(arrays["position.weight"]), dtype=np.float32)
        # The tied output head (the embedding as it was trained) with the final norm folded in.
        self.head = _fold(arrays["norm.weight"], arrays["norm.bias"], arrays["embed.weight"],
                          np.zeros(config.vocab_size))
        self.layers = [_Layer(arrays, f"blocks.{index}.", self.heads, self.head_dim)
                       for index in range(config.n_layers)]
        self.half_weights = half_weights
        if half_weights:
            self.head = _rounded_to_half(self.head)
            for layer in self.layers:
                for name in _Layer.MATRICES:
                    setattr(layer, name, _rounded_to_half(getattr(layer, name)))
        # The single-token step is compiled; its weights are the same matrices stacked by layer (as the
        # bits of float16 with half_weights).
        from symbolic.step_kernel import step_token  # numba (~1 s) loads with the first stepper

        self._kernel = step_token
        stored = _half_bits if half_weights else np.ascontiguousarray
        self._stacked = tuple(stored(np.stack([getattr(layer, name) for layer in self.layers]))
                              for name in _Layer.MATRICES)
        self._kernel_head = stored(self.head)
        self._eps32 = np.float32(self.eps)

    def new_cache(self) -> StepCache:
        return StepCache(len(self.layers), self.heads, self.head_dim, self.config.max_seq_len, self.hidden,
                          self.config.vocab_size)

    def step(self, cache: StepCache, ids: list[int], every_position: bool = False) -> np.ndarray:
        """Logits of the last new position (vocab,), or of every new position (len(ids), vocab)."""
        if len(ids) <= SMALL_CHUNK and not every_position:
            self._check_room(cache, len(ids))
            for token in ids[:-1]:
                self._step_one(cache, token, logits=False)
            return self._step_one(cache, ids[-1])
        x = self._hidden([cache], [ids])
        if every_position:
            return _linear(_normalise(x, self.eps), self.head)
        return _linear(_normalise(x[-1], self.eps), self.head)

    def step_many(self, caches: list[StepCache], id_lists: list[list[int]]) -> np.ndarray:
        """One step for several sequences at once (each with its own cache and new tokens): the linear
        layers run once over all their rows, attention per sequence. Returns (len(caches), vocab)."""
        x = self._hidden(caches, id_lists)
        last = np.cumsum([len(ids) for ids in id_lists]) - 1
        return _linear(_normalise(x[last], self.eps), self.head)

    def _check_room(self, cache: StepCache, new: int) -> None:
        if cache.length + new > self.config.max_seq_len:
            raise ValueError(f"sequence of {cache.length + new} tokens exceeds the model's {self.config.max_seq_len}")

    def _step_one(self, cache: StepCache, token: int, logits: bool = True) -> np.ndarray | None:
        """A single new token through the compiled step (symbolic.step_kernel), in the cache's rows; its
        logits (or None without `logits`)."""
        rows = cache.rows
        self._kernel(token, cache.length, self.embed, self.position, *self._stacked, self._kernel_head, cache.keys_t,
                     cache.values, rows.x, rows.normed, rows.qkv, rows.scores, rows.hidden, rows.projected,
                     rows.logits, logits, self._eps32)
        cache.length += 1
        return rows.logits.copy() if logits else None

    def _hidden(self, caches: list[StepCache], id_lists: list[list[int]]) -> np.ndarray:
        spans = []  # (cache, first row, rows, start position)
        row = 0
        for cache, ids in zip(caches, id_lists):
            self._check_room(cache, len(ids))
            spans.append((cache, row, len(ids), cache.length))
            row += len(ids)
        if len(spans) == 1:
            cache, _, length, start = spans[0]
            x = self.embed[id_lists[0]] + self.position[start:start + length]
        else:
            x = np.concatenate([self.embed[ids] + self.position[start:start + length]
                                for ids, (_, _, length, start) in zip(id_lists, spans)])
        masks = [np.triu(np.full((length, start + length), -np.inf, dtype=np.float32), k=start + 1)
                 if length > 1 else None for _, _, length, start in spans]  # causal inside a new chunk
        for index, layer in enumerate(self.layers):
            qkv = _linear(_normalise(x, self.eps), layer.qkv)
            if len(spans) == 1:
                attended = self._attend(index, qkv, spans[0], masks[0])
            else:
                attended = np.concatenate([self._attend(index, qkv[first:first + length], span, mask)
                                           for span, mask in zip(spans, masks)
                                           for first, length in [(span[1], span[2])]])
            x = x + _linear(attended, layer.out)
            u = _linear(_normalise(x, self.eps), layer.ff1)
            x = x + _linear(u * (np.float32(1.0) + self.erf(u)), layer.ff2)
        for cache, _, length, start in spans:
            cache.length = start + length
        return x

    def _attend(self, layer: int, qkv: np.ndarray, span: tuple, mask: np.ndarray | None) -> np.ndarray:
        """One sequence's attention: stores its new keys and values, attends over its whole cache."""
        cache, _, length, start = span
        end = start + length
        heads, head_dim, width = self.heads, self.head_dim, self.width
        qkv = qkv.reshape(length, 3, heads, head_dim)
        q = qkv[:, 0].transpose(1, 0, 2)  # (heads, length, head_dim), already scaled by 1/√head_dim
        cache.keys_t[layer, :, :, start:end] = qkv[:, 1].transpose(1, 2, 0)
        cache.values[layer, :, start:end, :head_dim] = qkv[:, 2].transpose(1, 0, 2)
        scores = q @ cache.keys_t[layer, :, :, :end]  # (heads, length, end)
        if mask is not None:
            scores = scores + mask
        scores = np.exp(scores - np.maximum.reduce(scores, axis=-1, keepdims=True))
        scores /= np.add.reduce(scores, axis=-1, keepdims=True)
        return (scores @ cache.values[layer, :, :end, :head_dim]).transpose(1, 0, 2).reshape(length, width)


__all__ = ["NumpyStepper", "StepCache"]
