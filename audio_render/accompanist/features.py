"""What the accompaniment model hears of its input, on the codec's frame grid (31.25 Hz).

    features = input_features(mono_16k, codec)     # tokens (K, T), chroma (T, 12), beats, level gain

The input is brought to a fixed loudness first (training pairs are normalised the same way), so the
model's output level is relative to the input's, and the caller undoes the gain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from audio_render.accompanist.beats import BeatGrid, track_beats_learned

TARGET_RMS = 0.08
SILENCE_RMS = 1e-4


@dataclass
class InputFeatures:
    tokens: torch.Tensor  # int64 (K, T)
    chroma: torch.Tensor  # float32 (T, 12), each frame max-normalised
    beats: BeatGrid
    gain: float  # applied to the input before encoding


def loudness_gain(mono: np.ndarray) -> float:
    """Gain that brings `mono` to TARGET_RMS (1.0 for silence)."""
    rms = float(np.sqrt(np.mean(np.square(mono, dtype=np.float64)))) if mono.size else 0.0
    return TARGET_RMS / rms if rms > SILENCE_RMS else 1.0


def frame_chroma(mono: np.ndarray, sample_rate_hz: int, hop_length: int, num_frames: int) -> np.ndarray:
    """Max-normalised STFT chroma (num_frames, 12), frame t centred on sample t * hop_length."""
    import librosa

    chroma = librosa.feature.chroma_stft(y=mono, sr=sample_rate_hz, n_fft=4096, hop_length=hop_length, center=True,
                                         tuning=0.0)
    chroma = chroma[:, :num_frames]
    if chroma.shape[1] < num_frames:
        chroma = np.pad(chroma, ((0, 0), (0, num_frames - chroma.shape[1])))
    return chroma.T.astype(np.float32)


def input_features(mono: np.ndarray, codec, beats: BeatGrid | None = None) -> InputFeatures:
    """Tokens, chroma and beats of mono float audio at the codec's rate.

    Args:
        mono: float32 (samples,) at codec.sample_rate_hz.
        codec: the shared MelCodec.
        beats: a known beat grid (training uses the annotated one); tracked from the audio when None.
    """
    gain = loudness_gain(mono)
    level = (mono * gain).astype(np.float32)
    tokens = codec.encode(level, codec.sample_rate_hz)
    chroma = frame_chroma(level, codec.sample_rate_hz, codec.config.hop_length, tokens.shape[1])
    if beats is None:
        beats = track_beats_learned(level, codec.sample_rate_hz)
    return InputFeatures(tokens, torch.from_numpy(chroma), beats, gain)
