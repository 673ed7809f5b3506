"""Which latent model reads a request (symbolic.latent.families), through a real server on loopback:
the family named or chosen by the file's tracks, the notice that says so, and each family's results."""

from __future__ import annotations

import io

import grpc
import numpy as np
import pretty_midi
import pytest
import torch

from server.client import Client, ServerError
from symbolic.latent.hierarchical import SectionSpace
from symbolic.latent.representation import NUM_PITCHES, midi_to_clip
from tests.symbolic.latent.clips import melody_midi, pop_hook, scale_run
from tests.symbolic.latent.test_representation import BASS, DRUMS, named_tracks_midi

WALKING_BASS = [(40 + (0, 3, 5, 7, 5, 3, 2, 0)[i % 8], i * 1.0, i * 1.0 + 0.9) for i in range(8)]
BAND = named_tracks_midi([("Tune", 73, False, scale_run()), ("Bass", 33, False, BASS), ("Kit", 0, True, DRUMS)])


def sixteen_bars(tonic: int = 64) -> list[tuple[int, float, float]]:
    """16 bars of 4/4: the pop hook in four keys' worth of transpositions, a tune with a shape over 16 bars."""
    notes = []
    for section, shift in enumerate((0, 5, 7, 0, 0, 5, 2, 0)):
        notes += [(pitch + shift, start + 8.0 * section, end + 8.0 * section) for pitch, start, end in pop_hook(tonic)]
    return notes


@pytest.fixture(scope="module")
def section_space() -> SectionSpace:
    torch.set_num_threads(1)
    return SectionSpace.from_pretrained()


def mean_pitch(midi: bytes) -> float:
    tokens = midi_to_clip(midi).tokens
    return float(tokens[tokens < NUM_PITCHES].mean())


def test_a_bass_line_goes_to_the_bass_model_and_stays_in_the_bass_register(client: Client) -> None:
    notices = []
    bass = melody_midi(WALKING_BASS, program=33)
    clips = client.vary(bass, 3, similarity_distance=0.5, seed=4, on_notice=notices.append)
    (model,) = [n for n in notices if n.code == "model"]
    assert "bass register" in model.message and "2 bars" in model.message
    assert len(clips) == 3
    for clip in clips:
        assert mean_pitch(clip.midi) < 52, "a bass line's variation left the bass register"
        assert midi_to_clip(clip.midi).program == 33


def test_the_bass_family_takes_the_lowest_track_and_says_what_it_left(client: Client) -> None:
    notices = []
    clips = client.vary(BAND, 2, similarity_distance=0.3, seed=3, family="bass", on_notice=notices.append)
    assert all(midi_to_clip(clip.midi).program == 33 for clip in clips)
    (taken,) = [n for n in notices if n.code == "track_taken"]
    assert "1 'Bass'" in taken.message and "lowest" in taken.message
    assert "0 'Tune'" in taken.message and "2 'Kit'" in taken.message  # what was left out is named
    (model,) = [n for n in notices if n.code == "model"]
    assert "2-bar" in model.message and "named in the request" in model.message


def test_the_16_bar_model_varies_and_interpolates_whole_sections(client: Client, section_space: SectionSpace) -> None:
    long_a = melody_midi(sixteen_bars(64))
    long_b = melody_midi(sixteen_bars(60), program=0)
    notices = []
    clips = client.interpolate(long_a, long_b, 4, family="melody_16bar", on_notice=notices.append)
    assert len(clips) == 4
    assert [n.message.split(":")[0] for n in notices if n.code == "model"] == ["start", "end"]
    assert all("16-bar hierarchical" in n.message for n in notices if n.code == "model")
    decoded = [midi_to_clip(clip.midi) for clip in clips]
    assert all(clip.num_bars == 16 for clip in decoded)
    # the endpoints are the 16-bar model's reconstructions of the inputs
    assert np.array_equal(decoded[0].tokens, section_space.reconstruct(midi_to_clip(long_a)).tokens)
    assert np.array_equal(decoded[-1].tokens, section_space.reconstruct(midi_to_clip(long_b)).tokens)
    variations = client.vary(long_a, 2, similarity_distance=0.3, seed=9, family="melody_16bar")
    original = section_space.reconstruct(midi_to_clip(long_a)).tokens
    assert len(variations) == 2
    for clip in variations:
        tokens = midi_to_clip(clip.midi).tokens
        assert len(tokens) == 16 * 16 and not np.array_equal(tokens, original)


@pytest.mark.parametrize("call", [
    lambda c: c.vary(melody_midi(scale_run(bars=12)), 2, family="melody_16bar"),  # not whole 16-bar sections
    lambda c: c.vary(melody_midi(sixteen_bars()), 2, family="melody_16bar", shifts={"notes_per_bar": 1.0}),
    lambda c: c.vary(melody_midi(scale_run()), 2, family="strings"),
    lambda c: c.interpolate(melody_midi(scale_run()), melody_midi(scale_run()), 3, family="tuba"),
])
def test_a_family_that_cannot_read_the_request_is_invalid_argument(client: Client, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ServerError) as error:
        call(client)
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "16" in error.value.details or "family" in error.value.details


GROOVE = named_tracks_midi([("Kit", 0, True, DRUMS)])
OTHER_BAND = named_tracks_midi([("Lead", 81, False, scale_run(tonic=67)), ("Bass", 34, False, WALKING_BASS),
                                ("Kit", 0, True, [(36, i * 1.0, i * 1.0 + 0.1) for i in range(8)]
                                 + [(38, i * 2.0 + 1.0, i * 2.0 + 1.1) for i in range(4)])])


def instruments(midi: bytes) -> list[pretty_midi.Instrument]:
    return [inst for inst in pretty_midi.PrettyMIDI(io.BytesIO(midi)).instruments if inst.notes]


def test_a_drums_only_file_goes_to_the_drum_model(client: Client) -> None:
    notices = []
    clips = client.vary(GROOVE, 2, similarity_distance=0.4, seed=2, on_notice=notices.append)
    (model,) = [n for n in notices if n.code == "model"]
    assert "drum model" in model.message and "only drums" in model.message
    assert len(clips) == 2
    for clip in clips:
        tracks = instruments(clip.midi)
        assert tracks and all(inst.is_drum for inst in tracks)
        assert clip.requested.bars == 2


def test_a_trio_keeps_its_three_tracks_through_vary_and_interpolate(client: Client) -> None:
    from symbolic.latent.trio import TrioSpace
    from symbolic.latent.trio_representation import read_trio

    notices = []
    clips = client.vary(BAND, 2, similarity_distance=0.3, seed=5, on_notice=notices.append)
    (model,) = [n for n in notices if n.code == "model"]
    assert "trio model" in model.message and "track 0 as the melody" in model.message
    for clip in clips:
        melody, bass, drums = instruments(clip.midi)
        assert (melody.is_drum, bass.is_drum, drums.is_drum) == (False, False, True)
        assert (melody.program, bass.program) == (73, 33)
        assert np.mean([n.pitch for n in bass.notes]) < np.mean([n.pitch for n in melody.notes])
    blend = client.interpolate(BAND, OTHER_BAND, 3)
    assert all(len(instruments(clip.midi)) == 3 for clip in blend)
    space = TrioSpace.from_pretrained()
    for end, clip in ((BAND, blend[0]), (OTHER_BAND, blend[-1])):  # endpoints reconstruct their inputs
        expected = space.reconstruct(read_trio(end).clip)
        got = read_trio(clip.midi).clip
        assert np.array_equal(got.melody.tokens, expected.melody.tokens)
        assert np.array_equal(got.bass.tokens, expected.bass.tokens)
        assert np.array_equal(got.drums.tokens, expected.drums.tokens)
