"""MIDI -> audio with real FluidSynth (TimGM6mb for speed): musical facts measured on the output."""

from __future__ import annotations

import io
import math

import mido
import numpy as np
import pretty_midi
import pytest

from audio_render.midi_events import parse_midi
from audio_render.render import RenderOptions, ReverbSettings, iter_render, render_midi
from audio_render.soundfonts import TIMGM6MB
from ostinato.errors import Cancelled, InvalidInput, LimitExceeded, MissingAsset
from ostinato.runtime import CancelToken, ProgressEvent

SR = 22_050
FAST = RenderOptions(soundfont=TIMGM6MB, sample_rate_hz=SR, tail_s=1.0)
TPB = 480


def _options(**changes: object) -> RenderOptions:
    from dataclasses import replace

    return replace(FAST, **changes)


def _smf(tracks: list[list[mido.Message | mido.MetaMessage]], midi_type: int = 1) -> bytes:
    """Builds an SMF from tracks of messages whose `time` is an absolute tick."""
    midi = mido.MidiFile(type=midi_type, ticks_per_beat=TPB)
    for messages in tracks:
        track = mido.MidiTrack()
        last = 0
        for msg in sorted(messages, key=lambda m: m.time):
            track.append(msg.copy(time=msg.time - last))
            last = msg.time
        midi.tracks.append(track)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def _pretty(instruments: list[pretty_midi.Instrument], tempo_bpm: float = 120.0) -> bytes:
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    midi.instruments.extend(instruments)
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def _instrument(notes: list[tuple[int, float, float]], program: int = 0, is_drum: bool = False,
                velocity: int = 100, name: str = "") -> pretty_midi.Instrument:
    inst = pretty_midi.Instrument(program=program, is_drum=is_drum, name=name)
    inst.notes.extend(pretty_midi.Note(velocity, p, s, e) for p, s, e in notes)
    return inst


def _fundamental_hz(signal: np.ndarray, sample_rate_hz: int, low_hz: float = 80, high_hz: float = 2000) -> float:
    """Autocorrelation pitch with parabolic interpolation."""
    x = signal - signal.mean()
    spectrum = np.fft.rfft(x, 2 * len(x))
    acf = np.fft.irfft(np.abs(spectrum) ** 2)[: len(x)]
    lo, hi = int(sample_rate_hz / high_hz), int(sample_rate_hz / low_hz)
    lag = lo + int(np.argmax(acf[lo:hi]))
    a, b, c = acf[lag - 1], acf[lag], acf[lag + 1]
    lag_f = lag + 0.5 * (a - c) / (a - 2 * b + c)
    return sample_rate_hz / lag_f


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _window(audio: np.ndarray, start_s: float, end_s: float, sample_rate_hz: int = SR) -> np.ndarray:
    return audio[int(start_s * sample_rate_hz): int(end_s * sample_rate_hz)]


def _envelope(audio: np.ndarray, frame: int = 1024) -> np.ndarray:
    """RMS per 46 ms frame. Renders of the same music are compared by envelope, not sample by sample:
    FluidSynth starts a note slightly differently (first ~100 frames, below -30 dB) depending on what
    the voice it reuses played before."""
    x = audio.reshape(len(audio), -1)
    n = len(x) // frame * frame
    return np.sqrt(np.mean(x[:n].reshape(-1, frame, x.shape[1]).astype(np.float64) ** 2, axis=(1, 2)))


def _onsets_s(mono: np.ndarray, sample_rate_hz: int = SR, hop_s: float = 0.005) -> list[float]:
    """Times where the 5 ms energy envelope jumps up after a quieter stretch."""
    hop = int(hop_s * sample_rate_hz)
    frames = mono[: len(mono) // hop * hop].reshape(-1, hop)
    energy = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    threshold = 0.2 * energy.max()
    onsets, armed = [], True
    for i, e in enumerate(energy):
        if armed and e > threshold:
            onsets.append(i * hop_s)
            armed = False
        elif e < 0.05 * energy.max():
            armed = True
    return onsets


# --- duration, sound, pitch ------------------------------------------------------------------------

def test_duration_is_midi_length_plus_tail_and_notes_sound() -> None:
    midi = _pretty([_instrument([(60, 0.0, 1.0), (64, 1.0, 2.0), (67, 2.0, 3.0)])])
    audio = render_midi(midi, _options(tail_s=1.5))
    expected_midi_s = mido.MidiFile(file=io.BytesIO(midi)).length  # end of the last track
    assert audio.midi_duration_s == pytest.approx(expected_midi_s, abs=1e-6)
    assert audio.midi_duration_s == pytest.approx(3.0, abs=0.005)  # the last note-off
    assert audio.samples.shape == (math.ceil((expected_midi_s + 1.5) * SR), 2)
    assert audio.samples.dtype == np.float32
    for start in (0.0, 1.0, 2.0):  # each note is audible
        assert _rms(_window(audio.samples, start + 0.1, start + 0.6)) > 0.01
    assert 0.0 < audio.peak < 1.0


@pytest.mark.parametrize("sample_rate_hz", [22_050, 48_000])
def test_a4_sounds_at_440_hz(sample_rate_hz: int) -> None:
    midi = _pretty([_instrument([(69, 0.0, 1.5)], program=0)])
    audio = render_midi(midi, _options(sample_rate_hz=sample_rate_hz, channels=1, reverb=None, chorus=None))
    measured = _fundamental_hz(_window(audio.samples[:, 0], 0.3, 1.2, sample_rate_hz), sample_rate_hz)
    assert measured == pytest.approx(440.0, rel=0.003)  # within 5 cents


def test_pitch_bend_raises_a4_by_a_whole_tone() -> None:
    # GM default bend range is +-2 semitones: full bend up turns A4 into B4 (493.88 Hz).
    midi = _smf([[
        mido.Message("pitchwheel", pitch=8191, time=0),
        mido.Message("note_on", note=69, velocity=100, time=0),
        mido.Message("note_off", note=69, time=TPB * 3),
    ]])
    audio = render_midi(midi, _options(channels=1, reverb=None, chorus=None))
    measured = _fundamental_hz(_window(audio.samples[:, 0], 0.3, 1.2), SR)
    assert measured == pytest.approx(440.0 * 2 ** (2 / 12), rel=0.003)


def test_velocity_sets_loudness() -> None:
    loud = render_midi(_pretty([_instrument([(60, 0.0, 1.0)], velocity=120)]), FAST)
    soft = render_midi(_pretty([_instrument([(60, 0.0, 1.0)], velocity=30)]), FAST)
    assert _rms(_window(loud.samples, 0, 1)) > 3 * _rms(_window(soft.samples, 0, 1))


def test_sustain_pedal_holds_released_notes() -> None:
    def piece(pedal: bool) -> bytes:
        events = [
            mido.Message("note_on", note=60, velocity=100, time=0),
            mido.Message("note_off", note=60, time=TPB // 4),  # released after 0.125 s
        ]
        if pedal:
            events += [mido.Message("control_change", control=64, value=127, time=0),
                       mido.Message("control_change", control=64, value=0, time=TPB * 4)]
        events.append(mido.MetaMessage("end_of_track", time=TPB * 4))
        return _smf([events])

    held = render_midi(piece(pedal=True), _options(reverb=None))
    dry = render_midi(piece(pedal=False), _options(reverb=None))
    assert _rms(_window(held.samples, 1.0, 1.5)) > 10 * _rms(_window(dry.samples, 1.0, 1.5))


def test_program_changes_per_channel() -> None:
    # The same key on two channels with different programs sounds differently (flute vs. piano).
    midi = _smf([
        [mido.Message("program_change", channel=0, program=73, time=0),
         mido.Message("note_on", channel=0, note=69, velocity=100, time=0),
         mido.Message("note_off", channel=0, note=69, time=TPB * 2)],
        [mido.Message("program_change", channel=1, program=0, time=0),
         mido.Message("note_on", channel=1, note=69, velocity=100, time=TPB * 2),
         mido.Message("note_off", channel=1, note=69, time=TPB * 4)],
    ])
    audio = render_midi(midi, _options(channels=1, reverb=None, chorus=None, stems=True))
    flute, piano = (a[:, 0] for a in audio.stems.values())
    assert _rms(_window(flute, 0.2, 0.9)) > 0.005 and _rms(_window(flute, 1.2, 1.9)) < 1e-3
    assert _rms(_window(piano, 1.2, 1.9)) > 0.005 and _rms(_window(piano, 0.2, 0.9)) < 1e-5

    # A piano note decays, a flute holds: compare each one's level late in the note with early on.
    flute_decay = _rms(_window(flute, 0.7, 0.9)) / _rms(_window(flute, 0.1, 0.3))
    piano_decay = _rms(_window(piano, 1.7, 1.9)) / _rms(_window(piano, 1.1, 1.3))
    assert flute_decay > 0.6 and piano_decay < 0.6


def _centroid_hz(x: np.ndarray, sample_rate_hz: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / sample_rate_hz)
    return float((spectrum * freqs).sum() / spectrum.sum())


def test_drums_on_channel_10_use_the_drum_kit_without_a_program() -> None:
    # Key 42 on channel 10 is a closed hi-hat (broadband noise); on channel 1 it is F#2 on a piano.
    hihat = _smf([[mido.Message("note_on", channel=9, note=42, velocity=110, time=0),
                   mido.Message("note_off", channel=9, note=42, time=TPB // 2)]])
    piano = _smf([[mido.Message("note_on", channel=0, note=42, velocity=110, time=0),
                   mido.Message("note_off", channel=0, note=42, time=TPB // 2)]])
    drum_audio = render_midi(hihat, _options(channels=1, reverb=None, chorus=None)).samples[:, 0]
    piano_audio = render_midi(piano, _options(channels=1, reverb=None, chorus=None)).samples[:, 0]
    assert _rms(_window(drum_audio, 0, 0.1)) > 0.005
    assert _centroid_hz(_window(drum_audio, 0, 0.1)) > 3000
    assert _centroid_hz(_window(piano_audio, 0, 0.2)) < 1500


def test_tempo_change_moves_onsets() -> None:
    # Quarter notes at 120 bpm for one bar, then 60 bpm: onsets every 0.5 s, then every 1 s.
    conductor = [mido.MetaMessage("set_tempo", tempo=500_000, time=0),
                 mido.MetaMessage("set_tempo", tempo=1_000_000, time=TPB * 4)]
    clicks = []
    for beat in range(7):
        clicks.append(mido.Message("note_on", channel=9, note=76, velocity=120, time=beat * TPB))  # wood block
        clicks.append(mido.Message("note_off", channel=9, note=76, time=beat * TPB + TPB // 8))
    audio = render_midi(_smf([conductor, clicks]), _options(channels=1, reverb=None, chorus=None))
    expected = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0]
    assert audio.midi_duration_s == pytest.approx(4.125, abs=0.01)
    measured = _onsets_s(audio.samples[:, 0])
    assert len(measured) == len(expected)
    assert np.allclose(measured, expected, atol=0.015)


def test_time_signatures_and_tempo_map_are_parsed() -> None:
    conductor = [mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
                 mido.MetaMessage("time_signature", numerator=4, denominator=4, time=TPB * 6),
                 mido.MetaMessage("set_tempo", tempo=400_000, time=0)]
    notes = [mido.Message("note_on", note=60, velocity=90, time=0),
             mido.Message("note_off", note=60, time=TPB * 14)]  # 2 bars of 3/4 + 2 bars of 4/4
    timeline = parse_midi(_smf([conductor, notes]))
    assert timeline.duration_s == pytest.approx(14 * 0.4)
    assert timeline.bar_count == 4
    assert timeline.bar_at(0.1) == 1 and timeline.bar_at(6 * 0.4 + 0.01) == 3
    assert timeline.tempo_changes == [(0.0, pytest.approx(150.0))]


def test_simultaneous_events_play_in_a_musical_order() -> None:
    from audio_render.midi_events import KIND_CONTROL, KIND_NOTE_OFF, KIND_NOTE_ON, KIND_PROGRAM

    # As a sequencer writes them: note-on first, then the bank/program it needs, then the old note's off.
    midi = _smf([[
        mido.Message("note_on", note=60, velocity=90, time=0),
        mido.Message("note_on", note=62, velocity=90, time=TPB),
        mido.Message("program_change", program=5, time=TPB),
        mido.Message("control_change", control=0, value=8, time=TPB),
        mido.Message("note_off", note=60, time=TPB),
        mido.Message("note_off", note=62, time=TPB * 2),
    ]])
    timeline = parse_midi(midi)
    at_one_beat = timeline.kind[np.isclose(timeline.time_s, 0.5)].tolist()
    assert at_one_beat == [KIND_CONTROL, KIND_PROGRAM, KIND_NOTE_OFF, KIND_NOTE_ON]


# --- options: channels, effects ---------------------------------------------------------------------

def test_mono_is_the_average_of_stereo() -> None:
    midi = _pretty([_instrument([(60, 0.0, 0.5), (67, 0.5, 1.0)])])
    stereo = render_midi(midi, FAST)
    mono = render_midi(midi, _options(channels=1))
    assert stereo.samples.shape[1] == 2 and mono.samples.shape == (stereo.samples.shape[0], 1)
    assert np.allclose(_envelope(mono.samples[:, 0]), _envelope(stereo.samples.mean(axis=1)), rtol=0.05, atol=1e-4)


def test_reverb_adds_a_tail_and_can_be_switched_off() -> None:
    midi = _pretty([_instrument([(72, 0.0, 0.2)], program=115)])  # woodblock: a short dry sound
    wet = render_midi(midi, _options(reverb=ReverbSettings(room_size=0.9, level=1.0), tail_s=2.0))
    dry = render_midi(midi, _options(reverb=None, tail_s=2.0))
    assert _rms(_window(wet.samples, 1.0, 1.5)) > 5 * _rms(_window(dry.samples, 1.0, 1.5))


# --- stems -------------------------------------------------------------------------------------------

def test_stems_isolate_each_track_and_add_up_to_the_mix() -> None:
    midi = _pretty([
        _instrument([(60, 0.0, 1.0)], program=0, name="Keys"),
        _instrument([(36, 1.0, 2.0)], program=33, name="Bass"),
        _instrument([(38, 2.0, 2.2)], is_drum=True, name="Kit"),
    ])
    audio = render_midi(midi, _options(stems=True, reverb=None, chorus=None))
    assert list(audio.stems) == ["1:Keys", "2:Bass", "3:Kit"]  # track 0 is pretty_midi's tempo track
    for stem in audio.stems.values():
        assert stem.shape == audio.samples.shape
    keys, bass, kit = audio.stems.values()
    assert _rms(_window(keys, 0.1, 0.9)) > 0.01 and _rms(_window(keys, 2.0, 2.2)) < 1e-3
    assert _rms(_window(bass, 1.1, 1.9)) > 0.01 and _rms(_window(bass, 0.0, 0.9)) < 1e-5
    assert _rms(_window(kit, 2.0, 2.2)) > 0.01 and _rms(_window(kit, 0.0, 1.9)) < 1e-5
    assert np.allclose(sum(audio.stems.values()), audio.samples, atol=1e-4)
    plain = render_midi(midi, _options(reverb=None, chorus=None))
    assert np.allclose(_envelope(plain.samples), _envelope(audio.samples), rtol=0.05, atol=1e-4)


def test_stems_of_a_type0_file_are_split_by_channel() -> None:
    midi = _smf([[
        mido.Message("program_change", channel=0, program=0, time=0),
        mido.Message("note_on", channel=0, note=60, velocity=100, time=0),
        mido.Message("note_on", channel=9, note=36, velocity=100, time=0),
        mido.Message("note_off", channel=0, note=60, time=TPB),
        mido.Message("note_off", channel=9, note=36, time=TPB),
    ]], midi_type=0)
    audio = render_midi(midi, _options(stems=True))
    assert list(audio.stems) == ["0:Piano", "9:Drums"]


# --- streaming, progress, cancellation ---------------------------------------------------------------

def test_streamed_blocks_are_contiguous_and_equal_the_whole_render() -> None:
    midi = _pretty([_instrument([(60 + i, i * 0.25, i * 0.25 + 0.2) for i in range(8)])])
    events: list[ProgressEvent] = []
    stream = iter_render(midi, _options(block_frames=4096, stems=True), progress=events.append)
    blocks = list(stream)
    assert [b.start_frame for b in blocks] == list(range(0, stream.total_frames, 4096))
    assert [b.last for b in blocks] == [False] * (len(blocks) - 1) + [True]
    assert sum(len(b.mix) for b in blocks) == stream.total_frames
    whole = render_midi(midi, _options(stems=True))
    streamed = np.concatenate([b.mix for b in blocks])
    assert np.allclose(_envelope(streamed), _envelope(whole.samples), rtol=0.05, atol=1e-4)
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert events[0].message == "bar 1 of 1" and events[-1].message == "release tail"


def test_cancel_stops_the_render() -> None:
    token = CancelToken()
    stream = iter_render(_pretty([_instrument([(60, 0.0, 20.0)])]), _options(block_frames=1024), cancel=token)
    blocks = iter(stream)
    next(blocks)
    token.cancel("client went away")
    with pytest.raises(Cancelled, match="client went away"):
        next(blocks)


# --- errors ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"RIFF....WAVEfmt ", "not a Standard MIDI File"),
    (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x01\x00\x90", "damaged"),
])
def test_bad_midi_is_invalid_input(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        iter_render(data, FAST)


def test_too_long_is_refused_before_rendering() -> None:
    midi = _pretty([_instrument([(60, 0.0, 100.0)])])
    with pytest.raises(LimitExceeded, match="101 s requested, the limit is 60 s"):
        iter_render(midi, _options(max_duration_s=60.0))


@pytest.mark.parametrize("changes, message", [
    ({"sample_rate_hz": 4000}, "sample_rate_hz"), ({"channels": 3}, "channels"), ({"gain": -1.0}, "gain"),
])
def test_bad_options_are_invalid_input(changes: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        iter_render(_pretty([_instrument([(60, 0.0, 1.0)])]), _options(**changes))


def test_missing_soundfont_is_reported() -> None:
    with pytest.raises(MissingAsset):
        iter_render(_pretty([_instrument([(60, 0.0, 1.0)])]), _options(soundfont="/nowhere/None.sf2"))
