"""Sliding-window generation with the shipped embedded model: exact lengths, streaming order,
determinism per seed, cancellation, and a chroma that follows the melody better than chance."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from audio_render.chroma import chroma_cosine_similarity
from audio_render.melody.loading import load_melody_model
from audio_render.melody.model import GenerationStats, MelodyModel, MelodyRequest
from ostinato.errors import Cancelled, InvalidInput
from ostinato.runtime import CancelToken

MODEL_DIR = Path(__file__).resolve().parents[2] / "audio_render" / "pretrained" / "melody"
RATE = 32_000


@pytest.fixture(scope="module")
def model() -> MelodyModel:
    torch.set_num_threads(1)
    return load_melody_model(MODEL_DIR)


def plucked_tune(notes: list[int], seconds_per_note: float = 0.4) -> np.ndarray:
    t = np.arange(int(seconds_per_note * RATE)) / RATE
    return (0.4 * np.concatenate([
        np.exp(-4 * t) * sum(np.sin(2 * np.pi * 440 * 2 ** ((p - 69) / 12) * h * t) / h for h in (1, 2, 3))
        for p in notes
    ])).astype(np.float32)


TUNE = plucked_tune([62, 66, 69, 74, 73, 71, 69, 67, 66, 64, 62, 69] * 2)


def test_windows_cover_a_long_request_with_the_melody_aligned(model: MelodyModel) -> None:
    total = model.token_frames(20.0)
    plan = model._windows(total)
    assert plan[0] == (0, model.window_frames)
    assert all(b[0] - a[0] == model.stride_frames for a, b in zip(plan, plan[1:]))
    assert plan[-1][1] == total
    # window chroma starts at the window's own time: token frame 4f is chroma frame f
    chroma = torch.nn.functional.one_hot(torch.arange(200) % 12, 12).float()
    window = model.window_chroma(chroma, start_frame=128)
    assert int(window[0].argmax()) == (128 // 4) % 12
    assert int(window[8].argmax()) == (136 // 4) % 12


def test_streams_contiguous_pieces_of_exact_total_length(model: MelodyModel) -> None:
    stats = GenerationStats()
    pieces = list(model.generate(TUNE, RATE, MelodyRequest(text="solo flute", duration_s=9.0, seed=4), stats=stats))
    position = 0
    for piece in pieces:
        assert piece.start_frame == position
        position += len(piece.samples)
    assert position == model.output_samples(9.0) == 9 * 16_000
    assert [p.last for p in pieces].count(True) == 1 and pieces[-1].last
    assert stats.windows == 2 and len(pieces) >= 3  # more than one piece per window: streamed
    assert 0 < stats.first_chunk_s < stats.compute_s


def test_same_seed_same_audio_other_seed_other_audio(model: MelodyModel) -> None:
    def run(seed: int) -> np.ndarray:
        return np.concatenate([p.samples for p in model.generate(TUNE, RATE, MelodyRequest("harp", 2.0, seed))])

    first, again, other = run(11), run(11), run(12)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_output_follows_the_melody_better_than_chance(model: MelodyModel) -> None:
    request = MelodyRequest(text="warm strings", duration_s=len(TUNE) / RATE, seed=0)
    output = np.concatenate([p.samples for p in model.generate(TUNE, RATE, request)])
    followed = chroma_cosine_similarity(TUNE, output, 16_000, reference_sample_rate_hz=RATE)
    other_tune = plucked_tune([60, 63, 65, 67, 70, 72, 70, 67, 65, 63, 60, 58] * 2)
    chance = chroma_cosine_similarity(other_tune, output, 16_000, reference_sample_rate_hz=RATE)
    assert followed > chance + 0.1


def test_cancellation_stops_between_steps(model: MelodyModel) -> None:
    token = CancelToken()
    stream = model.generate(TUNE, RATE, MelodyRequest(duration_s=60.0), cancel=token)
    next(stream)  # the first piece arrives, then the caller goes away
    token.cancel("client went away")
    started = time.monotonic()
    with pytest.raises(Cancelled):
        for _ in stream:
            pass
    assert time.monotonic() - started < 1.0


def test_bad_requests(model: MelodyModel) -> None:
    with pytest.raises(InvalidInput):
        next(model.generate(TUNE, RATE, MelodyRequest(duration_s=0.0)))
    with pytest.raises(InvalidInput):
        next(model.generate(np.zeros(0, np.float32), RATE, MelodyRequest(duration_s=1.0)))
