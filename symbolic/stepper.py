"""Decoding steps of a MusicTransformer in numpy, for sampling on the CPU.

A decoding step of this model is about 0.4 MFLOP: what costs time is the per-operation overhead, not
arithmetic. torch's dispatcher spends ~20 µs on a (1×192)·(192×768) linear that numpy hands to BLAS
in ~7 µs, so the same arithmetic written in numpy runs a step about 3× faster.
`MusicTransformer.decode_step` stays the reference (tests/symbolic/test_stepper.py compares logits).

The weights come from a checkpoint read without torch (symbolic.checkpoint), or from a torch model;
they are copied once (transposed where BLAS prefers it); a `StepCache` holds one sequence's
keys (stored transposed, so each head's scores are one matrix product) and values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from symbolic.checkpoint import LAYER_NORM_EPS, TransformerWeights

if TYPE_CHECKING:  # torch loads only with a model, not with this module
    from symbolic.model import MusicTransformer


_SQRT_HALF = np.float32(np.sqrt(0.5))


class StepCache:
    """Keys and values of one sequence, filled up to `length` positions."""

    def __init__(self, layers: int, heads: int, head_dim: int, capacity: int) -> None:
        self.keys_t = np.zeros((layers, heads, head_dim, capacity), dtype=np.float32)
        self.values = np.zeros((layers, heads, capacity, head_dim), dtype=np.float32)
        self.length = 0
        self.capacity = capacity


class _Layer:
    def __init__(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        def array(name: str) -> np.ndarray:
            return arrays[prefix + name]

        # A layer norm's scale and shift fold into the linear that follows it: W(γ·n + β) + b.
        self.eps1 = self.eps2 = LAYER_NORM_EPS
        self.qkv_t, self.qkv_b = _fold(array("norm1.weight"), array("norm1.bias"), array("qkv.weight"),
                                       array("qkv.bias"))
        self.out_t, self.out_b = np.ascontiguousarray(array("out.weight").T), np.ascontiguousarray(array("out.bias"))
        self.ff1_t, self.ff1_b = _fold(array("norm2.weight"), array("norm2.bias"), array("ff1.weight"),
                                       array("ff1.bias"))
        self.ff2_t, self.ff2_b = np.ascontiguousarray(array("ff2.weight").T), np.ascontiguousarray(array("ff2.bias"))


def _fold(scale: np.ndarray, shift: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(W·diag(γ))ᵀ and b + W·β in float64, stored as float32."""
    weight = weight.astype(np.float64)
    folded = weight * scale.astype(np.float64)[None, :]
    folded_bias = bias.astype(np.float64) + weight @ shift.astype(np.float64)
    return np.ascontiguousarray(folded.T.astype(np.float32)), np.ascontiguousarray(folded_bias.astype(np.float32))


def _erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf  # scipy (~0.4 s) loads with the first decoding step, not with the server

    return erf(x)


def _normalise(x: np.ndarray, eps: float) -> np.ndarray:
    """Layer norm without its affine part (folded into the next linear)."""
    width = x.shape[-1]
    centred = x - np.add.reduce(x, axis=-1, keepdims=True) / width
    return centred / np.sqrt(np.add.reduce(centred * centred, axis=-1, keepdims=True) / width + eps)


class NumpyStepper:
    """`step(cache, ids)`: feeds new tokens of one sequence and returns the last position's logits."""

    def __init__(self, model: TransformerWeights | MusicTransformer) -> None:
        """model: a checkpoint read without torch (TransformerWeights), or a torch MusicTransformer."""
        weights = model if isinstance(model, TransformerWeights) else TransformerWeights.of_module(model)
        arrays = weights.arrays
        config = weights.config
        self.config = config
        self.heads, self.head_dim, self.width = config.n_heads, config.head_dim, config.d_model
        self.scale = np.float32(1.0 / np.sqrt(config.head_dim))
        self.embed = np.ascontiguousarray(arrays["embed.weight"])
        self.position = np.ascontiguousarray(arrays["position.weight"])
        # The tied output head with the final norm folded in.
        self.final_eps = LAYER_NORM_EPS
        self.head_t, self.head_b = _fold(arrays["norm.weight"], arrays["norm.bias"], arrays["embed.weight"],
                                         np.zeros(config.vocab_size, dtype=np.float32))
        self.layers = [_Layer(arrays, f"blocks.{index}.") for index in range(config.n_layers)]

    def new_cache(self) -> StepCache:
        return StepCache(len(self.layers), self.heads, self.head_dim, self.config.max_seq_len)

    def step(self, cache: StepCache, ids: list[int], every_position: bool = False) -> np.ndarray:
        """Logits of the last new position (vocab,), or of every new position (len(ids), vocab)."""
        x = self._hidden([cache], [ids])
        if every_position:
            return _normalise(x, self.final_eps) @ self.head_t + self.head_b
        return _normalise(x[-1], self.final_eps) @ self.head_t + self.head_b

    def step_many(self, caches: list[StepCache], id_lists: list[list[int]]) -> np.ndarray:
        """One step for several sequences at once (each with its own cache and new tokens): the linear
        layers run once over all their rows, attention per sequence. Returns (len(caches), vocab)."""
        x = self._hidden(caches, id_lists)
        last = np.cumsum([len(ids) for ids in id_lists]) - 1
        return _normalise(x[last], self.final_eps) @ self.head_t + self.head_b

    def _hidden(self, caches: list[StepCache], id_lists: list[list[int]]) -> np.ndarray:
        spans = []  # (cache, first row, rows, start position)
        row = 0
        for cache, ids in zip(caches, id_lists):
            if cache.length + len(ids) > self.config.max_seq_len:
                raise ValueError(f"sequence of {cache.length + len(ids)} tokens exceeds the model's "
                                 f"{self.config.max_seq_len}")
            spans.append((cache, row, len(ids), cache.length))
            row += len(ids)
        if len(spans) == 1:
            cache, _, length, start = spans[0]
            x = self.embed[id_lists[0]] + self.position[start:start + length]
        else:
            x = np.concatenate([self.embed[ids] + self.position[start:start + length]
                                for ids, (_, _, length, start) in zip(id_lists, spans)])
        heads, head_dim, width = self.heads, self.head_dim, self.width
        masks = [np.triu(np.full((length, start + length), -np.inf, dtype=np.float32), k=start + 1)
                 if length > 1 else None for _, _, length, start in spans]  # causal inside a new chunk
        for index, layer in enumerate(self.layers):
            qkv = (_normalise(x, layer.eps1) @ layer.qkv_t + layer.qkv_b).reshape(row, 3, heads, head_dim)
            if len(spans) == 1:
                attended = self._attend(index, qkv, spans[0], masks[0])
            else:
                attended = np.concatenate([self._attend(index, qkv[first:first + length], span, mask)
                                           for span, mask in zip(spans, masks)
                                           for first, length in [(span[1], span[2])]])
            x = x + (attended @ layer.out_t + layer.out_b)
            h = _normalise(x, layer.eps2) @ layer.ff1_t + layer.ff1_b
            h = h * np.float32(0.5) * (np.float32(1.0) + _erf(h * _SQRT_HALF))
            x = x + (h @ layer.ff2_t + layer.ff2_b)
        for cache, _, length, start in spans:
            cache.length = start + length
        return x

    def _attend(self, layer: int, qkv: np.ndarray, span: tuple, mask: np.ndarray | None) -> np.ndarray:
        """One sequence's attention: stores its new keys and values, attends over its whole cache."""
        cache, _, length, start = span
        end = start + length
        q = qkv[:, 0].transpose(1, 0, 2)  # (heads, length, head_dim)
        cache.keys_t[layer, :, :, start:end] = qkv[:, 1].transpose(1, 2, 0)
        cache.values[layer, :, start:end] = qkv[:, 2].transpose(1, 0, 2)
        scores = (q @ cache.keys_t[layer, :, :, :end]) * self.scale  # (heads, length, end)
        if mask is not None:
            scores = scores + mask
        scores = np.exp(scores - np.maximum.reduce(scores, axis=-1, keepdims=True))
        scores /= np.add.reduce(scores, axis=-1, keepdims=True)
        return (scores @ cache.values[layer, :, :end]).transpose(1, 0, 2).reshape(length, self.width)


__all__ = ["NumpyStepper", "StepCache"]
