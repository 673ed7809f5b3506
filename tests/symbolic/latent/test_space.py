"""The shipped latent model: reconstruction, interpolation, variations, attribute vectors, limits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ostinato.errors import Cancelled, InvalidInput, LimitExceeded
from ostinato.runtime import CancelToken
from symbolic.latent.measures import measure
from symbolic.latent.representation import MelodyClip, midi_to_clip
from symbolic.latent.space import Decoding, LatentSpace, slerp
from tests.symbolic.latent.clips import jig, melody_midi, pop_hook, scale_run

RECONSTRUCTION_THRESHOLD = 0.9  # per-step accuracy of a greedy reconstruction of a simple clip


@pytest.fixture(scope="module")
def space() -> LatentSpace:
    torch.set_num_threads(1)  # two threads on a busy two-core machine are many times slower
    return LatentSpace.from_pretrained()


@pytest.fixture(scope="module")
def scale_clip() -> MelodyClip:
    return midi_to_clip(melody_midi(scale_run((4, 4)), tempo_bpm=110.0))


@pytest.fixture(scope="module")
def jig_clip() -> MelodyClip:
    return midi_to_clip(melody_midi(jig(), time_signature=(6, 8), tempo_bpm=140.0, program=40))


def accuracy(a: MelodyClip, b: MelodyClip) -> float:
    return float(np.mean(a.tokens == b.tokens))


def sounding_likeness(a: MelodyClip, b: MelodyClip) -> float:
    """Share of sixteenths where the same pitch is struck, or held, or where both rest (from the notes)."""
    def states(clip: MelodyClip) -> np.ndarray:
        grid = np.zeros(clip.num_steps, dtype=int)
        for pitch, start, end in clip.notes():
            grid[start:end] = -(pitch + 1)
            grid[start] = pitch + 1
        return grid

    return float(np.mean(states(a) == states(b)))


def pitches(clip: MelodyClip) -> list[int]:
    return [p for p, _, _ in clip.notes()]


@pytest.mark.parametrize("name", ["scale_clip", "jig_clip"])
def test_simple_clips_reconstruct(space: LatentSpace, name: str, request: pytest.FixtureRequest) -> None:
    clip = request.getfixturevalue(name)
    decoded = space.reconstruct(clip)
    assert decoded.num_steps == clip.num_steps and decoded.time_signature == clip.time_signature
    assert accuracy(decoded, clip) >= RECONSTRUCTION_THRESHOLD


def test_interpolation_endpoints_are_the_reconstructions(space: LatentSpace, scale_clip: MelodyClip,
                                                         jig_clip: MelodyClip) -> None:
    clips = space.interpolate(scale_clip, jig_clip, 6)
    assert len(clips) == 6
    assert np.array_equal(clips[0].tokens, space.reconstruct(scale_clip).tokens)
    assert np.array_equal(clips[-1].tokens, space.reconstruct(jig_clip).tokens)
    # and those reconstructions are the inputs (nearly step for step)
    assert accuracy(clips[0], scale_clip) >= RECONSTRUCTION_THRESHOLD
    assert accuracy(clips[-1], jig_clip) >= RECONSTRUCTION_THRESHOLD
    # meter of the nearer endpoint; tempo moves linearly from 110 to 140 bpm
    assert [str(c.time_signature) for c in clips] == ["4/4"] * 3 + ["6/8"] * 3
    assert [c.num_steps for c in clips] == [32] * 3 + [24] * 3
    assert [round(c.tempo_bpm) for c in clips] == [110, 116, 122, 128, 134, 140]
    assert clips[0].program == 73 and clips[-1].program == 40


def test_interpolation_moves_away_from_the_start(space: LatentSpace, scale_clip: MelodyClip) -> None:
    low = midi_to_clip(melody_midi([(p, i * 1.0, i * 1.0 + 1.0) for i, p in enumerate([55, 59, 62, 59, 57, 60, 59, 55])]))
    clips = space.interpolate(scale_clip, low, 5)
    distances = [accuracy(clip, clips[0]) for clip in clips]
    assert distances[0] == 1.0 and distances[-1] < 0.9
    mean_pitches = [np.mean(pitches(c)) for c in clips if pitches(c)]
    assert mean_pitches[0] > mean_pitches[-1]


def test_a_syncopated_hook_reconstructs_and_blends_steadily_into_a_scale(space: LatentSpace,
                                                                         scale_clip: MelodyClip) -> None:
    """Pop material (off-beat sixteenths, notes tied over the beat): the hook comes back, and on the way to
    a plain scale its likeness to the hook never rises and to the scale never falls (by more than 1/16)."""
    hook = midi_to_clip(melody_midi(pop_hook(), program=0))
    assert accuracy(space.reconstruct(hook), hook) >= RECONSTRUCTION_THRESHOLD
    clips = space.interpolate(hook, scale_clip, 8)
    to_hook = [sounding_likeness(clip, hook) for clip in clips]
    to_scale = [sounding_likeness(clip, scale_clip) for clip in clips]
    assert to_hook[0] >= RECONSTRUCTION_THRESHOLD and to_scale[-1] >= RECONSTRUCTION_THRESHOLD
    assert all(later <= earlier + 1 / 16 for earlier, later in zip(to_hook, to_hook[1:])), to_hook
    assert all(later >= earlier - 1 / 16 for earlier, later in zip(to_scale, to_scale[1:])), to_scale
    assert to_hook[-1] < 0.7 and to_scale[0] < 0.7


def test_interpolation_step_counts(space: LatentSpace, scale_clip: MelodyClip, jig_clip: MelodyClip) -> None:
    assert len(space.interpolate(scale_clip, jig_clip, 2)) == 2
    assert len(space.interpolate(scale_clip, jig_clip, 16)) == 16
    for steps in (0, 1):  # the contract says 2-16: both endpoints are always returned
        with pytest.raises(InvalidInput, match="2-16"):
            space.interpolate(scale_clip, jig_clip, steps)
    with pytest.raises(LimitExceeded):
        space.interpolate(scale_clip, jig_clip, 17)


def test_variations_differ_but_stay_near(space: LatentSpace, scale_clip: MelodyClip) -> None:
    variations = space.vary(scale_clip, 4, similarity_distance=0.3, decoding=Decoding(seed=7))
    original = space.reconstruct(scale_clip)
    low, high = min(pitches(scale_clip)), max(pitches(scale_clip))
    assert len(variations) == 4
    for variation in variations:
        assert not np.array_equal(variation.tokens, original.tokens)
        assert variation.time_signature == scale_clip.time_signature and variation.num_steps == 32
        assert variation.tempo_bpm == scale_clip.tempo_bpm
        assert pitches(variation), "a variation has no notes"
        assert low - 12 <= min(pitches(variation)) and max(pitches(variation)) <= high + 12
    assert len({v.tokens.tobytes() for v in variations}) > 1


@pytest.mark.parametrize("name", ["scale_clip", "jig_clip"])
def test_a_variation_is_never_the_reconstruction_or_the_clip(space: LatentSpace, name: str,
                                                             request: pytest.FixtureRequest) -> None:
    clip = request.getfixturevalue(name)
    original = space.reconstruct(clip).tokens
    for seed in range(4):
        for variation in space.vary(clip, 4, similarity_distance=0.05, decoding=Decoding(seed=seed)):
            assert not np.array_equal(variation.tokens, original)
            assert not np.array_equal(variation.tokens, clip.tokens)


def test_variations_are_reproducible_and_distance_zero_is_the_reconstruction(space: LatentSpace,
                                                                             jig_clip: MelodyClip) -> None:
    first = space.vary(jig_clip, 2, 0.5, decoding=Decoding(seed=3))
    again = space.vary(jig_clip, 2, 0.5, decoding=Decoding(seed=3))
    assert all(np.array_equal(a.tokens, b.tokens) for a, b in zip(first, again))
    same = space.vary(jig_clip, 1, 0.0)[0]
    assert np.array_equal(same.tokens, space.reconstruct(jig_clip).tokens)


def test_sampled_decoding_follows_the_seed(space: LatentSpace, scale_clip: MelodyClip) -> None:
    a = space.reconstruct(scale_clip, Decoding(temperature=1.0, seed=1))
    b = space.reconstruct(scale_clip, Decoding(temperature=1.0, seed=1))
    assert np.array_equal(a.tokens, b.tokens)


def test_vary_limits(space: LatentSpace, scale_clip: MelodyClip) -> None:
    with pytest.raises(InvalidInput):
        space.vary(scale_clip, 0, 0.3)
    with pytest.raises(LimitExceeded):
        space.vary(scale_clip, 17, 0.3)
    with pytest.raises(InvalidInput):
        space.vary(scale_clip, 2, 1.5)
    with pytest.raises(InvalidInput):
        space.vary(scale_clip, 2, 0.3, decoding=Decoding(temperature=5.0))
    with pytest.raises(InvalidInput, match="unknown attribute"):
        space.vary(scale_clip, 2, 0.3, shifts={"loudness": 1.0})


def test_cancelled_work_stops(space: LatentSpace, scale_clip: MelodyClip) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        space.vary(scale_clip, 4, 0.3, cancel=token)


def test_more_dense_adds_notes(space: LatentSpace) -> None:
    """MusicVAE attribute arithmetic: adding the notes_per_bar vector makes clips denser on average."""
    sparse = [midi_to_clip(melody_midi([(60 + 2 * (i % 4) + k, i * 1.0, i * 1.0 + 1.0) for i in range(8)]))
              for k in range(0, 6, 2)]
    changes = []
    for clip in sparse:
        base = measure(space.reconstruct(clip).tokens, 16)["notes_per_bar"]
        denser = space.vary(clip, 1, 0.0, shifts={"notes_per_bar": 2.0})[0]
        changes.append(measure(denser.tokens, 16)["notes_per_bar"] - base)
    assert np.mean(changes) > 1.0


@pytest.mark.parametrize("bars", [1, 3, 5, 8])
def test_clips_of_any_length_keep_their_length(space: LatentSpace, bars: int) -> None:
    clip = midi_to_clip(melody_midi(scale_run(bars=bars)))
    assert clip.num_bars == bars
    assert space.reconstruct(clip).num_bars == bars
    assert all(v.num_bars == bars for v in space.vary(clip, 2, 0.3))
    two_bars = midi_to_clip(melody_midi(jig(), time_signature=(6, 8)))
    blend = space.interpolate(clip, two_bars, 4)
    assert [c.num_bars for c in blend] == [bars, bars, 2, 2]
    assert np.array_equal(blend[0].tokens, space.reconstruct(clip).tokens)


def test_slerp_endpoints() -> None:
    a, b = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    assert np.allclose(slerp(a, b, 0.0), a) and np.allclose(slerp(a, b, 1.0), b)
