"""Accompanist over a real loopback socket with the shipped model: the stream's order and formats,
the output's length, rate and channels, the CLI, and status codes for every class of bad audio."""

from __future__ import annotations

import io
import struct
import wave
from pathlib import Path

import grpc
import numpy as np
import pytest
import soundfile

from audio_render.render import RenderOptions, render_midi
from audio_render.soundfonts import TIMGM6MB
from server.cli import main as cli_main
from server.client import Client, ServerError
from server.client.accompanist import (
    ROUTE_NAMES,
    AccompanyAudioBlock,
    AccompanyAudioStart,
    AccompanyProgress,
    AccompanySummary,
)
from tests.conftest import make_midi


def click_wav(rate: int = 44_100, channels: int = 2, beats: int = 12, tempo_bpm: float = 120.0) -> tuple[bytes, np.ndarray]:
    period = 60.0 / tempo_bpm
    notes = [(84 if i % 4 == 0 else 77, 0.5 + i * period, 0.58 + i * period) for i in range(beats)]
    options = RenderOptions(soundfont=TIMGM6MB, sample_rate_hz=rate, channels=channels, tail_s=0.5, reverb=None, chorus=None)
    samples = render_midi(make_midi(notes, program=115), options).samples
    return wav_bytes(samples, rate), samples


def wav_bytes(samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def header_wav(rate: int, frames: int, channels: int = 1) -> bytes:
    """A PCM WAV header that declares `frames` frames at `rate`, with only a few real samples."""
    data_bytes = frames * channels * 2
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", data_bytes) + b"\x01\x00" * 64
    return b"RIFF" + struct.pack("<I", min(0xFFFFFFFF, 4 + 24 + 8 + data_bytes)) + body


def flac_header(rate: int, frames: int, channels: int = 1, bits: int = 16) -> bytes:
    """A FLAC stream-information block that declares `frames` frames, and no audio after it."""
    info = (4096 << 256) | (4096 << 240) | (rate << 172) | ((channels - 1) << 169) | ((bits - 1) << 164) | (frames << 128)
    return b"fLaC" + bytes([0x80, 0, 0, 34]) + info.to_bytes(34, "big")


def test_stream_order_formats_and_length(client: Client) -> None:
    data, samples = click_wav()
    events = list(client.iter_accompany(data, part="drums", mix=True))
    kinds = [type(e) for e in events]
    assert kinds[0] is AccompanyProgress
    assert kinds[-1] is AccompanySummary and kinds.count(AccompanySummary) == 1
    formats = {e.stem: e for e in events if isinstance(e, AccompanyAudioStart)}
    assert set(formats) == {"drums", ""}
    first_block = kinds.index(AccompanyAudioBlock)
    assert max(kinds.index(AccompanyAudioStart), len(kinds) - 1 - kinds[::-1].index(AccompanyAudioStart)) < first_block
    for stem, fmt in formats.items():
        assert (fmt.sample_rate_hz, fmt.channels, fmt.total_frames) == (44_100, 2, samples.shape[0])
        blocks = [e for e in events if isinstance(e, AccompanyAudioBlock) and e.stem == stem]
        position = 0
        for block in blocks:
            assert block.start_frame == position
            position += len(block.pcm_s16le) // 4
        assert position == samples.shape[0]
        assert [b.last for b in blocks] == [False] * (len(blocks) - 1) + [True]
    summary = events[-1]
    assert summary.tempo_bpm == pytest.approx(120.0, rel=0.05)
    assert len(summary.beat_times_s) >= 8 and summary.first_chunk_s <= summary.compute_s


def test_drums_alone_follow_the_clicks_and_the_mix_holds_the_input(client: Client) -> None:
    import librosa

    data, samples = click_wav(rate=22_050, channels=1, beats=16, tempo_bpm=100.0)
    result = client.accompany(data, part="drums", mix=True)
    drums, mix = result.samples("drums"), result.samples("")
    assert drums.shape == mix.shape == samples.shape
    onsets = librosa.onset.onset_detect(y=drums[:, 0], sr=22_050, hop_length=256, units="time")
    beats = 0.5 + 0.6 * np.arange(16)
    assert np.mean([np.min(np.abs(onsets - b)) <= 0.07 for b in beats[2:]]) >= 0.8
    assert np.abs(mix - np.clip(samples + drums, -1, 1)).max() < 2e-3  # 16-bit rounding


def test_backing_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], server_address: str) -> None:
    notes = [(p, 0.3 + i * 0.4, 0.65 + i * 0.4) for i, p in enumerate([67, 71, 74, 72, 71, 69, 67, 66, 67, 74, 71, 67])]
    options = RenderOptions(soundfont=TIMGM6MB, sample_rate_hz=32_000, channels=1, tail_s=0.5, reverb=None, chorus=None)
    melody = render_midi(make_midi(notes, program=53), options).samples
    source = tmp_path / "melody.wav"
    source.write_bytes(wav_bytes(melody, 32_000))
    out = tmp_path / "backing.wav"
    assert cli_main(["accompany", str(source), "--part", "backing", "-o", str(out), "--mix", "--server", server_address]) == 0
    for path in (out, tmp_path / "backing.mix.wav"):
        with wave.open(str(path)) as written:
            assert (written.getframerate(), written.getnchannels(), written.getnframes()) == (32_000, 1, melody.shape[0])
    printed = capsys.readouterr().out
    assert "beats tracked" in printed and "heard: key G major" in printed  # the hybrid route by default


@pytest.mark.parametrize(("name", "payload", "code", "words"), [
    ("empty", b"", grpc.StatusCode.INVALID_ARGUMENT, "empty"),
    ("not audio", b"MThd\x00\x00\x00\x06" + b"\x00" * 64, grpc.StatusCode.INVALID_ARGUMENT, "WAV"),
    ("wrong header", b"RIFF\x10\x00\x00\x00WAVEjunk" + b"\x00" * 40, grpc.StatusCode.INVALID_ARGUMENT, ""),
    ("all silence", wav_bytes(np.zeros((44_100 * 3, 1), np.float32), 44_100), grpc.StatusCode.INVALID_ARGUMENT, "silent"),
    ("nan samples", wav_bytes(np.full((16_000 * 2, 1), np.nan, np.float32), 16_000, "FLOAT"), grpc.StatusCode.INVALID_ARGUMENT, "NaN"),
    ("inf samples", wav_bytes(np.r_[np.full(16_000, 0.1), [np.inf], np.full(16_000, 0.1)].astype(np.float32)[:, None], 16_000, "FLOAT"),
     grpc.StatusCode.INVALID_ARGUMENT, "infinite"),
    ("too short", wav_bytes(np.full((800, 1), 0.1, np.float32), 16_000), grpc.StatusCode.INVALID_ARGUMENT, "at least"),
    ("10 hours", flac_header(44_100, 44_100 * 36_000), grpc.StatusCode.RESOURCE_EXHAUSTED, "length"),
    ("10 hours of bytes", b"RIFF" + b"\x00" * (33 * 1024 * 1024), grpc.StatusCode.RESOURCE_EXHAUSTED, "MiB"),
    ("1 Hz", header_wav(1, 64), grpc.StatusCode.INVALID_ARGUMENT, "sample rate"),
    ("1 MHz", header_wav(1_000_000, 64), grpc.StatusCode.INVALID_ARGUMENT, "sample rate"),
])
def test_bad_audio_is_refused_with_a_clear_status(client: Client, name: str, payload: bytes, code: grpc.StatusCode, words: str) -> None:
    with pytest.raises(ServerError) as caught:
        client.accompany(payload, part="drums")
    assert caught.value.code == code, f"{name}: {caught.value}"
    assert words.lower() in caught.value.details.lower()


def test_unspecified_part_is_refused(client: Client) -> None:
    from protos.ostinato.v1 import accompanist_pb2, accompanist_pb2_grpc

    data, _ = click_wav(beats=4)
    stub = accompanist_pb2_grpc.AccompanistStub(client._channel)
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.Accompany(accompanist_pb2.AccompanyRequest(audio=data), timeout=60))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "PART_DRUMS" in caught.value.details()


def test_a_short_deadline_ends_the_call(client: Client) -> None:
    data, _ = click_wav(beats=60)
    with pytest.raises(ServerError) as caught:
        client.accompany(data, part="drums", timeout_s=0.3)
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


def melody_wav(rate: int = 44_100, channels: int = 2, transpose: int = 0) -> tuple[bytes, np.ndarray]:
    """A tune in G major (a fourth down with transpose=-5: D major), sung by 'voice oohs'."""
    tune = [67, 71, 74, 72, 71, 69, 67, 66, 67, 69, 71, 72, 74, 72, 71, 69, 67, 71, 69, 66, 67, 67]
    notes = [(p + transpose, 0.3 + i * 0.45, 0.7 + i * 0.45) for i, p in enumerate(tune)]
    options = RenderOptions(soundfont=TIMGM6MB, sample_rate_hz=rate, channels=channels, tail_s=0.5, reverb=None, chorus=None)
    samples = render_midi(make_midi(notes, program=53), options).samples
    return wav_bytes(samples, rate), samples


def test_backing_defaults_to_the_hybrid_route_and_is_in_the_melodys_key(client: Client) -> None:
    from audio_render.accompanist.train.evaluate import find_key, same_key
    from audio_render.chroma import resample

    data, samples = melody_wav(transpose=-5)
    result = client.accompany(data, part="backing", mix=True, seed=2)
    backing = result.samples("backing")
    assert backing.shape == result.samples("").shape == samples.shape
    assert ROUTE_NAMES[result.summary.route] == "composer" and "hybrid" in result.summary.model
    assert [n.code for n in result.notices] == ["hybrid"] and "Composer" in result.notices[0].message
    assert result.summary.key == "D major" and len(result.summary.chords) >= 2
    heard = find_key(resample(backing.mean(axis=1), 44_100, 16_000))
    assert same_key(heard, (2, "major")), f"the backing sounds in {heard}"


def test_token_route_stays_selectable_and_composer_drums_are_refused(client: Client) -> None:
    data, samples = melody_wav(rate=22_050, channels=1)
    result = client.accompany(data, part="backing", model="tokens")
    assert ROUTE_NAMES[result.summary.route] == "tokens" and "ostinato-accompanist" in result.summary.model
    assert result.samples("backing").shape == samples.shape and not result.notices
    with pytest.raises(ServerError) as caught:
        client.accompany(data, part="drums", model="composer")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT and "backing only" in caught.value.details
