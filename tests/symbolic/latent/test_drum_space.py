"""The shipped drum latent model on real MIDI: round trips, interpolation endpoints, variations, bad input."""

from __future__ import annotations

import io

import numpy as np
import pretty_midi
import pytest
import torch

from ostinato.errors import InvalidInput
from symbolic.drums import GROOVES, render_groove
from symbolic.latent.drum_representation import (PIECE_KEYS, DrumClip, drum_clip_to_midi, piece_roll,
                                                 read_drum_clip)
from symbolic.latent.drum_space import DrumSpace
from symbolic.latent.space import Decoding
from symbolic.midi_io import table_to_midi
from tests.symbolic.latent.clips import melody_midi, pop_hook

# Share of sixteenths whose set of struck kit pieces a greedy reconstruction gets right on a plain groove.
RECONSTRUCTION_THRESHOLD = 0.85


def groove_midi(style: str, bars: int = 2, seed: int = 3, tempo_bpm: float = 100.0) -> bytes:
    groove = next(g for g in GROOVES if g.style == style and g.time_signature == (4, 4))
    table = render_groove(groove, bars, tempo_bpm, seed=seed, humanise_timing=True)
    return table_to_midi(table, groove.time_signature, tempo_bpm)


def step_accuracy(a: DrumClip, b: DrumClip) -> float:
    return float(np.mean(a.tokens == b.tokens))


@pytest.fixture(scope="module")
def space() -> DrumSpace:
    torch.set_num_threads(1)
    return DrumSpace.from_pretrained()


@pytest.fixture(scope="module")
def rock() -> DrumClip:
    return read_drum_clip(groove_midi("rock")).clip


@pytest.fixture(scope="module")
def pop() -> DrumClip:
    return read_drum_clip(groove_midi("pop", seed=5)).clip


def test_a_drum_clip_round_trips_to_a_drum_clip(space: DrumSpace, rock: DrumClip) -> None:
    assert rock.num_bars == 2 and rock.tokens.any()
    out = drum_clip_to_midi(space.reconstruct(rock))
    midi = pretty_midi.PrettyMIDI(io.BytesIO(out))
    assert len(midi.instruments) == 1 and midi.instruments[0].is_drum
    assert {note.pitch for note in midi.instruments[0].notes} <= set(PIECE_KEYS)
    back = read_drum_clip(out)
    assert back.clip.num_bars == rock.num_bars and back.clip.tempo_bpm == pytest.approx(rock.tempo_bpm, abs=0.01)
    assert not back.notices  # written on the grid, with the kit's own keys
    assert step_accuracy(back.clip, rock) >= RECONSTRUCTION_THRESHOLD
    # the backbeat survives: snare on beats 2 and 4 of both bars
    assert piece_roll(back.clip.tokens)[[4, 12, 20, 28], 1].all()


def test_interpolation_endpoints_reconstruct_their_inputs(space: DrumSpace, rock: DrumClip, pop: DrumClip) -> None:
    blend = space.interpolate(rock, pop, 6)
    assert len(blend) == 6
    assert np.array_equal(blend[0].tokens, space.reconstruct(rock).tokens)
    assert np.array_equal(blend[-1].tokens, space.reconstruct(pop).tokens)
    assert step_accuracy(blend[0], rock) >= RECONSTRUCTION_THRESHOLD
    assert step_accuracy(blend[-1], pop) >= RECONSTRUCTION_THRESHOLD
    # the path leaves the start: the last blend is nearer the end than the start
    assert step_accuracy(blend[-2], pop) > step_accuracy(blend[-2], rock)


def test_variations_differ_from_the_reconstruction(space: DrumSpace, rock: DrumClip) -> None:
    reconstruction = space.reconstruct(rock)
    variations = space.vary(rock, 3, 0.3, decoding=Decoding(seed=2))
    assert variations
    for variation in variations:
        assert variation.num_steps == rock.num_steps
        assert not np.array_equal(variation.tokens, reconstruction.tokens)
        assert not np.array_equal(variation.tokens, rock.tokens)


def test_odd_lengths_keep_their_length(space: DrumSpace) -> None:
    clip = read_drum_clip(groove_midi("rock", bars=3)).clip
    assert clip.num_bars == 3
    assert space.reconstruct(clip).num_bars == 3
    assert [c.num_bars for c in space.vary(clip, 2, 0.4)] == [3, 3]


def test_a_file_without_drums_is_invalid_input(space: DrumSpace) -> None:
    with pytest.raises(InvalidInput, match="no drum notes"):
        read_drum_clip(melody_midi(pop_hook()))
    with pytest.raises(InvalidInput, match="attribute"):
        space.vary(read_drum_clip(groove_midi("rock")).clip, 1, 0.2, shifts={"notes_per_bar": 1.0})


def test_pitched_tracks_are_left_out_with_a_notice() -> None:
    drums = pretty_midi.PrettyMIDI(io.BytesIO(groove_midi("rock")))
    notes = [(n.pitch, n.start * 100 / 60, n.end * 100 / 60) for n in drums.instruments[0].notes]
    read = read_drum_clip(melody_midi(pop_hook(), tempo_bpm=100.0, extra_tracks=[(0, True, notes)]))
    assert "pitched_left_out" in {notice.code for notice in read.notices}
    assert read.clip.tokens.any()
