"""Builders of small musical inputs for the symbolic tests (no files, no downloads)."""

from __future__ import annotations

import numpy as np

from symbolic.attributes import NoteTable

MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)


def scale_tune(tonic_pitch: int, steps=MAJOR_STEPS, bars: int = 4, notes_per_bar: int = 4,
               program: int = 73, end_on_tonic: bool = True, seed: int = 0) -> NoteTable:
    """A 4/4 melody wandering over a scale, starting and ending on the tonic."""
    rng = np.random.default_rng(seed)
    count = bars * notes_per_bar
    weights = np.array([3, 1, 2, 1, 2, 1, 1], dtype=float)  # tonic-triad degrees are the common ones
    inner = rng.choice(7, size=count - 2, p=weights / weights.sum())
    degrees = np.concatenate([[0], inner, [0 if end_on_tonic else 4]])
    octave_up = rng.random(count) < 0.3
    pitch = np.array([tonic_pitch + steps[d] + (12 if up and d < 4 else 0) for d, up in zip(degrees, octave_up)])
    step_q = 4.0 / notes_per_bar
    onset = np.arange(count) * step_q
    return NoteTable(onset, np.full(count, step_q), pitch, np.full(count, program), np.full(count, 90))
