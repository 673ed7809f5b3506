"""Attributes of a grid clip that latent attribute vectors steer ("more dense", "wider", "higher").

Names match the Attributes message where one exists (notes_per_bar, rhythm_intensity,
pitch_range_octaves); mean_pitch is the register. They are measured on the grid itself, so the attribute
vectors and their evaluation do not depend on the symbolic LM's extractor.
"""

from __future__ import annotations

import numpy as np

from symbolic.latent.representation import NUM_PITCHES

ATTRIBUTES = ("notes_per_bar", "rhythm_intensity", "pitch_range_octaves", "mean_pitch")


def measure(tokens: np.ndarray, steps_per_bar: int) -> dict[str, float]:
    """Attribute values of one grid clip (tokens of shape (steps,))."""
    onsets = tokens[tokens < NUM_PITCHES]
    num_bars = max(1, tokens.shape[0] // steps_per_bar)
    if onsets.size == 0:
        return {"notes_per_bar": 0.0, "rhythm_intensity": 0.0, "pitch_range_octaves": 0.0, "mean_pitch": 0.0}
    return {
        "notes_per_bar": onsets.size / num_bars,
        # the share of sixteenth-note steps that start a note: 0 (empty) to 1 (a run of sixteenths)
        "rhythm_intensity": onsets.size / tokens.shape[0],
        "pitch_range_octaves": float(onsets.max() - onsets.min()) / 12.0,
        "mean_pitch": float(onsets.mean()),
    }
