"""Composer.Vary and Composer.Interpolate through a real server on loopback, and their CLI commands."""

from __future__ import annotations

import io
from pathlib import Path

import grpc
import numpy as np
import pretty_midi
import pytest
import torch

from server.cli import main as cli_main
from server.client import Client, ServerError
from symbolic.latent.representation import midi_to_clip
from symbolic.latent.space import LatentSpace
from tests.symbolic.latent.clips import jig, melody_midi, scale_run
from tests.symbolic.latent.test_representation import BASS, DRUMS, named_tracks_midi

SCALE = melody_midi(scale_run((4, 4)), tempo_bpm=100.0)
JIG = melody_midi(jig(), time_signature=(6, 8), tempo_bpm=140.0, program=40)


@pytest.fixture(scope="module")
def space() -> LatentSpace:
    torch.set_num_threads(1)
    return LatentSpace.from_pretrained()


def test_interpolate_streams_progress_and_keeps_the_endpoints(client: Client, space: LatentSpace) -> None:
    progress = []
    clips = client.interpolate(SCALE, JIG, 5, on_progress=progress.append)
    assert len(clips) == 5
    assert progress and progress[-1].fraction == pytest.approx(1.0)
    first, last = midi_to_clip(clips[0].midi), midi_to_clip(clips[-1].midi)
    assert np.array_equal(first.tokens, space.reconstruct(midi_to_clip(SCALE)).tokens)
    assert np.array_equal(last.tokens, space.reconstruct(midi_to_clip(JIG)).tokens)
    assert (first.time_signature.numerator, first.time_signature.denominator) == (4, 4)
    assert (last.time_signature.numerator, last.time_signature.denominator) == (6, 8)
    assert first.tempo_bpm == pytest.approx(100.0, abs=0.01) and last.tempo_bpm == pytest.approx(140.0, abs=0.01)
    for clip in clips:
        assert clip.requested.bars == 2 and clip.measured.bars == 2
        assert clip.note_sequence.time_signatures[0].numerator in (4, 6)
        assert len(clip.note_sequence.notes) == len(pretty_midi.PrettyMIDI(io.BytesIO(clip.midi)).instruments[0].notes)


def test_vary_returns_distinct_clips_in_the_input_meter(client: Client, space: LatentSpace) -> None:
    waltz = melody_midi(scale_run((3, 4), step_q=1.0), time_signature=(3, 4), tempo_bpm=90.0)
    clips = client.vary(waltz, 3, similarity_distance=0.4, seed=11)
    original = space.reconstruct(midi_to_clip(waltz)).tokens
    assert len(clips) == 3 and all(clip.seed == 11 for clip in clips)
    for clip in clips:
        decoded = midi_to_clip(clip.midi)
        assert (decoded.time_signature.numerator, decoded.time_signature.denominator) == (3, 4)
        assert decoded.tempo_bpm == pytest.approx(90.0, abs=0.01)
        assert not np.array_equal(decoded.tokens, original)
        assert clip.measured.time_signature.numerator == 3
    assert client.vary(waltz, 3, similarity_distance=0.4, seed=11)[0].midi == clips[0].midi


@pytest.mark.parametrize("call,code", [
    (lambda c: c.interpolate(SCALE, JIG, 0), grpc.StatusCode.INVALID_ARGUMENT),
    (lambda c: c.interpolate(SCALE, JIG, 1), grpc.StatusCode.INVALID_ARGUMENT),
    (lambda c: c.vary(SCALE, 2, track="Vocals"), grpc.StatusCode.INVALID_ARGUMENT),
    (lambda c: c.interpolate(SCALE, JIG, 4, end_track=3), grpc.StatusCode.INVALID_ARGUMENT),
    (lambda c: c.interpolate(SCALE, JIG, 17), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (lambda c: c.interpolate(b"garbage, not MIDI", JIG, 4), grpc.StatusCode.INVALID_ARGUMENT),
    (lambda c: c.interpolate(SCALE, b"", 4), grpc.StatusCode.INVALID_ARGUMENT),
    (lambda c: c.interpolate(SCALE, melody_midi([]), 4), grpc.StatusCode.INVALID_ARGUMENT),
    (lambda c: c.interpolate(SCALE, melody_midi(scale_run(bars=65)), 4), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (lambda c: c.vary(SCALE, 0), grpc.StatusCode.INVALID_ARGUMENT),
    (lambda c: c.vary(SCALE, 17), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (lambda c: c.vary(SCALE, 2, similarity_distance=2.0), grpc.StatusCode.INVALID_ARGUMENT),
    (lambda c: c.vary(SCALE, 2, temperature=9.0), grpc.StatusCode.INVALID_ARGUMENT),
    (lambda c: c.vary(SCALE, 2, shifts={"loudness": 1.0}), grpc.StatusCode.INVALID_ARGUMENT),
    (lambda c: c.vary(b"MThd\x00\x00\x00\x06\x00\x01", 2), grpc.StatusCode.INVALID_ARGUMENT),
])
def test_bad_requests_get_status_codes(client: Client, call, code: grpc.StatusCode) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ServerError) as error:
        call(client)
    assert error.value.code == code
    assert error.value.details


def test_long_clips_are_varied_piece_by_piece(client: Client) -> None:
    eight_bars = melody_midi(scale_run(bars=8), tempo_bpm=100.0)
    clips = client.vary(eight_bars, 2, similarity_distance=0.3, seed=5)
    assert [midi_to_clip(clip.midi).num_bars for clip in clips] == [8, 8]
    assert [clip.measured.bars for clip in clips] == [8, 8]


def test_cli_interpolate_and_vary_write_midi_files(server_address: str, tmp_path: Path) -> None:
    start, end = tmp_path / "a.mid", tmp_path / "b.mid"
    start.write_bytes(SCALE)
    end.write_bytes(JIG)
    assert cli_main(["interpolate", str(start), str(end), "--steps", "3", "-o", str(tmp_path / "blend"),
                     "--server", server_address]) == 0
    written = sorted((tmp_path / "blend").glob("*.mid"))
    assert len(written) == 3
    assert midi_to_clip(written[-1].read_bytes()).time_signature.numerator == 6
    assert cli_main(["vary", str(start), "-n", "2", "--distance", "0.5", "--shift", "notes_per_bar=1",
                     "-o", str(tmp_path / "vars"), "--server", server_address]) == 0
    assert len(list((tmp_path / "vars").glob("*.mid"))) == 2


TRIO = named_tracks_midi([("Tune", 73, False, scale_run()), ("Bass", 33, False, BASS), ("Kit", 0, True, DRUMS)])


def test_multi_track_vary_names_the_track_taken_and_honours_a_named_track(client: Client) -> None:
    notices = []
    clips = client.vary(TRIO, 2, similarity_distance=0.3, seed=3, family="melody", on_notice=notices.append)
    assert len(clips) == 2
    (taken,) = [n for n in notices if n.code == "track_taken"]
    assert "0 'Tune'" in taken.message and "1 'Bass'" in taken.message and "2 'Kit'" in taken.message
    assert [n.code for n in notices][:2] == ["model", "track_taken"]  # the melody model asked for: left-outs said
    assert all(midi_to_clip(clip.midi).program == 73 for clip in clips)
    bass_notices = []
    bass_clips = client.vary(TRIO, 2, similarity_distance=0.3, seed=3, track="Bass", on_notice=bass_notices.append)
    assert "named in the request" in [n for n in bass_notices if n.code == "track_taken"][0].message
    assert all(midi_to_clip(clip.midi).program == 33 for clip in bass_clips)


def test_interpolate_reads_each_end_by_its_track_and_says_so(client: Client) -> None:
    notices = []
    clips = client.interpolate(TRIO, TRIO, 3, start_track="1", end_track="Tune", on_notice=notices.append)
    assert midi_to_clip(clips[0].midi).program == 33 and midi_to_clip(clips[-1].midi).program == 73
    assert [n.message.split(":")[0] for n in notices if n.code == "track_taken"] == ["start", "end"]


def test_a_chordal_input_gets_a_notice(client: Client) -> None:
    chords = [(p, bar * 2.0, bar * 2.0 + 2.0) for bar in range(4) for p in (60 + bar, 64 + bar, 67 + bar)]
    notices = []
    client.vary(melody_midi(chords, program=0), 1, similarity_distance=0.3, seed=2, on_notice=notices.append)
    assert [n.code for n in notices] == ["model", "chords_reduced"]


def test_cli_takes_a_track_and_refuses_one_step(server_address: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    trio = tmp_path / "trio.mid"
    trio.write_bytes(TRIO)
    assert cli_main(["vary", str(trio), "-n", "1", "--track", "Bass", "-o", str(tmp_path / "bass"),
                     "--server", server_address]) == 0
    (written,) = (tmp_path / "bass").glob("*.mid")
    assert midi_to_clip(written.read_bytes()).program == 33
    assert "notice (track_taken)" in capsys.readouterr().err
    assert cli_main(["interpolate", str(trio), str(trio), "--steps", "1", "-o", str(tmp_path / "one"),
                     "--server", server_address]) == 1
    assert "INVALID_ARGUMENT" in capsys.readouterr().err
