"""The compiled sampling and tonal lean (symbolic.sample_kernel) against numpy's arithmetic."""

import numpy as np
import pytest

from symbolic.attributes import Key
from symbolic.sample_kernel import draw, draw_kept, tonal_lean
from symbolic.tonality import _TEMPLATES, TonalCentre, key_correlations


def _numpy_draw(logits, bias, lean, temperature, top_k, uniform):
    """Decoder.sample as numpy computed it before the compiled calls."""
    allowed = np.flatnonzero(np.isfinite(bias))
    values = logits[allowed] + (bias + lean)[allowed]
    if temperature <= 1e-3:
        return int(allowed[int(np.argmax(values))])
    if 0 < top_k < len(values):
        keep = values.argpartition(-top_k)[-top_k:]
        allowed, values = allowed[keep], values[keep]
    cumulative = np.exp((values - np.maximum.reduce(values)) / temperature).cumsum()
    return int(allowed[min(int(cumulative.searchsorted(uniform * cumulative[-1], side="right")), len(values) - 1)])


def _compiled_draw(logits, bias, lean, temperature, top_k, uniform):
    """What Decoder.sample does now: `draw`, and numpy's argpartition with `draw_kept` under a top-k cut."""
    size = len(bias)
    values, allowed = np.empty(size, dtype=np.float32), np.empty(size, dtype=np.int64)
    token = draw(logits, bias, lean, np.float32(temperature), top_k, temperature <= 1e-3, uniform, values, allowed)
    if token >= -1:
        return token
    keep = values[:-2 - token].argpartition(-top_k)[-top_k:]
    return draw_kept(values, allowed, keep, np.float32(temperature), uniform, np.empty(size, dtype=np.float32))


def test_draw_picks_the_token_numpy_picks():
    rng = np.random.default_rng(7)
    vocab = 527
    for _ in range(3000):
        logits = (rng.standard_normal(vocab) * 3).astype(np.float32)
        bias = np.full(vocab, -np.inf, dtype=np.float32)
        allowed = np.sort(rng.choice(vocab, int(rng.integers(1, 70)), replace=False))
        bias[allowed] = (rng.standard_normal(len(allowed)) * rng.choice([0.0, 1.0])).astype(np.float32)
        lean = np.zeros(vocab, dtype=np.float32)
        if rng.random() < 0.5:
            lean[allowed] = rng.standard_normal(len(allowed)).astype(np.float32)
        temperature = float(rng.choice([0.0005, 0.7, 0.9, 1.0]))
        top_k = int(rng.choice([0, 8, 32]))
        uniform = rng.random()
        token = _compiled_draw(logits, bias, lean, temperature, top_k, uniform)
        assert token == _numpy_draw(logits, bias, lean, temperature, top_k, uniform)
        assert np.isfinite(bias[token])


def test_draw_says_when_nothing_is_allowed():
    size = 12
    bias = np.full(size, -np.inf, dtype=np.float32)
    values, allowed = np.empty(size, dtype=np.float32), np.empty(size, dtype=np.int64)
    zeros = np.zeros(size, dtype=np.float32)
    assert draw(zeros, bias, zeros, np.float32(1.0), 0, False, 0.5, values, allowed) == -1


def test_draw_follows_the_weights():
    """Two allowed tokens whose logits differ by ln 3: the first is drawn for a quarter of [0, 1)."""
    logits = np.zeros(10, dtype=np.float32)
    logits[7] = np.log(3.0)
    bias = np.full(10, -np.inf, dtype=np.float32)
    bias[[2, 7]] = 0.0
    lean = np.zeros(10, dtype=np.float32)
    drawn = [_compiled_draw(logits, bias, lean, 1.0, 0, u) for u in np.linspace(0, 0.999, 1000)]
    assert drawn.count(2) == pytest.approx(250, abs=2)
    assert set(drawn) == {2, 7}


def _numpy_lean(centre: TonalCentre) -> np.ndarray:
    """TonalCentre.lean's formula, in numpy."""
    listeners = np.arange(_TEMPLATES.shape[0])
    correlations = key_correlations(centre.histogram)
    ahead = correlations[:, centre.target].copy()
    correlations[:, centre.target] = -np.inf
    rivals = correlations.argmax(axis=1)
    need = np.clip((centre.margin - (ahead - correlations[listeners, rivals])) / centre.margin, 0.0, 1.0)
    difference = _TEMPLATES[listeners, centre.target] - _TEMPLATES[listeners, rivals]
    return (need[:, None] * difference).sum(axis=0) * (centre.strength * np.sqrt(12) / len(listeners))


def test_lean_is_the_numpy_formula():
    rng = np.random.default_rng(3)
    for key in (Key(2, "major"), Key(9, "minor")):
        centre = TonalCentre(key)
        for _ in range(500):
            centre.histogram = rng.choice([0.0, 0.25, 0.5, 1.0, 2.0], 12) * rng.integers(0, 4, 12)
            centre._lean = None
            if centre.histogram.sum() == 0:
                continue
            np.testing.assert_array_equal(centre.lean(), _numpy_lean(centre))


def test_lean_pulls_a_minor_away_from_c_major():
    """A minor asked, C major heard (C, E, G): A and E lean up, C and G down."""
    centre = TonalCentre(Key(9, "minor"))
    for pitch in (60, 64, 67, 60, 67):
        centre.hear(pitch, 1.0)
    lean = centre.lean()
    assert lean[9] > 0 and lean[4] > 0
    assert lean[0] < 0 and lean[7] < 0
    out = np.empty(12)
    tonal_lean(key_correlations(centre.histogram), _TEMPLATES, centre.target, centre.margin,
               centre.strength * np.sqrt(12) / _TEMPLATES.shape[0], out)
    np.testing.assert_array_equal(out, lean)
