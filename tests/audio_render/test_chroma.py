"""The melody bottleneck, tested on synthetic tones: MusicGen-melody's argmax chroma as published
(32 kHz, power STFT n_fft = 2^14, hop 4096, librosa's 12-bin filter bank, max-norm, one-hot argmax)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio_render.chroma import (
    CHROMA_FRAME_RATE_HZ,
    CHROMA_HOP,
    CHROMA_N_FFT,
    CHROMA_SAMPLE_RATE_HZ,
    chroma_cosine_similarity,
    dominant_pitch_classes,
    melody_chroma,
    raw_chroma,
)

RATE = 32_000


def tone(frequency_hz: float, seconds: float, rate: int = RATE, amplitude: float = 0.3, harmonics: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = sum(np.sin(2 * np.pi * frequency_hz * h * t) / h for h in range(1, harmonics + 1))
    return (amplitude * wave).astype(np.float32)


def midi_hz(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def test_published_parameters() -> None:
    assert (CHROMA_SAMPLE_RATE_HZ, CHROMA_N_FFT, CHROMA_HOP) == (32_000, 16_384, 4_096)
    assert CHROMA_FRAME_RATE_HZ == pytest.approx(7.8125)


def test_a4_sine_is_pitch_class_9_in_every_frame() -> None:
    audio = tone(440.0, 3.0)
    chroma = melody_chroma(audio, RATE)
    assert chroma.shape == (1 + audio.shape[0] // CHROMA_HOP, 12)
    assert torch.all(chroma.sum(dim=1) == 1)  # one-hot rows
    assert set(chroma.argmax(dim=1).tolist()) == {9}
    assert set(dominant_pitch_classes(chroma)) == {"A"}


def test_every_pitch_class_of_an_octave_at_another_sample_rate() -> None:
    for note in range(60, 72):  # C4..B4, given at 44.1 kHz: resampled to 32 kHz first
        chroma = melody_chroma(tone(midi_hz(note), 1.5, rate=44_100), 44_100)
        assert set(chroma.argmax(dim=1).tolist()) == {note % 12}, note


def test_a_rich_tone_keeps_its_fundamental_pitch_class() -> None:
    # A3 with 8 harmonics: harmonic 3 (E) and 5 (C#) are present but weaker than the A octaves.
    chroma = melody_chroma(tone(220.0, 2.0, harmonics=8), RATE)
    assert (chroma.argmax(dim=1) == 9).float().mean() > 0.9


def test_a_melody_is_followed_frame_by_frame() -> None:
    notes = [60, 64, 67, 72]  # C E G C, one second each
    audio = np.concatenate([tone(midi_hz(n), 1.0) for n in notes])
    classes = melody_chroma(audio, RATE).argmax(dim=1)
    for index, note in enumerate(notes):
        middle = int((index + 0.5) * CHROMA_FRAME_RATE_HZ)  # the frame centred mid-note
        assert int(classes[middle]) == note % 12


def test_the_bottleneck_keeps_only_the_loudest_pitch_class() -> None:
    chord = tone(midi_hz(64), 2.0, amplitude=0.5) + tone(midi_hz(60), 2.0, amplitude=0.1) + tone(midi_hz(67), 2.0, amplitude=0.1)
    raw = raw_chroma(chord, RATE)
    assert torch.allclose(raw.max(dim=1).values, torch.ones(raw.shape[0]))  # max-normalised frames
    assert (raw[:, 0] > 0.01).all() and (raw[:, 7] > 0.01).all()  # the quiet notes are in the raw chroma
    assert set(melody_chroma(chord, RATE).argmax(dim=1).tolist()) == {4}  # ...but not past the argmax


def test_definition_matches_a_direct_librosa_computation() -> None:
    import librosa

    audio = np.concatenate([tone(midi_hz(62), 0.8, harmonics=3), tone(midi_hz(69), 0.8), tone(midi_hz(65), 0.9)])
    stft = librosa.stft(audio, n_fft=CHROMA_N_FFT, hop_length=CHROMA_HOP, win_length=CHROMA_N_FFT,
                        window="hann", center=True, pad_mode="reflect")
    window_norm = np.sqrt(np.sum(np.hanning(CHROMA_N_FFT + 1)[:-1] ** 2))
    power = (np.abs(stft) / window_norm) ** 2
    reference = librosa.filters.chroma(sr=RATE, n_fft=CHROMA_N_FFT, tuning=0.0, n_chroma=12) @ power
    reference = reference / np.maximum(reference.max(axis=0, keepdims=True), 1e-6)
    ours = raw_chroma(audio, RATE).numpy().T
    np.testing.assert_allclose(ours, reference, atol=1e-4)
    assert np.array_equal(melody_chroma(audio, RATE).argmax(dim=1).numpy(), reference.argmax(axis=0))


def test_audio_shorter_than_one_window_is_padded_to_one_frame() -> None:
    chroma = melody_chroma(tone(440.0, 0.2), RATE)
    assert chroma.shape[0] >= 1 and int(chroma[0].argmax()) == 9


def test_chroma_cosine_similarity() -> None:
    a4, c5 = tone(440.0, 2.0), tone(midi_hz(73), 2.0)  # A4 vs C#5: no shared pitch class
    assert chroma_cosine_similarity(a4, a4, RATE) == pytest.approx(1.0, abs=1e-5)
    assert chroma_cosine_similarity(a4, c5, RATE, argmax=True) == pytest.approx(0.0, abs=1e-6)
    assert chroma_cosine_similarity(a4, c5, RATE) < 0.2
    # the same melody one octave up and on another timbre still matches
    assert chroma_cosine_similarity(a4, tone(880.0, 2.0, harmonics=4), RATE, argmax=True) == pytest.approx(1.0)
