"""The shared mel codec: tokens at 31.25 Hz, exact save/load round trip, and decoded audio that keeps
the pitch of what was encoded (the property the melody model relies on)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from audio_render.chroma import melody_chroma
from audio_render.codec import PRETRAINED_CODEC_DIR, MelCodec, MelCodecConfig
from audio_render.codec.metrics import log_mel_l1_db
from ostinato.errors import InvalidInput, MissingAsset


@pytest.fixture(scope="module")
def codec() -> MelCodec:
    return MelCodec.from_pretrained(PRETRAINED_CODEC_DIR)


def note(midi: int, seconds: float, rate: int = 16_000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    f = 440.0 * 2 ** ((midi - 69) / 12)
    envelope = np.minimum(1.0, t * 50) * np.exp(-0.3 * t)
    return (0.2 * envelope * sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3))).astype(np.float32)


def test_shape_and_rate(codec: MelCodec) -> None:
    assert codec.frame_rate_hz == pytest.approx(31.25)
    tokens = codec.encode(note(69, 2.0), 16_000)
    assert tokens.dtype == torch.int64
    assert tokens.shape == (codec.config.num_codebooks, codec.num_frames(32_000))
    assert int(tokens.max()) < codec.config.codebook_size
    audio = codec.decode(tokens)
    assert audio.dtype == np.float32 and audio.shape == (tokens.shape[1] * codec.config.hop_length,)


def test_decoded_melody_keeps_its_pitch_classes(codec: MelCodec) -> None:
    notes = [62, 66, 69, 74]  # D F# A D, 0.8 s each, given at 44.1 kHz
    melody = np.concatenate([note(n, 0.8, 44_100) for n in notes])
    decoded = codec.decode(codec.encode(melody, 44_100))
    classes = melody_chroma(decoded, codec.sample_rate_hz).argmax(dim=1)
    for index, midi in enumerate(notes):
        middle = int((index + 0.5) * 0.8 * 7.8125)
        assert int(classes[middle]) == midi % 12


def test_reconstruction_error_sits_between_griffin_lim_and_noise(codec: MelCodec) -> None:
    melody = np.concatenate([note(n, 0.5) for n in (60, 64, 67, 72, 67, 64)])
    error_db = log_mel_l1_db(melody, codec.decode(codec.encode(melody, 16_000)))
    ceiling_db = log_mel_l1_db(melody, codec.mel_to_audio(codec.log_mel(codec.prepare_audio(melody, 16_000))))
    noise = np.random.default_rng(0).normal(0, 0.05, melody.shape).astype(np.float32)
    assert ceiling_db < error_db  # quantising costs something over Griffin-Lim from the true mel...
    assert error_db < 0.3 * log_mel_l1_db(melody, noise)  # ...but the spectrum survives
    assert error_db < log_mel_l1_db(melody, np.full_like(melody, 1e-6))


def test_save_and_load_round_trip(codec: MelCodec, tmp_path: Path) -> None:
    codec.save_pretrained(tmp_path / "codec")
    again = MelCodec.from_pretrained(tmp_path / "codec")
    assert again.config == codec.config
    melody = note(67, 1.0)
    assert torch.equal(again.encode(melody, 16_000), codec.encode(melody, 16_000))
    assert MelCodecConfig.from_json(codec.config.to_json()) == codec.config


def test_errors(codec: MelCodec, tmp_path: Path) -> None:
    with pytest.raises(MissingAsset):
        MelCodec.from_pretrained(tmp_path)
    with pytest.raises(InvalidInput):
        codec.decode(torch.full((4, 10), codec.config.codebook_size))
    with pytest.raises(InvalidInput):
        codec.encode(np.zeros(0, np.float32), 16_000)
