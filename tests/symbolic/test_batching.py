"""Concurrent requests' decoding steps run together and give each request what it would get alone."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from symbolic.batching import StepBatcher
from symbolic.stepper import NumpyStepper
from tests.symbolic.test_stepper import _model


def _sequence(seed: int) -> list[list[int]]:
    """A prefix chunk, then chunks of 1-3 tokens (as forced tokens ride along), as a request feeds them."""
    rng = np.random.default_rng(seed)
    chunks = [rng.integers(0, 61, 5 + seed).tolist()]
    while sum(map(len, chunks)) < 40:
        chunks.append(rng.integers(0, 61, int(rng.integers(1, 4))).tolist())
    return chunks


def test_batched_steps_match_steps_alone() -> None:
    stepper = NumpyStepper(_model())
    batcher = StepBatcher(stepper, gather_s=0.002)
    sequences = [_sequence(seed) for seed in range(6)]
    alone = []
    for chunks in sequences:
        cache = stepper.new_cache()
        alone.append([stepper.step(cache, chunk) for chunk in chunks])
    together: list[list[np.ndarray]] = [[] for _ in sequences]
    start = threading.Barrier(len(sequences))

    def request(index: int) -> None:
        with batcher.session():
            start.wait()
            cache = stepper.new_cache()
            for chunk in sequences[index]:
                together[index].append(batcher.step(cache, chunk).copy())

    threads = [threading.Thread(target=request, args=(i,)) for i in range(len(sequences))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert batcher.batches > 0  # steps really went through the model together
    for expected, got in zip(alone, together):
        assert len(got) == len(expected)
        for a, b in zip(expected, got):
            np.testing.assert_allclose(b, a, atol=2e-5, rtol=1e-4)


def test_a_step_too_long_fails_only_its_own_request() -> None:
    stepper = NumpyStepper(_model())
    batcher = StepBatcher(stepper, gather_s=0.01)
    results: dict[str, object] = {}
    start = threading.Barrier(2)

    def request(name: str, ids: list[int]) -> None:
        with batcher.session():
            start.wait()
            cache = stepper.new_cache()
            try:
                results[name] = batcher.step(cache, ids)
            except ValueError as error:
                results[name] = error

    threads = [threading.Thread(target=request, args=("fits", [1, 2, 3])),
               threading.Thread(target=request, args=("too long", list(range(61)) * 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert isinstance(results["too long"], ValueError)
    assert isinstance(results["fits"], np.ndarray)
    np.testing.assert_allclose(results["fits"], stepper.step(stepper.new_cache(), [1, 2, 3]), atol=2e-5)


def test_a_request_alone_steps_inline() -> None:
    stepper = NumpyStepper(_model())
    batcher = StepBatcher(stepper)
    with batcher.session():
        cache = stepper.new_cache()
        batcher.step(cache, [1, 2])
        batcher.step(cache, [3])
    assert batcher.batches == 0 and cache.length == 3
    with pytest.raises(ValueError, match="exceeds"):
        batcher.step(stepper.new_cache(), list(range(61)) * 2)
