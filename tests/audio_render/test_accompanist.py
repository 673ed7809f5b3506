"""The shipped accompaniment model and the hybrid backing route on inputs built here with FluidSynth
(TimGM6mb, a SoundFont the model never heard in training): drums land on a click track's beats (onsets,
and an independent beat tracker run on the drums alone), the output keeps the input's length, rate and
channels, and a backing for a melody in a known key is in that key by an independent key finder."""

from __future__ import annotations

import numpy as np
import pytest

from audio_render.accompanist.model import AccompanimentChunk, AccompanimentRequest, Accompanist, Analysis
from audio_render.render import RenderOptions, render_midi
from audio_render.soundfonts import TIMGM6MB
from ostinato.errors import Cancelled, InvalidInput
from ostinato.runtime import CancelToken
from tests.conftest import make_midi

# A tune in D major (tonic D, leading tone C#), two bars of each phrase ending on the tonic.
D_MAJOR_TUNE = [62, 66, 69, 74, 73, 71, 69, 66, 67, 69, 71, 69, 66, 64, 62, 62,
                62, 64, 66, 67, 69, 71, 73, 74, 71, 69, 67, 66, 64, 61, 62, 62]


@pytest.fixture(scope="module")
def model() -> Accompanist:
    return Accompanist.from_pretrained()


def render(midi: bytes, rate: int = 16_000, channels: int = 1) -> np.ndarray:
    options = RenderOptions(soundfont=TIMGM6MB, sample_rate_hz=rate, channels=channels, tail_s=0.5, reverb=None, chorus=None)
    return render_midi(midi, options).samples


def click_track(tempo_bpm: float, beats: int, rate: int = 16_000, channels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    period = 60.0 / tempo_bpm
    times = 0.5 + period * np.arange(beats)
    notes = [(84 if i % 4 == 0 else 77, t, t + 0.08) for i, t in enumerate(times)]
    return render(make_midi(notes, program=115), rate, channels), times


def accompany(model: Accompanist, audio: np.ndarray, rate: int, part: str, mix: bool = False):
    chunks = [c for c in model.generate(AccompanimentRequest(audio, rate, part=part, mix=mix)) if isinstance(c, AccompanimentChunk)]
    return chunks, np.concatenate([c.part for c in chunks])


def onsets_s(audio: np.ndarray, rate: int) -> np.ndarray:
    import librosa

    return librosa.onset.onset_detect(y=audio.mean(axis=1).astype(np.float32), sr=rate, hop_length=256, units="time")


@pytest.mark.parametrize("tempo_bpm", [92.0, 128.0])
def test_drum_onsets_line_up_with_a_click_tracks_beats(model: Accompanist, tempo_bpm: float) -> None:
    clicks, beats = click_track(tempo_bpm, int(tempo_bpm / 60 * 9))
    _, drums = accompany(model, clicks, 16_000, "drums")
    onsets = onsets_s(drums, 16_000)
    assert onsets.size >= beats.size // 2, "the drums are (nearly) silent"
    reference = beats[beats > 1.0]  # the first beat has no context before it
    hit = np.array([np.min(np.abs(onsets - b)) <= 0.07 for b in reference])
    assert hit.mean() >= 0.8, f"only {hit.mean():.0%} of the beats have a drum onset within 70 ms"
    # Not a stream of noise that hits every beat by chance: at most sixteenth notes (4 onsets a beat).
    assert onsets.size <= 4.5 * beats.size


@pytest.mark.parametrize(("rate", "channels"), [(44_100, 2), (22_050, 1), (48_000, 2)])
def test_output_length_rate_and_channels_equal_the_inputs(model: Accompanist, rate: int, channels: int) -> None:
    clicks, _ = click_track(110.0, 10, rate, channels)
    clicks = clicks[: clicks.shape[0] - 123]  # not a whole number of codec frames or seconds
    chunks, drums = accompany(model, clicks, rate, "drums", mix=True)
    assert drums.shape == clicks.shape
    mix = np.concatenate([c.mix for c in chunks])
    assert mix.shape == clicks.shape
    position = 0
    for chunk in chunks:  # in playback order, contiguous, the first one short
        assert chunk.start_frame == position
        position += chunk.part.shape[0]
    assert chunks[0].part.shape[0] <= rate and chunks[-1].last and not any(c.last for c in chunks[:-1])
    # The mix is the input plus the part (clipped to full scale).
    assert np.allclose(mix, np.clip(clicks + drums, -1, 1), atol=1e-5)


@pytest.mark.xfail(reason="unmet: the token model's backing is not in the melody's key (1/12 held-out known-key "
                   "melodies; hybrid route 10/12, plain triads 9/12; the mel codec loses pitch below 1 kHz); the "
                   "served default for backing is the hybrid route, tested below", strict=False)
def test_token_model_backing_of_a_melody_in_a_known_key_is_in_that_key(model: Accompanist) -> None:
    from audio_render.accompanist.train.evaluate import find_key, same_key

    notes = [(p, 0.3 + i * 0.42, 0.3 + i * 0.42 + 0.38) for i, p in enumerate(D_MAJOR_TUNE)]
    melody = render(make_midi(notes, program=52))[:, 0]
    _, backing = accompany(model, melody[:, None], 16_000, "backing")
    backing = backing[:, 0]
    assert np.sqrt(np.mean(backing ** 2)) > 1e-3, "the backing is silent"
    assert find_key(melody) == (2, "major")
    assert same_key(find_key(backing), (2, "major")), f"backing key {find_key(backing)}"


def test_beats_tracked_in_the_drums_alone_line_up_with_the_clicks(model: Accompanist) -> None:
    """JukeDrummer's measure: a beat tracker run on the generated drums alone (librosa's with its own
    onset envelope and tempo prior, another algorithm than the learned tracker the model is conditioned
    with) against the click beats, mir_eval F-measure at 70 ms, over four tempi. The beats the drums are
    given must be the clicks at every tempo. The drums are sampled as the shipped config.json says
    (temperature 0.5, beat guidance 3); with seeds 0-5 they score 0.97/0.97/0.95/0.98,
    0.71/0.97/0.97/0.98, then 0.95-0.98 at every tempo for seeds 2-5, at 92/100/128/140 bpm: 4 of 4 tempi
    >= 0.85 for five seeds of six and 3 for the other, so the bound is 3 of 4 (the model before the
    accented training drums, at temperature 1 and guidance 5: 2-3 of 4, librosa often locking onto the
    off-beats)."""
    import mir_eval

    from audio_render.accompanist.train.evaluate import librosa_beats

    scores = {}
    for tempo_bpm in (92.0, 100.0, 128.0, 140.0):
        clicks, beats = click_track(tempo_bpm, int(tempo_bpm / 60 * 10))
        items = list(model.generate(AccompanimentRequest(clicks, 16_000, part="drums")))
        given = next(item.beats.beat_times_s for item in items if isinstance(item, Analysis))
        assert mir_eval.beat.f_measure(beats, np.asarray(given), f_measure_threshold=0.07) >= 0.95, tempo_bpm
        drums = np.concatenate([item.part for item in items if isinstance(item, AccompanimentChunk)])
        tracked = librosa_beats(drums[:, 0])
        scores[tempo_bpm] = mir_eval.beat.f_measure(beats[beats > 1.0], tracked[tracked > 1.0], f_measure_threshold=0.07)
    assert np.mean(list(scores.values())) >= 0.8, f"beat F of the drums' tracked beats per click tempo: {scores}"
    assert sum(score >= 0.85 for score in scores.values()) >= 3, scores


@pytest.fixture(scope="module")
def composed():
    from pathlib import Path

    from audio_render.accompanist.composed import ComposedBacking
    from symbolic.composer import Composer

    return ComposedBacking(Composer.from_pretrained(Path("symbolic/pretrained/default")), soundfont=TIMGM6MB)


@pytest.mark.parametrize(("transpose", "program"), [(0, 52), (-5, 73)])
def test_hybrid_backing_of_a_melody_in_a_known_key_is_in_that_key(composed, transpose: int, program: int) -> None:
    """The composer route: its backing is in the melody's key (D major, and A major a fourth down) by
    the Krumhansl key finder on CQT chroma, has a bass below the melody, and does not copy the melody."""
    from audio_render.accompanist.composed import MODEL_NAME
    from audio_render.accompanist.train.evaluate import cqt_chroma, find_key, frame_cosine, same_key

    key = ((2 + transpose) % 12, "major")
    notes = [(p + transpose, 0.3 + i * 0.42, 0.3 + i * 0.42 + 0.38) for i, p in enumerate(D_MAJOR_TUNE)]
    melody = render(make_midi(notes, program=program), rate=44_100, channels=2)
    items = list(composed.generate(AccompanimentRequest(melody, 44_100, part="backing", mix=True, seed=3)))
    assert isinstance(items[0], Analysis) and "hybrid" in items[0].description and MODEL_NAME.startswith("hybrid")
    chunks = [item for item in items[1:] if isinstance(item, AccompanimentChunk)]
    backing = np.concatenate([c.part for c in chunks])
    assert backing.shape == melody.shape, "the backing has the input's length and channels"
    assert chunks[0].part.shape[0] <= 44_100 and chunks[-1].last
    mono = backing.mean(axis=1)
    from audio_render.chroma import resample

    mono_16k, melody_16k = resample(mono, 44_100, 16_000), resample(melody.mean(axis=1), 44_100, 16_000)
    assert np.sqrt(np.mean(mono_16k ** 2)) > 1e-3, "the backing is silent"
    assert find_key(melody_16k) == key
    assert same_key(find_key(mono_16k), key), f"backing key {find_key(mono_16k)}, melody {key}"
    assert frame_cosine(cqt_chroma(mono_16k), cqt_chroma(melody_16k)) < 0.9, "the backing copies the melody"
    import librosa

    spectrum = np.abs(librosa.stft(mono_16k, n_fft=4096)).mean(axis=1)
    frequencies = librosa.fft_frequencies(sr=16_000, n_fft=4096)
    assert spectrum[(frequencies > 40) & (frequencies < 150)].sum() > 0.1 * spectrum[frequencies < 150].sum() + 1e-9


def test_hybrid_streams_its_first_bars_before_hearing_the_whole_melody(composed) -> None:
    """The first chunk is written from the melody's first seconds: it comes before the Analyses of more of
    the melody (the last: the whole of it, more notes, its key), and the backing still has the input's length."""
    notes = [(p, 0.3 + i * 0.42, 0.3 + i * 0.42 + 0.38) for i, p in enumerate(D_MAJOR_TUNE * 2)]  # ~27 s
    melody = render(make_midi(notes, program=73), rate=22_050, channels=1)
    items = list(composed.generate(AccompanimentRequest(melody, 22_050, part="backing", seed=5)))
    analyses = [index for index, item in enumerate(items) if isinstance(item, Analysis)]
    chunks = [index for index, item in enumerate(items) if isinstance(item, AccompanimentChunk)]
    assert len(analyses) >= 2 and analyses[0] == 0 and chunks[0] < analyses[1], "the first chunk waits for the whole melody"
    head, whole = items[analyses[0]], items[analyses[-1]]
    assert "first seconds" in head.description and "first seconds" not in whole.description
    assert whole.key == "D major"
    assert len(whole.chords) > len(head.chords)  # one chord per bar of the whole clip
    backing = np.concatenate([items[index].part for index in chunks])
    assert backing.shape == melody.shape and items[chunks[-1]].last


def test_hybrid_hears_a_long_melody_a_segment_at_a_time(composed) -> None:
    """A 100 s melody: the bars after the first two are written from the melody heard up to their
    segment's end, not after transcribing all of it, so a long input's later chunks do not wait for the
    whole transcription. Hearings grow (first seconds, a prefix, the whole), each announced before the
    chunks written from it; the key holds; the backing keeps the input's length."""
    import re

    notes = [(p, 0.3 + i * 0.42, 0.3 + i * 0.42 + 0.38) for i, p in enumerate(D_MAJOR_TUNE * 7)]  # ~94 s
    melody = render(make_midi(notes, program=73), rate=16_000, channels=1)
    items = list(composed.generate(AccompanimentRequest(melody, 16_000, part="backing", seed=2)))
    analyses = [index for index, item in enumerate(items) if isinstance(item, Analysis)]
    chunks = [index for index, item in enumerate(items) if isinstance(item, AccompanimentChunk)]
    assert len(analyses) >= 3, [items[index].description for index in analyses]
    heard_s = [float(re.search(r"([\d.]+) s of it", items[index].description).group(1)) for index in analyses[:-1]]
    assert heard_s == sorted(heard_s) and heard_s[-1] < melody.shape[0] / 16_000 - 10, heard_s
    assert "first seconds" not in items[analyses[-1]].description, "the whole melody was never heard"
    assert chunks[0] < analyses[1] and any(analyses[1] < c < analyses[2] for c in chunks), \
        "a prefix hearing wrote no chunk before the next hearing"
    assert all(items[index].key == "D major" for index in analyses[1:])
    backing = np.concatenate([items[index].part for index in chunks])
    assert backing.shape == melody.shape and items[chunks[-1]].last
    assert np.sqrt(np.mean(backing[-16_000 * 20:] ** 2)) > 1e-3, "the backing's last 20 s are silent"


def test_hybrid_refuses_drums(composed) -> None:
    with pytest.raises(InvalidInput, match="backing only"):
        list(composed.generate(AccompanimentRequest(np.full((16_000, 1), 0.1, np.float32), 16_000, part="drums")))


def test_analysis_comes_first_and_reports_the_tracked_tempo(model: Accompanist) -> None:
    clicks, _ = click_track(120.0, 12)
    items = list(model.generate(AccompanimentRequest(clicks, 16_000, part="drums")))
    assert isinstance(items[0], Analysis) and all(isinstance(i, AccompanimentChunk) for i in items[1:])
    assert items[0].tempo_bpm == pytest.approx(120.0, rel=0.05)


def test_cancel_stops_generation(model: Accompanist) -> None:
    clicks, _ = click_track(100.0, 30)
    token = CancelToken()
    stream = model.generate(AccompanimentRequest(clicks, 16_000, part="drums"), cancel=token)
    next(stream)
    token.cancel("test")
    with pytest.raises(Cancelled):
        list(stream)


def test_unknown_part_is_invalid(model: Accompanist) -> None:
    with pytest.raises(InvalidInput, match="part"):
        list(model.generate(AccompanimentRequest(np.zeros((16_000, 1), np.float32), 16_000, part="horns")))


def test_drums_are_sampled_reproducibly_by_seed(model: Accompanist) -> None:
    """Drums are sampled by default (at temperature 0 each frame takes the code most likely over the
    grooves the input cannot tell apart, which hits every eighth alike); backing keeps the most likely
    codes. The same seed gives the same drums, another seed others."""
    assert model.default_temperature("drums") > 0 and model.default_temperature("backing") == 0
    clicks, _ = click_track(100.0, 6)

    def drums(seed: int) -> np.ndarray:
        items = model.generate(AccompanimentRequest(clicks, 16_000, part="drums", seed=seed))
        return np.concatenate([item.part for item in items if isinstance(item, AccompanimentChunk)])

    first = drums(1)
    assert np.array_equal(first, drums(1))
    assert not np.allclose(first, drums(2), atol=1e-4)


def test_drum_diagnosis_hears_beat_accent_and_metrical_level() -> None:
    """drum_diagnose's measures on synthetic bursts: beats 8x louder than the half beats are heard as
    accented (onset strength is in log-mel flux: 18 dB more gives ~1.5x), the reverse as not, and a grid
    at twice the tempo is the double metrical level."""
    from audio_render.accompanist.train.drum_diagnose import beat_accent, metrical_level

    rate, period = 16_000, 0.6
    beats = np.arange(0.3, 7.5, period)
    rng = np.random.default_rng(0)

    def bursts(on_beat: float, half_beat: float) -> np.ndarray:
        audio = np.zeros(int(8 * rate), np.float32)
        burst = (rng.standard_normal(800) * np.exp(-np.arange(800) / 150)).astype(np.float32)
        for time_s, level in [(t, on_beat) for t in beats] + [(t + period / 2, half_beat) for t in beats]:
            start = int(time_s * rate)
            audio[start : start + 800] += level * burst
        return audio

    accented, even, reversed_ = (beat_accent(bursts(*levels), beats) for levels in ((0.8, 0.1), (0.5, 0.5), (0.1, 0.8)))
    assert accented > 1.3 and reversed_ < 1 / 1.3 and reversed_ < even < accented
    halves = np.sort(np.r_[beats, beats + period / 2])
    assert metrical_level(halves, beats) == 2.0 and metrical_level(beats, beats) == 1.0
    assert metrical_level(beats[::2], beats) == 0.5
