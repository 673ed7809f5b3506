"""The numpy decoding step computes what the torch model computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symbolic.model import MusicTransformer, TransformerConfig
from symbolic.stepper import SMALL_CHUNK, NumpyStepper


def _model(seed: int = 0) -> MusicTransformer:
    torch.manual_seed(seed)
    model = MusicTransformer(TransformerConfig(vocab_size=61, d_model=32, n_layers=2, n_heads=4, d_ff=64,
                                               max_seq_len=64))
    with torch.no_grad():  # non-trivial norms, so the folding of their scale and shift is exercised
        for block in model.blocks:
            for norm in (block.norm1, block.norm2):
                norm.weight.uniform_(0.5, 1.5)
                norm.bias.uniform_(-0.3, 0.3)
        model.norm.weight.uniform_(0.5, 1.5)
        model.norm.bias.uniform_(-0.3, 0.3)
    return model.eval()


def test_chunked_and_single_steps_match_the_full_forward_pass() -> None:
    model = _model()
    ids = np.random.default_rng(1).integers(0, 61, 40).tolist()
    with torch.inference_mode():
        expected = model(torch.tensor([ids]))[0].numpy()
    stepper = NumpyStepper(model)
    cache = stepper.new_cache()
    # a prefix, a chunk longer than SMALL_CHUNK (one causally masked pass), chunks of 3 (forced tokens
    # riding along: token by token through the single-token path), then single tokens
    assert SMALL_CHUNK < 6
    got = {9: stepper.step(cache, ids[:10]), 15: stepper.step(cache, ids[10:16])}
    for start in range(16, 25, 3):
        got[start + 2] = stepper.step(cache, ids[start:start + 3])
    for position in range(25, 40):
        got[position] = stepper.step(cache, [ids[position]])
    assert cache.length == 40
    for position, logits in got.items():
        np.testing.assert_allclose(logits, expected[position], atol=2e-5, rtol=1e-4)
    # every position of a sequence at once (what scoring a continuation uses)
    np.testing.assert_allclose(stepper.step(stepper.new_cache(), ids, every_position=True), expected,
                               atol=2e-5, rtol=1e-4)


def test_a_rewound_cache_recomputes_from_the_new_window() -> None:
    model = _model(3)
    stepper = NumpyStepper(model)
    cache = stepper.new_cache()
    stepper.step(cache, [1, 2, 3, 4, 5])
    cache.length = 0
    rewound = stepper.step(cache, [7, 8])
    fresh = stepper.step(stepper.new_cache(), [7, 8])
    np.testing.assert_array_equal(rewound, fresh)


def test_too_long_a_sequence_is_refused() -> None:
    model = _model()
    stepper = NumpyStepper(model)
    cache = stepper.new_cache()
    stepper.step(cache, list(range(60)))
    with pytest.raises(ValueError, match="exceeds"):
        stepper.step(cache, list(range(5)))


def test_the_torch_models_cached_passes_match_its_full_pass() -> None:
    model = _model(5)
    ids = torch.tensor([np.random.default_rng(2).integers(0, 61, 30).tolist()])
    with torch.inference_mode():
        full = model(ids)[0]
        cache = model.new_cache()  # a prefix, a chunk after it (masked attention), then one token
        chunked = torch.cat([model(ids[:, :10], cache)[0], model(ids[:, 10:13], cache)[0],
                             model(ids[:, 13:14], cache)[0]])
        step_cache = model.new_cache()
        model.decode_step(ids[:, :20], step_cache)
        model.decode_step(ids[:, 20:24], step_cache)
        last = model.decode_step(ids[:, 24:25], step_cache)[0]
    torch.testing.assert_close(chunked, full[:14], atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(last, full[24], atol=2e-5, rtol=1e-4)
    assert cache.length == 14 and step_cache.length == 25


def test_half_weights_compute_the_model_with_its_weights_rounded_to_float16() -> None:
    model = _model(7)
    ids = np.random.default_rng(4).integers(0, 61, 30).tolist()
    with torch.inference_mode():
        expected = model(torch.tensor([ids]))[0].numpy()
    half = NumpyStepper(model, half_weights=True)
    full = NumpyStepper(model)
    assert sum(m.nbytes for m in half._stacked) * 2 == sum(m.nbytes for m in full._stacked)
    cache = half.new_cache()
    stepped = [half.step(cache, ids[:12])] + [half.step(cache, [token]) for token in ids[12:]]
    chunked = half.step(half.new_cache(), ids, every_position=True)
    # the compiled single-token step and numpy's chunk path compute the same rounded model
    np.testing.assert_allclose(np.array(stepped), chunked[11:], atol=2e-5, rtol=1e-4)
    # float16 rounding moves the logits by far less than sampling could notice, yet it does move them
    np.testing.assert_allclose(chunked, expected, atol=2e-2)
    assert np.abs(chunked - expected).max() > 1e-6
