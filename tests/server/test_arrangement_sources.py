"""Arrangement sources beyond the Composer: Drumify drums that follow a named track, audio layers from
the Accompanist and the MelodyGenerator (made section by section, cached, mixed and given stems),
chords followed in continued sections, and line-and-field errors for the new fields before any work."""

from __future__ import annotations

import numpy as np
import pytest

from server.arrangement import ArrangementError, MemoryCache, load_arrangement
from server.arrangement.arranger import bars_with_notes
from server.arrangement.layers import LAYER_RATE_HZ
from server.arrangement.run import arranger_for
from server.settings import Settings
from symbolic.attributes import DRUM_PROGRAM, NoteTable
from symbolic.drums import KICK, SNARE

SETTINGS = Settings(default_soundfont="TimGM6mb")

LAYERS = """
[piece]
tempo_bpm = 120
key = "G major"
seed = 4

[[tracks]]
name = "lead"
instrument = "flute"

[[tracks]]
name = "piano"
instrument = "piano"

[[tracks]]
name = "bass"
instrument = "acoustic bass"

[[tracks]]
name = "drums"
instrument = "drums"
source = "drumify"
of = "bass"
style = "rock"

[[tracks]]
name = "band"
source = "accompanist"
part = "drums"
of = ["piano", "bass"]

[[tracks]]
name = "voice"
source = "melody_audio"
of = "lead"
text = "solo trumpet"

[[sections]]
name = "A"
bars = 4
tracks = ["lead", "piano", "bass", "band"]

[[sections]]
name = "B"
bars = 4
key = "E minor"
enter = ["voice", "drums"]
leave = ["band"]

[[sections]]
name = "B again"
repeat = "B"
"""


def _arrange(text: str = LAYERS, cache: MemoryCache | None = None, **options):  # type: ignore[no-untyped-def]
    arranger = arranger_for(SETTINGS, cache)
    return arranger.arrange(load_arrangement(text, source_name="piece.toml", capabilities=arranger.capabilities),
                            **options)


@pytest.fixture(scope="module")
def layered():  # type: ignore[no-untyped-def]
    cache = MemoryCache()
    return _arrange(cache=cache), cache


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio)))) if audio.size else 0.0


# ---- Drumify -------------------------------------------------------------------------------------
def test_drumify_follows_the_named_track(layered) -> None:  # type: ignore[no-untyped-def]
    piece, _ = layered
    a, b, again = piece.sections
    assert "drums" not in a.parts
    drums, bass = b.parts["drums"], b.parts["bass"]
    assert (drums.program == DRUM_PROGRAM).all() and bars_with_notes(drums, 4.0, 4) == bars_with_notes(bass, 4.0, 4)
    kicks = set(np.round(drums.onset_q[drums.pitch == KICK], 3).tolist())
    on_eighths = [round(float(q), 3) for q in bass.onset_q if abs(q * 2 - round(q * 2)) < 1e-6]
    assert on_eighths and sum(q in kicks for q in on_eighths) >= 0.9 * len(on_eighths), (on_eighths, kicks)
    # the rock groove's backbeat: a snare on beats 2 and 4 of every bar the bass plays in
    snares = set(np.round(drums.onset_q[drums.pitch == SNARE], 3).tolist())
    for bar in sorted(set((bass.onset_q // 4).astype(int).tolist())):
        assert {bar * 4 + 1.0, bar * 4 + 3.0} <= snares, (bar, snares)
    assert np.array_equal(again.parts["drums"].pitch, drums.pitch)  # a repeat keeps its drums
    import symusic

    score = symusic.Score.from_midi(piece.midi())
    assert [(t.name, t.is_drum) for t in score.tracks][-1] == ("drums", True)


# ---- audio layers --------------------------------------------------------------------------------
def test_layers_play_where_their_section_says(layered) -> None:  # type: ignore[no-untyped-def]
    piece, _ = layered
    a, b, again = piece.sections
    assert set(a.layers) == {"band"} and set(b.layers) == {"voice"} and set(again.layers) == {"voice"}
    for section in (a, b, again):
        for name, audio in section.layers.items():
            seconds = section.length_q * 60.0 / section.spec.tempo_bpm
            assert audio.shape == (round(seconds * LAYER_RATE_HZ),), (section.spec.name, name)
            assert _rms(audio) > 0.003, (section.spec.name, name, _rms(audio))
    # a repeat hears the same notes with its source's seed: the same audio
    assert np.array_equal(again.layers["voice"], b.layers["voice"])


def test_melody_layer_follows_the_lead(layered) -> None:  # type: ignore[no-untyped-def]
    from audio_render.chroma import chroma_cosine_similarity
    from audio_render.render import RenderOptions, render_midi
    from symbolic.midi_io import table_to_midi

    piece, _ = layered
    b = piece.sections[1]
    lead = b.parts["lead"]
    options = RenderOptions(soundfont="TimGM6mb", sample_rate_hz=32_000, channels=1, tail_s=0.0, reverb=None,
                            chorus=None)

    def similarity(shift: int) -> float:
        moved = NoteTable(lead.onset_q, lead.duration_q, lead.pitch + shift, lead.program, lead.velocity)
        melody = render_midi(table_to_midi(moved, (4, 4), 120.0, bars=4), options).samples[:, 0]
        return chroma_cosine_similarity(melody, b.layers["voice"], LAYER_RATE_HZ, reference_sample_rate_hz=32_000)

    followed, moved_away = similarity(0), similarity(6)
    assert followed > 0.5 and followed > moved_away + 0.15, (followed, moved_away)


def test_accompanist_drums_play_on_the_beat(layered) -> None:  # type: ignore[no-untyped-def]
    import librosa

    piece, _ = layered
    a = piece.sections[0]
    onsets_s = librosa.onset.onset_detect(y=a.layers["band"], sr=LAYER_RATE_HZ, units="time")
    beats_s = np.arange(0.0, a.length_q) * 60.0 / a.spec.tempo_bpm
    near = [bool(len(onsets_s)) and float(np.min(np.abs(onsets_s - beat))) < 0.07 for beat in beats_s]
    assert np.mean(near) >= 0.6, (np.mean(near), onsets_s)


BACKING = """
[piece]
tempo_bpm = 100
key = "A major"
time_signature = "4/4"
seed = 3

[[tracks]]
name = "lead"
instrument = "flute"

[[tracks]]
name = "band"
source = "accompanist"
part = "backing"
of = "lead"

[[sections]]
name = "a"
bars = 8
tracks = ["lead", "band"]
"""


def _key_heard(audio: np.ndarray, rate_hz: int) -> str:
    """Krumhansl-Kessler profiles on the recording's CQT chroma (librosa), independent of the project's
    key code: the best-correlated key's name."""
    import librosa

    chroma = librosa.feature.chroma_cqt(y=audio.astype(np.float32), sr=rate_hz).sum(axis=1)
    major = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
    minor = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
    names = "C C# D D# E F F# G G# A A# B".split()
    scored = [(float(np.corrcoef(np.roll(profile, k), chroma)[0, 1]), f"{names[k]} {mode}")
              for profile, mode in ((major, "major"), (minor, "minor")) for k in range(12)]
    return max(scored)[1]


def test_accompanist_backing_layer_is_in_the_pieces_key() -> None:
    """A backing layer (the in-key hybrid route by default) under an A major tune is heard in A major."""
    piece = _arrange(BACKING)
    band = piece.sections[0].layers["band"]
    assert _rms(band) > 0.005, "the backing layer is silent"
    assert _key_heard(band, LAYER_RATE_HZ) == "A major"


def test_same_seed_same_layers_and_cache_reuse(layered) -> None:  # type: ignore[no-untyped-def]
    piece, cache = layered
    fresh = _arrange()
    assert fresh.midi() == piece.midi()
    for first, second in zip(piece.sections, fresh.sections):
        assert set(first.layers) == set(second.layers)
        for name in first.layers:  # equal to well below a 16-bit step (float sums may differ in the last bit)
            difference = float(np.max(np.abs(first.layers[name] - second.layers[name])))
            assert difference < 1e-5, (first.spec.name, name, difference)
    again = _arrange(cache=MemoryCache(dict(cache.entries)))
    assert [s.cached for s in again.sections] == [True, True, True]
    cached_voice = again.sections[1].layers["voice"]  # kept as 16-bit PCM in the cache entry
    assert float(np.max(np.abs(cached_voice - piece.sections[1].layers["voice"]))) <= 0.5 / 32767 + 1e-7
    # editing only the voice's text remakes the voice's sections, nothing else
    edited = _arrange(LAYERS.replace('text = "solo trumpet"', 'text = "solo flute"'),
                      cache=MemoryCache(dict(cache.entries)))
    assert [s.cached for s in edited.sections] == [True, False, False]
    assert [s.how.endswith("audio layers made (voice)") for s in edited.sections] == [False, True, True]
    assert edited.midi() == piece.midi()
    assert float(np.max(np.abs(edited.sections[0].layers["band"] - piece.sections[0].layers["band"]))) \
        <= 0.5 / 32767 + 1e-7  # from the cache


def test_notes_only_run_leaves_layers_for_later(layered) -> None:  # type: ignore[no-untyped-def]
    from server.application.models import MODELS
    from server.arrangement import Arranger
    from server.arrangement.run import layer_models

    piece, _ = layered
    cache = MemoryCache()
    calls: list[int] = []

    def composer():  # type: ignore[no-untyped-def]
        calls.append(1)
        return MODELS.composer(SETTINGS)

    arranger = Arranger(composer=composer, layers=layer_models(SETTINGS), cache=cache)
    arrangement = load_arrangement(LAYERS, source_name="piece.toml", capabilities=arranger.capabilities)
    notes_only = arranger.arrange(arrangement, audio_layers=False)
    assert all(not s.layers for s in notes_only.sections) and calls
    assert any("are made with the audio" in n for n in notes_only.sections[0].notices)
    assert notes_only.midi() == piece.midi()
    calls.clear()
    later = arranger.arrange(arrangement)
    assert not calls  # the notes came from the cache; only the layers were made
    assert [s.how.endswith(f"audio layers made ({name})") for s, name in zip(later.sections, ["band", "voice", "voice"])] \
        == [True, True, True]
    assert not any("are made with the audio" in n for n in later.sections[0].notices)
    assert float(np.max(np.abs(later.sections[0].layers["band"] - piece.sections[0].layers["band"]))) < 1e-5


def test_render_mixes_layers_under_the_tracks_with_stems(layered) -> None:  # type: ignore[no-untyped-def]
    import io

    import soundfile

    from audio_render.render import RenderOptions, render_midi

    piece, _ = layered
    rendered = piece.render("TimGM6mb", sample_rate_hz=22_050)
    stems = {name: soundfile.read(io.BytesIO(data))[0] for name, data in rendered.stems_wav.items()}
    assert set(stems) == {"lead", "piano", "bass", "drums", "band", "voice"}
    a_end = int(piece.section_start_s(1) * 22_050)
    voice, band = stems["voice"], stems["band"]
    assert _rms(voice[:a_end]) < 1e-4 < 0.003 < _rms(voice[a_end:])  # the voice enters with B
    assert _rms(band[:a_end]) > 0.003 and _rms(band[a_end + 2205:]) < 1e-4  # the band leaves after A
    mix = soundfile.read(io.BytesIO(rendered.mix_wav))[0]
    notes_alone = render_midi(piece.midi(), RenderOptions(soundfont="TimGM6mb", sample_rate_hz=22_050)).samples
    assert mix.shape == notes_alone.shape and float(np.max(np.abs(mix))) <= 1.0
    layers_heard = mix - notes_alone
    assert _rms(layers_heard[:a_end]) > 0.2 * _rms(notes_alone[:a_end])


# ---- chords in continued sections ----------------------------------------------------------------
CHORDS = """
[piece]
tempo_bpm = 100
key = "C major"
seed = 8

[[tracks]]
name = "piano"
instrument = "piano"

[[tracks]]
name = "bass"
instrument = "electric bass"

[[sections]]
name = "A"
bars = 4
chords = ["C", "Am", "F", "G"]

[[sections]]
name = "B"
bars = 4
key = "A minor"
chords = ["Am", "Dm", "E", "Am"]
"""


def test_chords_followed_from_scratch_and_when_continued() -> None:
    from server.arrangement.arranger import continuation_chords
    from server.arrangement.run import load_composer
    from symbolic.evaluate_external import judge

    piece = _arrange(CHORDS)
    a, b = piece.sections
    followed, judged = judge(piece.midi([0]), list(a.spec.chords)).chord_beats
    assert judged == 16 and followed >= 12, (followed, judged)
    assert "continued from 'A'" in b.how
    if not continuation_chords(load_composer(SETTINGS.composer_model_dir)):
        # Until Composer.continue_clip takes chords (#9), the arrangement says so for this section.
        assert any("chords are followed when a section is written from scratch" in n for n in b.notices)
        pytest.xfail("Composer continuation does not take chords yet (#9): B continues without them")
    followed, judged = judge(piece.midi([1]), list(b.spec.chords)).chord_beats
    assert judged == 16 and followed >= 12, (followed, judged)
    assert not any("chords are followed" in n for n in b.notices)


# ---- validation of the new fields ----------------------------------------------------------------
def _line_of(text: str, fragment: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), start=1) if fragment in line)


@pytest.mark.parametrize("old, new, field, message", [
    ('of = "bass"', 'of = "tuba"', "tracks[3].of", "no track is named 'tuba'"),
    ('of = "bass"', 'of = "drums"', "tracks[3].of", "a track cannot follow itself"),
    ('of = ["piano", "bass"]', 'of = ["piano", "drums"]', "tracks[4].of[1]", "'drums' plays no pitched notes"),
    ('of = "lead"', 'of = ["lead", "piano"]', "tracks[5].of", "follows one track's melody"),
    ('of = "lead"', 'of = 3', "tracks[5].of", "name a track"),
    ('part = "drums"', 'part = "strings"', "tracks[4].part", "'strings' is not one of ['drums', 'backing']"),
    ('style = "rock"', 'style = "polka-dot"', "tracks[3].style", "unknown groove style 'polka-dot'"),
    ('text = "solo trumpet"', 'text = "solo trumpet"\nstyle = "pop"', "tracks[5].style",
     "style is for groove and drumify tracks, not melody_audio"),
    ('name = "piano"\ninstrument = "piano"', 'name = "piano"\ninstrument = "piano"\npart = "backing"',
     "tracks[1].part", "part is for accompanist tracks, not compose"),
    ('source = "drumify"', 'source = "drumify"\nfile = "x.mid"', "tracks[3].file", "file is for midi and audio"),
    ('name = "A"\nbars = 4', 'name = "A"\nbars = 4\nchords = ["G", "Hm7"]', "sections[0].chords[1]",
     "'Hm7' is not a chord"),
])
def test_bad_values_name_line_and_field(old: str, new: str, field: str, message: str) -> None:
    assert old in LAYERS
    text = LAYERS.replace(old, new, 1)
    with pytest.raises(ArrangementError) as raised:
        load_arrangement(text, source_name="piece.toml", capabilities=arranger_for(SETTINGS).capabilities)
    written = new.splitlines()[-1]
    line = _line_of(text, written) if field.split(".")[-1].split("[")[0] in written else None
    expected = f"piece.toml:{line}: {field}: " if line else f": {field}: "
    assert expected in str(raised.value) and message in str(raised.value), str(raised.value)


def test_missing_part_and_missing_models_are_refused_before_work() -> None:
    text = LAYERS.replace('part = "drums"\n', "")
    band_line = _line_of(text, 'name = "band"') - 1  # the [[tracks]] header
    with pytest.raises(ArrangementError) as raised:
        load_arrangement(text, source_name="piece.toml", capabilities=arranger_for(SETTINGS).capabilities)
    assert f"piece.toml:{band_line}: tracks[4]: an accompanist layer plays drums or backing" in str(raised.value)
    with pytest.raises(ArrangementError) as raised:
        load_arrangement(LAYERS, source_name="piece.toml", capabilities={"drumify": True})
    lines = str(raised.value)
    accompanist_line = _line_of(LAYERS, 'source = "accompanist"')
    melody_line = _line_of(LAYERS, 'source = "melody_audio"')
    assert f"piece.toml:{accompanist_line}: tracks[4].source: accompanist needs the accompaniment model, which " \
           "this server does not have" in lines
    assert f"piece.toml:{melody_line}: tracks[5].source: melody_audio needs the melody model" in lines
