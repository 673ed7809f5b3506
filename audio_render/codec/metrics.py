"""Reconstruction measures for audio codecs, on a mel grid independent of any codec's own."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

MEASURE_RATE_HZ = 16_000


@lru_cache(maxsize=2)
def _measure_basis(sample_rate_hz: int) -> torch.Tensor:
    import librosa

    return torch.from_numpy(librosa.filters.mel(sr=sample_rate_hz, n_fft=1024, n_mels=80).astype(np.float32))


def log_mel_db(audio: np.ndarray, sample_rate_hz: int = MEASURE_RATE_HZ) -> torch.Tensor:
    """80-band power mel in dB (n_fft 1024, hop 256), floored 80 dB below the clip's peak: (frames, 80)."""
    from audio_render.chroma import resample

    wav = torch.from_numpy(np.ascontiguousarray(resample(np.asarray(audio, np.float32), sample_rate_hz, MEASURE_RATE_HZ)))
    spec = torch.stft(wav, 1024, 256, window=torch.hann_window(1024), return_complex=True).abs().pow(2)
    mel_db = 10 * torch.log10(_measure_basis(MEASURE_RATE_HZ) @ spec + 1e-10)
    return mel_db.clamp_min(mel_db.max() - 80).T


def log_mel_l1_db(reference: np.ndarray, estimate: np.ndarray, sample_rate_hz: int = MEASURE_RATE_HZ) -> float:
    """Mean absolute difference of the two signals' log-mel spectrograms, in dB (lower is better).

    Both are floored at 80 dB below the reference's peak so silence does not dominate.
    """
    ref = log_mel_db(reference, sample_rate_hz)
    est = log_mel_db(estimate, sample_rate_hz)
    frames = min(ref.shape[0], est.shape[0])
    floor = ref.max() - 80
    return float((ref[:frames].clamp_min(floor) - est[:frames].clamp_min(floor)).abs().mean())
