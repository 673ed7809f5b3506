"""The application layer: one merge rule for text and explicit attributes, one Vary validation, and one
model instance per process whichever service asks for it."""

from __future__ import annotations

import pytest

from ostinato.errors import InvalidInput, LimitExceeded
from server.application import composing, latent
from server.application.models import MODELS, ModelRegistry
from server.application.text import merge_attributes, read_text, with_text
from server.settings import Limits
from symbolic.attributes import DRUM_PROGRAM, Attributes, Key
from symbolic.decoding import Sampling
from tests.conftest import make_settings

FIDDLE, FLUTE, ACOUSTIC_BASS = 40, 73, 32


def test_explicit_attributes_win_and_text_fills_the_rest() -> None:
    explicit = Attributes(key=Key(7, "major"), bars=8)
    merged = with_text(explicit, "a jig in D minor for fiddle, 4 bars", Limits())
    assert merged.key == Key(7, "major") and merged.bars == 8  # explicit
    assert merged.style == "jig" and merged.instruments == [FIDDLE]  # from the text


def test_instruments_add_up_explicit_first_without_repeats() -> None:
    from_text = read_text("a reel for fiddle and flute", Limits()).attributes
    assert merge_attributes(Attributes(instruments=[ACOUSTIC_BASS]), from_text).instruments == [ACOUSTIC_BASS, FIDDLE, FLUTE]
    assert merge_attributes(Attributes(instruments=[FLUTE, DRUM_PROGRAM]), from_text).instruments == [FLUTE, DRUM_PROGRAM, FIDDLE]
    assert merge_attributes(Attributes(), from_text).instruments == [FIDDLE, FLUTE]


def test_text_over_the_limit_is_refused() -> None:
    with pytest.raises(LimitExceeded):
        read_text("x" * 1001, Limits())


def test_sampling_and_candidates_checks() -> None:
    assert composing.check_sampling(Sampling(seed=1, temperature=2.0, top_k=512)).top_k == 512
    for bad in (Sampling(temperature=2.5), Sampling(temperature=0.05), Sampling(top_k=513)):
        with pytest.raises(InvalidInput):
            composing.check_sampling(bad)
    assert composing.check_candidates(0) == 1 and composing.check_candidates(8) == 8
    with pytest.raises(LimitExceeded):
        composing.check_candidates(9)


def test_vary_checks_shifts_and_decoding() -> None:
    limits = Limits()
    latent.check_vary(1, 0.0, limits)
    latent.check_vary(limits.max_variations, 1.0, limits)
    with pytest.raises(LimitExceeded):
        latent.check_vary(limits.max_variations + 1, 0.5, limits)
    for count, distance in ((0, 0.5), (1, -0.1), (1, 1.5)):
        with pytest.raises(InvalidInput):
            latent.check_vary(count, distance, limits)
    assert latent.total_shifts([("notes_per_bar", 1.0), ("mean_pitch", -1), ("notes_per_bar", 0.5)]) == {
        "notes_per_bar": 1.5, "mean_pitch": -1.0}
    assert latent.decoding(seed=5, temperature=0.0, top_k=130).top_k == 130
    with pytest.raises(InvalidInput):
        latent.decoding(seed=5, temperature=0.0, top_k=131)
    assert latent.resolve_seed(42) == 42 and latent.resolve_seed(0) > 0


def test_one_composer_per_process_shared_by_equal_settings() -> None:
    first = MODELS.composer(make_settings())
    assert MODELS.composer(make_settings(port=1234)) is first  # another server, same model: same instance
    assert ModelRegistry().composer(make_settings()) is not first  # a registry of its own loads its own
