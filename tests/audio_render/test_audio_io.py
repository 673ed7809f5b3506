"""Audio bytes <-> float arrays, and SoundFont discovery."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile

from audio_render.audio_io import decode_audio, encode_wav, from_pcm_s16le, resample, to_mono, to_pcm_s16le
from audio_render.soundfonts import FLUIDR3_GM, TIMGM6MB, list_soundfonts, resolve_soundfont
from ostinato.errors import InvalidInput, LimitExceeded, MissingAsset


def _tone(hz: float = 440.0, seconds: float = 0.5, sample_rate_hz: int = 16_000) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate_hz)) / sample_rate_hz
    left = 0.5 * np.sin(2 * np.pi * hz * t)
    return np.stack([left, -left], axis=1).astype(np.float32)


def test_wav_round_trip_keeps_samples_within_16_bit_precision() -> None:
    tone = _tone()
    decoded, sample_rate_hz = decode_audio(encode_wav(tone, 16_000))
    assert sample_rate_hz == 16_000 and decoded.shape == tone.shape and decoded.dtype == np.float32
    assert np.max(np.abs(decoded - tone)) < 1 / 32767 + 1e-6


def test_flac_decodes() -> None:
    buffer = io.BytesIO()
    soundfile.write(buffer, _tone(), 16_000, format="FLAC")
    decoded, _ = decode_audio(buffer.getvalue())
    assert np.max(np.abs(decoded - _tone())) < 1e-4


def test_pcm_s16le_is_interleaved_limited_and_round_trips() -> None:
    samples = np.array([[0.0, 0.25], [-0.75, 0.5], [0.5, -0.25]], dtype=np.float32)
    pcm = to_pcm_s16le(samples)
    assert np.frombuffer(pcm, "<i2").tolist() == [0, 8192, -24575, 16384, 16384, -8192]
    back = from_pcm_s16le(pcm, channels=2)
    assert back.shape == (3, 2) and back[0, 1] == pytest.approx(0.25, abs=1e-4)
    # over the limiter's threshold: bent below full scale, in order, never clipped flat
    loud = np.frombuffer(to_pcm_s16le(np.array([[0.95], [1.0], [2.0], [-3.0]], dtype=np.float32)), "<i2")
    assert 0.9 * 32767 < loud[0] < loud[1] < loud[2] < 32767 and -32767 < loud[3] < -0.9 * 32767


def test_bad_or_long_audio_is_refused() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        decode_audio(b"")
    with pytest.raises(InvalidInput, match="not a WAV or FLAC"):
        decode_audio(b"MThd not audio at all")
    with pytest.raises(LimitExceeded, match="input audio length"):
        decode_audio(encode_wav(_tone(seconds=2.0), 16_000), max_duration_s=1.0)


def test_mono_and_resample_keep_the_pitch() -> None:
    mono = to_mono(_tone(hz=440.0) + np.array([0.0, 1.0], dtype=np.float32))  # right = 1 - left
    assert mono.shape == (8000, 1) and np.allclose(mono, 0.5, atol=1e-6)
    up = resample(_tone(hz=440.0), 16_000, 32_000)[:, 0]
    assert len(up) == 16_000
    spectrum = np.abs(np.fft.rfft(up))
    assert np.fft.rfftfreq(len(up), 1 / 32_000)[np.argmax(spectrum)] == pytest.approx(440.0, abs=2.0)


def test_soundfonts_are_listed_once_with_the_default_flagged() -> None:
    found = {sf.name: sf for sf in list_soundfonts(default="TimGM6mb")}
    assert {"FluidR3_GM", "TimGM6mb"} <= set(found)
    assert "default-GM" not in found  # Debian's symlink to FluidR3_GM is not listed twice
    assert found["TimGM6mb"].is_default and not found["FluidR3_GM"].is_default
    assert found["TimGM6mb"].size_bytes == TIMGM6MB.stat().st_size


def test_soundfonts_resolve_by_name_or_path_and_paths_can_be_restricted(tmp_path: Path) -> None:
    assert resolve_soundfont("timgm6mb") == TIMGM6MB
    assert resolve_soundfont("") == FLUIDR3_GM
    assert resolve_soundfont(str(TIMGM6MB), restrict=True) == TIMGM6MB
    outside = tmp_path / "Mine.sf2"
    outside.write_bytes(TIMGM6MB.read_bytes()[:1024])
    assert resolve_soundfont(str(outside)) == outside  # a local caller may point anywhere
    with pytest.raises(InvalidInput, match="outside the server's SoundFont folders"):
        resolve_soundfont(str(outside), restrict=True)
    with pytest.raises(InvalidInput, match="outside"):
        resolve_soundfont("/usr/share/sounds/sf2/../../../../etc/x.sf2", restrict=True)
    with pytest.raises(InvalidInput, match="not a SoundFont"):
        resolve_soundfont("/etc/passwd")
    with pytest.raises(MissingAsset, match="No SoundFont named 'Nope'; available: FluidR3_GM, TimGM6mb"):
        resolve_soundfont("Nope")
