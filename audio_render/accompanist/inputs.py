"""Checks on decoded input audio before the accompaniment model hears it."""

from __future__ import annotations

import numpy as np

from ostinato.errors import InvalidInput

MIN_DURATION_S = 1.0
MIN_SAMPLE_RATE_HZ = 4_000
MAX_SAMPLE_RATE_HZ = 192_000
SILENCE_PEAK = 1e-4  # about -80 dBFS


def check_samples(samples: np.ndarray, sample_rate_hz: int) -> None:
    """Raises InvalidInput for audio the model cannot accompany: non-finite, silent or too short.

    Args:
        samples: float32 (frames, channels) as decoded.
        sample_rate_hz: their rate.
    """
    if samples.ndim != 2 or samples.shape[0] == 0:
        raise InvalidInput("The audio holds no samples.")
    if not MIN_SAMPLE_RATE_HZ <= sample_rate_hz <= MAX_SAMPLE_RATE_HZ:
        raise InvalidInput(f"The audio's sample rate is {sample_rate_hz:,} Hz: it must be "
                           f"{MIN_SAMPLE_RATE_HZ:,}-{MAX_SAMPLE_RATE_HZ:,} Hz.")
    if not np.isfinite(samples).all():
        raise InvalidInput("The audio holds NaN or infinite samples: send finite samples (a float WAV may carry them).")
    duration_s = samples.shape[0] / sample_rate_hz
    if duration_s < MIN_DURATION_S:
        raise InvalidInput(f"The audio lasts {duration_s:.2f} s: send at least {MIN_DURATION_S:g} s to accompany.")
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise InvalidInput("The audio is silent (peak below -80 dBFS): there is nothing to accompany.")
