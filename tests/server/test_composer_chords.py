"""Chords and roles through the server: a given progression comes back and is followed, chords read
from a MIDI clip, roles shown back, and bad chords or roles are INVALID_ARGUMENT naming the problem."""

from __future__ import annotations

import grpc
import pytest

from protos.ostinato.v1 import composer_pb2
from server.client import Client, ServerError
from server.client.composer import make_attributes
from symbolic.attributes import NoteTable
from symbolic.evaluate_external import judge
from symbolic.midi_io import table_to_midi


def test_a_given_progression_is_returned_and_followed(client: Client) -> None:
    attributes = make_attributes(instruments=["piano", "electric bass", "drums"], time_signature="4/4", bars=8,
                                 tempo_bpm=100, chords="Am F C G")
    clip = client.generate(attributes, seed=3)
    assert clip.requested.chords == "Am F C G Am F C G"
    followed, judged = judge(clip.midi, clip.requested.chords.split()).chord_beats
    assert judged == 32 and followed >= 28
    roles = {i.name: i.role for i in clip.requested.instruments}
    assert roles["electric bass (finger)"] == composer_pb2.ROLE_BASS
    assert roles["drums"] == composer_pb2.ROLE_DRUMS


def test_sampled_chords_are_returned_and_close_on_the_tonic(client: Client) -> None:
    clip = client.generate(make_attributes(instruments=["strings", "flute", "cello"], key="D major", bars=4), seed=5)
    chords = clip.requested.chords.split()
    assert len(chords) == 4 and chords[-1] == "D"


def test_chords_from_a_midi_clip(client: Client) -> None:
    import numpy as np

    # four bars of held triads: G, Em, C, D
    roots = [(55, 59, 62), (52, 55, 59), (48, 52, 55), (50, 54, 57)]
    onset = np.repeat(np.arange(4) * 4.0, 3)
    pitch = np.array([p for chord in roots for p in chord])
    table = NoteTable(onset, np.full(12, 4.0), pitch, np.zeros(12, dtype=int), np.full(12, 80))
    clip = client.generate(make_attributes(instruments=["acoustic guitar", "flute"]), seed=2,
                           chords_midi=table_to_midi(table, (4, 4), 90.0, bars=4))
    assert clip.requested.chords == "G Em C D"
    assert clip.requested.bars == 4


def test_a_role_can_be_chosen_and_shown_back(client: Client) -> None:
    clip = client.generate(make_attributes(instruments=["piano", "cello"], bars=2, roles={"cello": "bass"}), seed=1)
    roles = {i.name: i.role for i in clip.requested.instruments}
    assert roles["cello"] == composer_pb2.ROLE_BASS


@pytest.mark.parametrize("attributes, message", [
    (make_attributes(instruments=["piano"], bars=4, chords="C G H7 F"), "chord 3 'H7'"),
    (make_attributes(instruments=["piano"], bars=2, chords="C G Am"), "3 chords were given for 2 bars"),
    (make_attributes(instruments=["flute", "piano"], bars=2, roles={"flute": "bass"}), "cannot play the bass role"),
])
def test_bad_chords_and_roles(client: Client, attributes: composer_pb2.Attributes, message: str) -> None:
    with pytest.raises(ServerError) as raised:
        client.generate(attributes)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert message in str(raised.value)
