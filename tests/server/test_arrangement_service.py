"""The Arranger service over a real socket: sections stream in order before the piece, audio comes as
the mix and one stem per track, the cache round-trips, bad files are INVALID_ARGUMENT naming the line."""

from __future__ import annotations

import json

import grpc
import pytest
import symusic

from server.client import Client, ServerError

PIECE = """
[piece]
tempo_bpm = 132
key = "G major"
seed = 4

[[tracks]]
name = "tune"
instrument = "violin"

[[tracks]]
name = "bass"
instrument = "cello"

[[tracks]]
name = "drums"
instrument = "drums"
source = "groove"

[[sections]]
name = "A"
bars = 4
tracks = ["tune", "bass"]

[[sections]]
name = "B"
bars = 4
key = "E minor"
enter = ["drums"]
"""


def test_arrange_streams_sections_then_piece_and_audio(client: Client) -> None:
    order: list[str] = []
    result = client.arrange(PIECE, render_audio=True, stems=True,
                            on_section=lambda section: order.append(section.name))
    assert order == ["A", "B"]
    first, second = result.sections
    assert (first.start_bar, first.bars, second.start_bar, second.bars) == (0, 4, 4, 4)
    assert second.key == "E minor" and second.start_s == pytest.approx(4 * 4 * 60 / 132)
    assert {t.name for t in second.tracks} == {"tune", "bass", "drums"}
    assert all(t.bars_with_notes >= 3 for t in second.tracks), second.tracks
    alone = symusic.Score.from_midi(second.midi)  # each section is a playable file of its own
    assert [m.text for m in alone.markers] == ["B", "end"]
    piece = result.piece
    assert piece is not None and piece.bars == 8 and piece.overview_png[:4] == b"\x89PNG"
    assert [s["name"] for s in json.loads(piece.summary_json)["sections"]] == ["A", "B"]
    assert set(result.audio) == {"", "tune", "bass", "drums"}
    mix = result.audio[""]
    assert mix.shape[1] == 2 and mix.shape[0] >= piece.duration_s * result.sample_rate_hz
    assert float(abs(mix).max()) > 0.01


def test_cache_round_trip(client: Client) -> None:
    first = client.arrange(PIECE)
    cache = {s.cache_key: s.cache_entry for s in first.sections}
    again = client.arrange(PIECE, cache=cache)
    assert [s.cached for s in again.sections] == [True, True]
    assert again.piece.midi == first.piece.midi
    edited = client.arrange(PIECE.replace('key = "E minor"', 'key = "B minor"'), cache=cache)
    assert [s.cached for s in edited.sections] == [True, False]


def test_invalid_arrangement_is_invalid_argument_with_line(client: Client) -> None:
    with pytest.raises(ServerError) as raised:
        client.arrange(PIECE.replace("bars = 4\nkey", "bars = -2\nkey"))
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "arrangement.toml:27: sections[1].bars" in raised.value.details
    checked = client.validate_arrangement(PIECE.replace('instrument = "cello"', 'instrument = "cellophane"'))
    assert not checked.valid
    assert [(p.line, p.field) for p in checked.problems] == [(13, "tracks[1].instrument")]
    assert client.validate_arrangement(PIECE).sections == ["A", "B"]


def test_transcribe_rpc(client: Client) -> None:
    pytest.importorskip("basic_pitch")
    from audio_render.audio_io import encode_wav
    from audio_render.render import RenderOptions, render_midi

    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, 120.0))
    track = symusic.Track("m", 73, False)
    for index, pitch in enumerate([60, 64, 67, 72]):
        track.notes.append(symusic.Note(index * 480, 450, pitch, 100))
    score.tracks.append(track)
    audio = render_midi(bytes(score.dumps_midi()), RenderOptions(soundfont="TimGM6mb", sample_rate_hz=22_050,
                                                                 channels=1, reverb=None, chorus=None))
    result = client.transcribe(encode_wav(audio.samples, audio.sample_rate_hz), tempo_bpm=120, program=73)
    notes = symusic.Score.from_midi(result.midi).tracks[0].notes
    assert [(n.time // 120, n.pitch) for n in notes] == [(0, 60), (4, 64), (8, 67), (12, 72)]
    with pytest.raises(ServerError) as raised:
        client.transcribe(b"not audio")
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
