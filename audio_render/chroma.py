"""The melody bottleneck of MusicGen-melody: an argmax one-hot chromagram.

Defined exactly as audiocraft's `ChromaExtractor` (and transformers' `MusicgenMelodyFeatureExtractor`)
compute it for the published model: mono audio at 32 kHz, power STFT with a periodic Hann window of
n_fft = win_length = 2^14 samples, hop 4096 (7.8125 frames per second), centred with reflect padding and
"window" normalisation, librosa's 12-bin chroma filter bank (tuning 0), each frame divided by its maximum
(max-norm with eps 1e-6), then one-hot at the argmax. Only the dominant pitch class of each frame survives,
which is what lets the model follow a melody without copying its timbre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ostinato.errors import InvalidInput

CHROMA_SAMPLE_RATE_HZ = 32_000
CHROMA_N_FFT = 2**14
CHROMA_HOP = 4096
NUM_CHROMA = 12
CHROMA_FRAME_RATE_HZ = CHROMA_SAMPLE_RATE_HZ / CHROMA_HOP  # 7.8125
PITCH_CLASS_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass(frozen=True)
class ChromaConfig:
    """Parameters of the chromagram; the defaults are the published musicgen-melody ones."""

    sample_rate_hz: int = CHROMA_SAMPLE_RATE_HZ
    n_fft: int = CHROMA_N_FFT
    hop_length: int = CHROMA_HOP
    num_chroma: int = NUM_CHROMA

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate_hz / self.hop_length


@lru_cache(maxsize=4)
def _filter_bank(sample_rate_hz: int, n_fft: int, num_chroma: int) -> torch.Tensor:
    import librosa  # imported lazily: its first use JIT-compiles for seconds

    bank = librosa.filters.chroma(sr=sample_rate_hz, n_fft=n_fft, tuning=0.0, n_chroma=num_chroma)
    return torch.from_numpy(np.asarray(bank, dtype=np.float32))


@lru_cache(maxsize=4)
def _window(n_fft: int) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """(frames,) or (frames, channels) or (channels, frames) with channels <= 2 -> float32 (frames,)."""
    array = np.asarray(audio, dtype=np.float32)
    if array.ndim == 1:
        return array
    if array.ndim != 2:
        raise InvalidInput(f"audio must be mono or stereo samples, got an array of shape {array.shape}")
    if array.shape[0] <= 2 < array.shape[1]:
        array = array.T
    return array.mean(axis=1)


def resample(audio: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Band-limited polyphase resampling of mono float audio."""
    if from_hz == to_hz:
        return np.asarray(audio, dtype=np.float32)
    if from_hz <= 0:
        raise InvalidInput(f"sample rate must be positive, got {from_hz} Hz")
    from scipy.signal import resample_poly

    divisor = math.gcd(int(from_hz), int(to_hz))
    return resample_poly(audio, to_hz // divisor, from_hz // divisor).astype(np.float32)


def raw_chroma(audio: np.ndarray, sample_rate_hz: int, config: ChromaConfig = ChromaConfig()) -> torch.Tensor:
    """Max-normalised chroma before the argmax: float tensor (frames, 12), each row's max is 1 (or 0 in silence)."""
    mono = resample(to_mono(audio), sample_rate_hz, config.sample_rate_hz)
    wav = torch.from_numpy(np.ascontiguousarray(mono))
    if wav.numel() == 0:
        raise InvalidInput("the melody audio is empty")
    if wav.shape[-1] < config.n_fft:
        pad = config.n_fft - wav.shape[-1]
        wav = torch.nn.functional.pad(wav, (pad // 2, pad // 2 + pad % 2))
    window = _window(config.n_fft)
    spec = torch.stft(
        wav,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.n_fft,
        window=window,
        center=True,
        pad_mode="reflect",
        normalized=False,
        return_complex=True,
    )
    # torchaudio's Spectrogram(normalized=True) divides the STFT by the window's L2 norm before squaring.
    power = (spec.abs() / window.pow(2).sum().sqrt()).pow(2)
    bank = _filter_bank(config.sample_rate_hz, config.n_fft, config.num_chroma)
    chroma = bank @ power  # (12, frames)
    chroma = torch.nn.functional.normalize(chroma, p=float("inf"), dim=0, eps=1e-6)
    return chroma.T.contiguous()


def argmax_one_hot(chroma: torch.Tensor) -> torch.Tensor:
    """One-hot (frames, 12) at each frame's largest bin: the information bottleneck."""
    one_hot = torch.zeros_like(chroma)
    one_hot.scatter_(-1, chroma.argmax(dim=-1, keepdim=True), 1.0)
    return one_hot


def melody_chroma(audio: np.ndarray, sample_rate_hz: int, config: ChromaConfig = ChromaConfig()) -> torch.Tensor:
    """The conditioning chromagram of MusicGen-melody: float32 one-hot (frames, 12) at config.frame_rate_hz.

    Args:
        audio: mono (frames,) or stereo samples, any sample rate (resampled to 32 kHz).
        sample_rate_hz: sample rate of `audio`.
        config: chroma parameters; keep the defaults to match the published model.
    """
    return argmax_one_hot(raw_chroma(audio, sample_rate_hz, config))


def chroma_cosine_similarity(
    reference: np.ndarray,
    generated: np.ndarray,
    sample_rate_hz: int,
    argmax: bool = False,
    reference_sample_rate_hz: int | None = None,
) -> float:
    """Mean frame-wise cosine similarity of two chromagrams, as audiocraft's ChromaCosineSimilarityMetric.

    The reference fixes the number of frames compared (the shorter signal is not padded: frames past its
    end are ignored). `argmax=False` (max-normalised chroma) is the metric audiocraft reports.
    """
    ref_rate = reference_sample_rate_hz or sample_rate_hz
    ref = raw_chroma(reference, ref_rate)
    gen = raw_chroma(generated, sample_rate_hz)
    if argmax:
        ref, gen = argmax_one_hot(ref), argmax_one_hot(gen)
    frames = min(ref.shape[0], gen.shape[0])
    if frames == 0:
        return 0.0
    cos = torch.nn.functional.cosine_similarity(ref[:frames], gen[:frames], dim=1, eps=1e-8)
    return float(cos.mean())


def dominant_pitch_classes(chroma: torch.Tensor) -> list[str]:
    """Names of the argmax pitch class of each frame, e.g. ['A', 'A', ...]."""
    return [PITCH_CLASS_NAMES[int(i)] for i in chroma.argmax(dim=-1)]
