"""MelodyGenerator over a real loopback socket with the shipped embedded model: stream order, the
melody actually followed, notices, status codes for bad input, deadlines, and the CLI."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import grpc
import numpy as np
import pytest
import soundfile

from audio_render.chroma import chroma_cosine_similarity
from server.cli import main as cli_main
from server.client import Client, ServerError
from server.client.melody import MelodyAudioBlock, MelodyAudioStart, MelodyNotice, MelodyProgress, MelodySummary
from tests.conftest import make_midi

A_MINOR_TUNE = [69, 72, 76, 74, 72, 71, 69, 64, 69, 72, 76, 81]


def tune_midi(seconds_per_note: float = 0.4) -> bytes:
    return make_midi([(p, i * seconds_per_note, (i + 0.9) * seconds_per_note) for i, p in enumerate(A_MINOR_TUNE)], program=73)


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_describe_the_embedded_model(client: Client) -> None:
    info = client.describe_melody_model()
    assert info.source == "embedded" and info.name == "ostinato-melody-small"
    assert (info.sample_rate_hz, info.frame_rate_hz) == (16_000, pytest.approx(31.25))
    assert info.window_s == pytest.approx(6.144)
    assert 1_000_000 < info.parameters < 10_000_000


def test_midi_in_streams_progress_format_chunks_then_summary(client: Client) -> None:
    events = list(client.iter_generate_from_melody(
        midi=tune_midi(), text="warm strings", duration_s=4.0, seed=3, chunk_frames=8192,
    ))
    kinds = [type(e) for e in events]
    assert kinds[0] is MelodyProgress
    assert kinds[-1] is MelodySummary and kinds.count(MelodySummary) == 1
    start = kinds.index(MelodyAudioStart)
    assert MelodyAudioBlock not in kinds[:start]
    header = events[start]
    blocks = [e for e in events if isinstance(e, MelodyAudioBlock)]
    assert (header.sample_rate_hz, header.channels) == (16_000, 1)
    position = 0
    for block in blocks:  # contiguous, in playback order, at most chunk_frames each
        assert block.start_frame == position and 0 < len(block.samples) <= 8192
        position += len(block.samples)
    assert position == header.total_frames == 4 * 16_000
    assert [b.last for b in blocks] == [False] * (len(blocks) - 1) + [True]
    summary = events[-1]
    assert summary.duration_s == pytest.approx(4.0)
    assert summary.model == "ostinato-melody-small" and summary.seed == 3
    assert 0.0 < summary.first_chunk_s <= summary.compute_s
    fractions = [e.fraction for e in events if isinstance(e, MelodyProgress)]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    audio = np.concatenate([b.samples for b in blocks])
    assert np.abs(audio).max() > 0.01  # not silence


def test_audio_in_the_output_follows_the_melody(client: Client) -> None:
    rate = 32_000
    t = np.arange(int(0.4 * rate)) / rate
    melody = np.concatenate([
        np.exp(-4 * t) * np.sin(2 * np.pi * 440 * 2 ** ((p - 69) / 12) * t) for p in A_MINOR_TUNE
    ]).astype(np.float32) * 0.4
    result = client.generate_from_melody(audio=wav_bytes(melody, rate), text="church organ", seed=1)
    assert result.sample_rate_hz == 16_000
    assert result.summary.duration_s == pytest.approx(len(melody) / rate, abs=0.04)  # 0 = melody length
    shifted = np.roll(melody, len(melody) // 2)  # same notes, other order: what chance looks like
    followed = chroma_cosine_similarity(melody, result.samples, 16_000, reference_sample_rate_hz=rate)
    assert result.summary.chroma_cosine == pytest.approx(followed, abs=0.02)
    assert followed > chroma_cosine_similarity(shifted, result.samples, 16_000, reference_sample_rate_hz=rate)


def test_drum_and_bass_removal_is_skipped_with_a_notice(client: Client) -> None:
    result = client.generate_from_melody(midi=tune_midi(), duration_s=1.0, remove_drums_and_bass=True)
    assert [n.code for n in result.notices] == ["separation_unavailable"]
    assert "demucs" in result.notices[0].message
    assert len(result.samples) == 16_000


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"audio": b"RIFF not really a wav"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"midi": b"MThd garbage"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"audio": wav_bytes(np.zeros(16_000, np.float32), 16_000)}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"midi": make_midi(), "duration_s": 500.0}, grpc.StatusCode.RESOURCE_EXHAUSTED),
        ({"midi": make_midi(), "text": "x" * 1001}, grpc.StatusCode.RESOURCE_EXHAUSTED),
        ({"midi": make_midi(), "guidance_scale": -1.0}, grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_bad_requests_get_status_codes(client: Client, kwargs: dict, code: grpc.StatusCode) -> None:
    with pytest.raises(ServerError) as raised:
        client.generate_from_melody(**kwargs)
    assert raised.value.code == code


def test_a_deadline_stops_a_long_generation(client: Client) -> None:
    import time

    started = time.monotonic()
    with pytest.raises(ServerError) as raised:
        client.generate_from_melody(midi=tune_midi(), duration_s=120.0, timeout_s=2.0)
    assert raised.value.code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)
    assert time.monotonic() - started < 10.0
    # the server is free again right after
    assert len(client.generate_from_melody(midi=tune_midi(), duration_s=1.0).samples) == 16_000


def test_cli_melody_from_a_midi_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    song = tmp_path / "song.mid"
    song.write_bytes(tune_midi())
    out = tmp_path / "out.wav"
    assert cli_main(["melody", str(song), "--text", "warm strings", "--duration", "2", "-o", str(out)]) == 0
    with wave.open(str(out)) as written:
        assert (written.getframerate(), written.getnchannels()) == (16_000, 1)
        assert written.getnframes() == 2 * 16_000
    assert "chroma cosine" in capsys.readouterr().out
