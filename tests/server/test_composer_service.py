"""Composer over a real socket with the shipped checkpoint: musical facts of generated clips, text
parsing, continue/infill, describe, and the status codes of bad requests."""

from __future__ import annotations

import io

import grpc
import mido
import pretty_midi
import pytest

from protos.ostinato.v1 import composer_pb2
from server.client import Client, ServerError
from server.client.composer import make_attributes
from tests.conftest import make_midi

D_MAJOR = {2, 4, 6, 7, 9, 11, 1}


def _read(midi: bytes) -> pretty_midi.PrettyMIDI:
    parsed = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    parsed.raw_bytes = midi
    return parsed


def _bars(midi: pretty_midi.PrettyMIDI) -> float:
    """Bars up to the end of the file: our files end exactly on the last bar line (end-of-track)."""
    ts = midi.time_signature_changes[0]
    ticks_per_bar = midi.resolution * ts.numerator * 4.0 / ts.denominator
    parsed = mido.MidiFile(file=io.BytesIO(midi.raw_bytes))
    end_ticks = max(sum(message.time for message in track) for track in parsed.tracks)
    return end_ticks / ticks_per_bar


def test_generate_holds_bars_meter_tempo_instruments_and_key(client: Client) -> None:
    progress = []
    attributes = make_attributes(instruments=["fiddle", "acoustic bass", "drums"], key="D major",
                                 time_signature="6/8", tempo_bpm=172, bars=8)
    clip = client.generate(attributes, seed=11, on_progress=progress.append)
    midi = _read(clip.midi)
    assert [(ts.numerator, ts.denominator) for ts in midi.time_signature_changes] == [(6, 8)]
    assert midi.get_tempo_changes()[1].tolist() == pytest.approx([172.0])
    assert _bars(midi) == pytest.approx(8.0, abs=0.01)
    instruments = sorted((i.is_drum, i.program) for i in midi.instruments if i.notes)
    assert instruments == [(False, 32), (False, 40), (True, 0)]
    pitched = [n.pitch for i in midi.instruments if not i.is_drum for n in i.notes]
    in_key = sum(p % 12 in D_MAJOR for p in pitched) / len(pitched)
    assert in_key >= 0.9
    assert clip.measured.bars == 8 and clip.measured.tempo_bpm == pytest.approx(172)
    assert clip.seed == 11
    assert len(clip.note_sequence.notes) == sum(len(i.notes) for i in midi.instruments)
    assert progress and progress[-1].fraction == pytest.approx(1.0)


def test_generate_from_text_and_parse_text(client: Client) -> None:
    parsed = client.parse_text("a lively jig in D major for fiddle and flute, 4 bars")
    assert parsed.attributes.bars == 4 and parsed.attributes.style == "jig"
    assert {i.program for i in parsed.attributes.instruments} == {40, 73}
    assert parsed.attributes.key.tonic_pitch_class == 2 and parsed.attributes.key.mode == composer_pb2.MODE_MAJOR
    assert not parsed.ignored
    clip = client.generate(text="a waltz in G major for piano, 4 bars", seed=3)
    midi = _read(clip.midi)
    assert [(ts.numerator, ts.denominator) for ts in midi.time_signature_changes] == [(3, 4)]  # a waltz
    assert _bars(midi) == pytest.approx(4.0, abs=0.01)
    assert {i.program for i in midi.instruments if i.notes} == {0}


def test_continue_and_infill(client: Client) -> None:
    primer = make_midi(tempo_bpm=120.0)  # a C major scale in quarter notes: two bars of 4/4
    clip = client.continue_midi(primer, 2, seed=5)
    midi = _read(clip.midi)
    assert _bars(midi) == pytest.approx(4.0, abs=0.01)
    notes = sorted(midi.instruments[0].notes, key=lambda n: n.start)
    assert [n.pitch for n in notes[:8]] == [60, 62, 64, 65, 67, 69, 71, 72]
    assert {i.program for i in midi.instruments} == {0}
    infilled = client.infill(clip.midi, [2], seed=6)
    after = _read(infilled.midi)
    kept = sorted(n.pitch for i in after.instruments for n in i.notes if n.start < 4.0 - 1e-3)
    assert kept == [60, 62, 64, 65, 67, 69, 71, 72]
    def last_bar(parsed: pretty_midi.PrettyMIDI) -> list[tuple[float, int]]:
        return sorted((round(n.start, 3), n.pitch) for i in parsed.instruments for n in i.notes if n.start >= 6.0 - 1e-3)

    assert last_bar(after) == last_bar(midi)
    assert _bars(after) == pytest.approx(4.0, abs=0.01)


def test_describe_reports_attributes(client: Client) -> None:
    description = client.describe_midi(make_midi(tempo_bpm=90.0))
    assert len(description.note_sequence.notes) == 8
    assert description.attributes.tempo_bpm == pytest.approx(90.0)
    assert description.attributes.key.tonic_pitch_class == 0
    assert description.attributes.bars == 2  # six quarter notes at 90 bpm


@pytest.mark.parametrize("attributes, code", [
    (make_attributes(instruments=["kazoo orchestra"]), grpc.StatusCode.INVALID_ARGUMENT),
    (make_attributes(bars=0), grpc.StatusCode.INVALID_ARGUMENT),
    (make_attributes(bars=10_000), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (make_attributes(time_signature="7/16"), grpc.StatusCode.INVALID_ARGUMENT),
])
def test_bad_generate_requests(client: Client, attributes: composer_pb2.Attributes, code: grpc.StatusCode) -> None:
    with pytest.raises(ServerError) as raised:
        client.generate(attributes)
    assert raised.value.code == code


def test_bad_primers_and_text(client: Client) -> None:
    with pytest.raises(ServerError) as raised:
        client.continue_midi(b"MThd\x00\x00\x00\x06corrupt", 4)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(ServerError) as raised:
        client.continue_midi(make_midi(), 10_000)
    assert raised.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(ServerError) as raised:
        client.infill(make_midi(), [7])
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(ServerError) as raised:
        client.parse_text("x" * 1001)
    assert raised.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_best_of_n_candidates(client: Client) -> None:
    attributes = make_attributes(instruments=["flute"], key="E minor", time_signature="3/4", bars=4)
    clip = client.generate(attributes, seed=8, candidates=2)
    assert clip.measured.bars == 4 and [i.program for i in clip.measured.instruments] == [73]
    with pytest.raises(ServerError) as raised:
        client.generate(attributes, candidates=9)
    assert raised.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
