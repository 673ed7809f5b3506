"""The shipped latent model keeps a bass line in the bass register (it was trained on POP909 bass lines)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symbolic.latent.representation import midi_to_clip
from symbolic.latent.space import Decoding, LatentSpace
from tests.symbolic.latent.clips import melody_midi
from tests.symbolic.latent.test_space import RECONSTRUCTION_THRESHOLD, accuracy, pitches


@pytest.fixture(scope="module")
def space() -> LatentSpace:
    torch.set_num_threads(1)
    return LatentSpace.from_pretrained()


FIGURE = [(40, 0.0, 1.5), (40, 1.5, 2.0), (47, 2.0, 3.0), (45, 3.0, 4.0),
          (43, 4.0, 5.5), (43, 5.5, 6.0), (38, 6.0, 7.0), (40, 7.0, 8.0)]


def test_a_bass_line_stays_in_the_bass_register(space: LatentSpace) -> None:
    """A pop bass figure (root, fifth, approach notes around E2) is reconstructed where it is, not moved
    up into the melody register (the folk-only model put this line around MIDI 78)."""
    clip = midi_to_clip(melody_midi(FIGURE, program=33))
    decoded = space.reconstruct(clip)
    assert accuracy(decoded, clip) >= RECONSTRUCTION_THRESHOLD - 0.1
    assert max(pitches(decoded)) < 60 and abs(np.mean(pitches(decoded)) - np.mean(pitches(clip))) < 4


def test_bass_variations_stay_in_the_bass_register(space: LatentSpace) -> None:
    """Variations of a bass line are bass lines (the model, which holds melodies too, once drew one in the
    second bar at MIDI 71-74; vary keeps each piece's register), yet they are new lines."""
    clip = midi_to_clip(melody_midi(FIGURE, program=33))
    for seed in (1, 2, 3):
        variations = space.vary(clip, 4, similarity_distance=0.3, decoding=Decoding(seed=seed))
        assert len(variations) == 4
        for variation in variations:
            assert pitches(variation) and np.mean(pitches(variation)) < 52 and max(pitches(variation)) < 64
            assert not np.array_equal(variation.tokens, clip.tokens)
