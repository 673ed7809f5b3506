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

from ostinato.errors import InvalidInput
from ostinato.limits import echo
from ostinato.midi_scan import scan_audio
from ostinato.runtime import CancelToken

_S16_SCALE = 32767.0


def decode_audio(data: bytes, *, max_duration_s: float | None = None,
                 cancel: CancelToken | None = None) -> tuple[np.ndarray, int]:
    """Decodes WAV or FLAC bytes, after checking their header against ostinato.limits.

    Args:
        data: the encoded file's bytes.
        max_duration_s: refuse longer audio (LimitExceeded) before decoding it.
        cancel: checked between blocks of about a second of audio.

    Returns:
        (samples float32 (frames, channels) in [-1, 1], sample_rate_hz)

    Raises:
        InvalidInput: empty, not WAV/FLAC, undecodable, or holding NaN/inf samples.
        LimitExceeded: longer than max_duration_s, or a sample rate / channel count / size out of bounds.
    """
    summary = scan_audio(data, max_duration_s=max_duration_s)
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as f:
            if f.samplerate != summary.sample_rate_hz or f.channels != summary.channels:
                raise InvalidInput("The audio header is inconsistent: send a plain WAV or FLAC file.")
            frames = min(int(f.frames), summary.frames)
            samples = np.empty((frames, summary.channels), dtype=np.float32)
            block = max(4096, summary.sample_rate_hz)
            done = 0
            while done < frames:
                if cancel is not None:
                    cancel.check()
                count = min(block, frames - done)
                read = f.read(count, dtype="float32", always_2d=True, out=samples[done:done + count])
                if len(read) == 0:
                    break
                done += len(read)
            samples = samples[:done]
            sample_rate_hz = int(f.samplerate)
    except RuntimeError as exc:  # soundfile.LibsndfileError and its kin
        raise InvalidInput(f"The audio cannot be decoded ({echo(exc)}): send a WAV or FLAC file.") from exc
    if samples.shape[0] == 0:
        raise InvalidInput("The audio file holds no samples.")
    if not np.isfinite(samples).all():
        raise InvalidInput("The audio holds NaN or infinite samples: send finite audio.")
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


# Peaks above the threshold are bent smoothly towards the ceiling instead of being clipped.
LIMITER_THRESHOLD = 0.9
LIMITER_CEILING = 0.99


def limit_peaks(samples: np.ndarray, threshold: float = LIMITER_THRESHOLD,
                ceiling: float = LIMITER_CEILING) -> np.ndarray:
    """A memoryless soft limiter: samples within +-threshold pass unchanged, louder ones are bent
    (tanh) into (threshold, ceiling), so the output never clips. Returns a new array when anything
    was over the threshold, else `samples` itself."""
    magnitude = np.abs(samples)
    over = magnitude > threshold
    if not over.any():
        return samples
    headroom = ceiling - threshold
    limited = np.array(samples, dtype=np.float32, copy=True)
    bent = threshold + headroom * np.tanh((magnitude[over] - threshold) / headroom)
    limited[over] = np.copysign(bent, limited[over])
    return limited


def to_pcm_s16le(samples: np.ndarray) -> bytes:
    """Float samples (frames, channels) -> interleaved signed 16-bit little-endian bytes; peaks over
    LIMITER_THRESHOLD are soft-limited (see limit_peaks), never clipped."""
    scaled = np.multiply(limit_peaks(_as_2d(samples)), _S16_SCALE, dtype=np.float32)
    np.clip(scaled, -32768.0, 32767.0, out=scaled)
    return np.rint(scaled, out=scaled).astype("<i2").tobytes()


def from_pcm_s16le(data: bytes, channels: int) -> np.ndarray:
    """Interleaved s16le bytes -> float32 (frames, channels)."""
    pcm = np.frombuffer(data, dtype="<i2")
    if pcm.size % channels:
        raise InvalidInput(f"PCM data of {len(data)} bytes is not a whole number of {channels}-channel frames.")
    return (pcm.astype(np.float32) / _S16_SCALE).reshape(-1, channels)


def encode_wav(samples: np.ndarray, sample_rate_hz: int, subtype: str = "PCM_16") -> bytes:
    """Float samples (frames, channels) -> WAV file bytes (16-bit PCM unless `subtype` says, e.g. "FLOAT");
    integer formats are soft-limited (see limit_peaks) rather than clipped."""
    buf = io.BytesIO()
    audio = _as_2d(samples) if subtype.upper() in ("FLOAT", "DOUBLE") else limit_peaks(_as_2d(samples))
    soundfile.write(buf, audio, sample_rate_hz, subtype=subtype, format="WAV")
    return buf.getvalue()


def write_wav(path: str | Path, samples: np.ndarray, sample_rate_hz: int, subtype: str = "PCM_16") -> None:
    """Writes float samples to a WAV file (integer formats soft-limited, see limit_peaks)."""
    audio = _as_2d(samples) if subtype.upper() in ("FLOAT", "DOUBLE") else limit_peaks(_as_2d(samples))
    soundfile.write(str(path), audio, sample_rate_hz, subtype=subtype, format="WAV")


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
