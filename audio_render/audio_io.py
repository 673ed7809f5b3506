"""Audio bytes <-> float32 numpy arrays (frames, channels), with soundfile (libsndfile).

    samples, sample_rate_hz = decode_audio(wav_or_flac_bytes, max_duration_s=300)
    wav_bytes = encode_wav(samples, sample_rate_hz)            # 16-bit PCM WAV
    pcm = to_pcm_s16le(samples)                                 # raw interleaved s16le, as AudioChunk.data
    samples = from_pcm_s16le(pcm, channels=2)
    mono_32k = resample(to_mono(samples), sample_rate_hz, 32_000)
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile

from ostinato.errors import InvalidInput, LimitExceeded

_S16_SCALE = 32767.0


def decode_audio(data: bytes, *, max_duration_s: float | None = None) -> tuple[np.ndarray, int]:
    """Decodes WAV/FLAC/OGG (anything libsndfile reads) bytes.

    Args:
        data: the encoded file's bytes.
        max_duration_s: refuse longer audio (LimitExceeded) before decoding it.

    Returns:
        (samples float32 (frames, channels) in [-1, 1], sample_rate_hz)

    Raises:
        InvalidInput: empty or undecodable bytes. LimitExceeded: longer than max_duration_s.
    """
    if not data:
        raise InvalidInput("The audio data is empty: send the bytes of a WAV or FLAC file.")
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as f:
            duration_s = f.frames / f.samplerate if f.samplerate else 0.0
            if max_duration_s is not None and duration_s > max_duration_s:
                raise LimitExceeded("input audio length", round(duration_s, 1), max_duration_s, "s")
            samples = f.read(dtype="float32", always_2d=True)
            sample_rate_hz = int(f.samplerate)
    except soundfile.LibsndfileError as exc:
        raise InvalidInput(f"The audio cannot be decoded ({exc}): send a WAV or FLAC file.") from exc
    if samples.shape[0] == 0:
        raise InvalidInput("The audio file holds no samples.")
    return samples, sample_rate_hz


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Reads an audio file from disk; see decode_audio."""
    return decode_audio(Path(path).read_bytes())


def _as_2d(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples)
    if samples.ndim == 1:
        return samples[:, None]
    if samples.ndim != 2:
        raise ValueError(f"audio must be (frames,) or (frames, channels), got shape {samples.shape}")
    return samples


def to_pcm_s16le(samples: np.ndarray) -> bytes:
    """Float samples (frames, channels) -> interleaved signed 16-bit little-endian bytes (clipped)."""
    scaled = np.multiply(_as_2d(samples), _S16_SCALE, dtype=np.float32)
    np.clip(scaled, -32768.0, 32767.0, out=scaled)
    return np.rint(scaled, out=scaled).astype("<i2").tobytes()


def from_pcm_s16le(data: bytes, channels: int) -> np.ndarray:
    """Interleaved s16le bytes -> float32 (frames, channels)."""
    pcm = np.frombuffer(data, dtype="<i2")
    if pcm.size % channels:
        raise InvalidInput(f"PCM data of {len(data)} bytes is not a whole number of {channels}-channel frames.")
    return (pcm.astype(np.float32) / _S16_SCALE).reshape(-1, channels)


def encode_wav(samples: np.ndarray, sample_rate_hz: int, subtype: str = "PCM_16") -> bytes:
    """Float samples (frames, channels) -> WAV file bytes (16-bit PCM unless `subtype` says, e.g. "FLOAT")."""
    buf = io.BytesIO()
    soundfile.write(buf, _as_2d(samples), sample_rate_hz, subtype=subtype, format="WAV")
    return buf.getvalue()


def write_wav(path: str | Path, samples: np.ndarray, sample_rate_hz: int, subtype: str = "PCM_16") -> None:
    """Writes float samples to a WAV file."""
    soundfile.write(str(path), _as_2d(samples), sample_rate_hz, subtype=subtype, format="WAV")


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(frames, channels) -> (frames, 1) by averaging the channels."""
    samples = _as_2d(samples)
    if samples.shape[1] == 1:
        return samples.astype(np.float32, copy=False)
    return samples.mean(axis=1, keepdims=True, dtype=np.float32)


def resample(samples: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Band-limited polyphase resampling (scipy), along the frame axis."""
    if from_hz == to_hz:
        return _as_2d(samples).astype(np.float32, copy=False)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(from_hz), int(to_hz))
    out = resample_poly(_as_2d(samples), int(to_hz) // g, int(from_hz) // g, axis=0)
    return out.astype(np.float32, copy=False)
