"""Backing for a melody by a HYBRID route: transcribe, find key and chords, compose, render.

This is not the audio-token model. It hears the melody audio, transcribes it (basic-pitch's ONNX model,
`audio_render.transcribe`), tracks its beats (the same tracker the token model is conditioned with),
finds the key (duration-weighted pitch-class profile) and one chord per bar (diatonic triads scored by
the melody's notes in the bar, smoothed by a Viterbi pass), then asks the project's symbolic Composer
for a bass and a chords part over those chords (Attributes.chords, roles), and renders them with
FluidSynth on the tracked beats (each quarter note of the composition is stretched onto the beat it
belongs to, so the backing follows tempo drift). The token model (`model.Accompanist`) hears the audio
directly but its mel codec loses pitch below 1 kHz, so its backing is not in key: see README's figures.

    backing = ComposedBacking(composer)              # a symbolic.composer.Composer
    for item in backing.generate(AccompanimentRequest(samples, 44_100, part="backing")):
        ...                                          # Analysis, then AccompanimentChunks (same as the model)

It streams: the first two bars are written from the melody's first seconds (transcribed alone) and sent;
each later segment of bars is written from the melody heard up to that segment's end (a longer prefix is
transcribed before each segment, until the whole melody is heard), so the wait before a segment grows
with the bars it covers, not with the whole input; the key and chords of the bars after come from all
that was heard (each new hearing sends an Analysis that says how much it heard).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from audio_render.accompanist.beats import BEATS_PER_BAR, BeatGrid, track_beats
from audio_render.accompanist.model import (
    MIX_PART_GAIN,
    AccompanimentChunk,
    AccompanimentRequest,
    Analysis,
    chunk_boundaries,
)
from ostinato.errors import InvalidInput
from ostinato.runtime import CancelToken, ProgressEvent, ProgressFn, no_progress

MODEL_NAME = "hybrid: basic-pitch transcription + key/chord estimate + symbolic Composer + FluidSynth"
BASS_PROGRAM = 33  # fingered bass
CHORDS_PROGRAM = 0  # acoustic grand piano
RHYTHM_PROGRAM = 25  # steel-string guitar, arpeggiating the chords
BAR_BEATS = 4  # tracked beats per composed bar (one chord each); the Composer writes in BAR_BEATS/4
FIRST_SEGMENT_BARS = 2  # the first call is short, so the first audio comes early
SEGMENT_BARS = 16  # at most this many bars per Composer call (its limit is 64)
# After the first segment each segment doubles, up to SEGMENT_BARS: the melody is heard (transcribed) a
# segment at a time, so a segment's wait grows with its own length and the audio already sent covers it.
# The new stretch is transcribed with this much of the heard part before it, and notes starting within
# EDGE_S of the old end are taken from the new transcription (basic-pitch cuts notes at a window's edge).
HEAR_OVERLAP_S = 1.0
EDGE_S = 0.1
FALLBACK_TEMPO_BPM = 100.0
# The first transcription hears only the melody's start (basic-pitch costs ~0.05 s per second of audio on
# one core, so a 30 s clip's whole transcription held the first chunk back 1.5 s): the first segment's bars
# and a beat more, within these bounds.
HEAD_MIN_S = 4.0
HEAD_MAX_S = 8.0
BACKING_LEVEL = 0.8  # backing RMS relative to the melody's
RENDER_RATES_HZ = (22_050, 96_000)  # render at the input's rate inside this span, else 48 kHz and resample
# Viterbi: cost of a chord change, relative to a bar's (normalised) note weight. Chosen on held-out POP909
# clips 30-88 (the published evaluation uses clips 0-29): estimated chords vs the annotated ones, chroma
# cosine 0.50 (0.15 with a prior favouring I/IV/V/vi) -> 0.53 (0.3, no degree prior); chords every two
# beats instead of every four did not help (0.52).
CHANGE_PENALTY = 0.3


@dataclass
class Listening:
    """The melody in mono at its own rate, its tracked beats, and the bars they make."""

    mono: np.ndarray
    sample_rate_hz: int
    beats: BeatGrid
    first_beat: int  # index (may be negative) of bar 0's first beat in the extended beat grid
    bars: int  # bars from bar 0 to the end of the audio
    notes: "object" = None  # audio_render.transcribe.TranscribedNotes heard so far (None: none yet)
    heard_s: float = 0.0  # how much of the melody has been transcribed


@dataclass
class Heard:
    """What the hybrid heard in the melody: beats, key, one chord per bar and where bar 0 starts."""

    beats: BeatGrid
    key: "object"  # symbolic.attributes.Key (None when nothing pitched was heard in the part listened to)
    chords: list = field(default_factory=list)  # symbolic.chords.Chord per bar
    first_beat: int = 0  # index (may be negative) of bar 0's first beat in the extended beat grid
    notes: int = 0
    complete: bool = True  # heard from the whole melody (False: from its first heard_s seconds only)
    heard_s: float = 0.0


def _beat_grid(mono: np.ndarray, rate_hz: int) -> BeatGrid:
    grid = track_beats(mono, rate_hz)
    if grid.beat_times_s.size >= 4:
        return grid
    period = 60.0 / FALLBACK_TEMPO_BPM
    times = np.arange(0.0, mono.size / rate_hz + period, period)
    return BeatGrid(times, np.arange(times.size) % BEATS_PER_BAR == 0)


def _beat_time(grid: BeatGrid, position: np.ndarray) -> np.ndarray:
    """Seconds of fractional beat positions (0 = the first tracked beat), extrapolated past both ends."""
    beats = grid.beat_times_s
    period = float(np.median(np.diff(beats)))
    index = np.arange(beats.size, dtype=float)
    out = np.interp(position, index, beats)
    out = np.where(position < 0, beats[0] + position * period, out)
    return np.where(position > index[-1], beats[-1] + (position - index[-1]) * period, out)


def _beat_position(grid: BeatGrid, seconds: np.ndarray) -> np.ndarray:
    """Fractional beat position of times in seconds (the inverse of _beat_time)."""
    beats = grid.beat_times_s
    period = float(np.median(np.diff(beats)))
    index = np.arange(beats.size, dtype=float)
    out = np.interp(seconds, beats, index)
    out = np.where(seconds < beats[0], (seconds - beats[0]) / period, out)
    return np.where(seconds > beats[-1], index[-1] + (seconds - beats[-1]) / period, out)


def segment_bars(first_bar: int) -> int:
    """Bars of the segment that starts at first_bar: FIRST_SEGMENT_BARS, then each as long as all before
    it (2, 2, 4, 8, 16 bars...), at most SEGMENT_BARS."""
    return FIRST_SEGMENT_BARS if first_bar == 0 else min(SEGMENT_BARS, max(FIRST_SEGMENT_BARS, first_bar))


def diatonic_triads(key) -> list:
    """The seven triads on the key's degrees (minor keys take the harmonic minor's major V)."""
    from symbolic.chords import Chord

    scale = [(key.tonic_pitch_class + step) % 12 for step in ((0, 2, 4, 5, 7, 9, 11) if key.mode != "minor"
                                                           else (0, 2, 3, 5, 7, 8, 10))]
    triads = []
    for degree in range(7):
        root, third, fifth = scale[degree], scale[(degree + 2) % 7], scale[(degree + 4) % 7]
        if key.mode == "minor" and degree == 4:
            third = (root + 4) % 12
        quality = {(4, 7): "maj", (3, 7): "min", (3, 6): "dim", (4, 8): "aug"}[((third - root) % 12, (fifth - root) % 12)]
        triads.append(Chord(root, quality))
    return triads


def estimate_chords(weights: np.ndarray, key) -> list:
    """One diatonic triad per bar from (bars, 12) note weights: chord tones (the root a little more)
    count, other tones count against, and a change costs a little (Viterbi). Empty bars keep the chord."""
    triads = diatonic_triads(key)
    tones = np.zeros((len(triads), 12))
    for index, chord in enumerate(triads):
        tones[index, list(chord.triad_pitch_classes())] = 1.0
        tones[index, chord.root_pitch_class] = 1.3
    bars = weights.shape[0]
    scale = np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    normalised = weights / scale
    fit = normalised @ tones.T - 0.7 * (normalised @ (1.0 - np.minimum(tones, 1.0)).T)  # (bars, 7)
    fit = np.where(weights.sum(axis=1, keepdims=True) > 0, fit, 0.0)
    score = fit[0].copy()
    back = np.zeros((bars, len(triads)), dtype=int)
    change = CHANGE_PENALTY * (1.0 - np.eye(len(triads)))
    for bar in range(1, bars):
        total = score[:, None] - change
        back[bar] = np.argmax(total, axis=0)
        score = total[back[bar], np.arange(len(triads))] + fit[bar]
    path = [int(np.argmax(score))]
    for bar in range(bars - 1, 0, -1):
        path.append(int(back[bar, path[-1]]))
    return [triads[index] for index in reversed(path)]


class ComposedBacking:
    """The hybrid backing writer; the Composer is the process's shared instance."""

    def __init__(self, composer, soundfont: str | None = None, stream_head: bool = True) -> None:
        """Args:
            composer: the symbolic Composer that writes the parts.
            soundfont: FluidSynth's SoundFont (None: the renderer's default).
            stream_head: write the first bars from the melody's first seconds (False: transcribe the whole
                melody before writing anything, the plain path the benchmark compares with).
        """
        self.composer = composer
        self.soundfont = soundfont
        self.stream_head = stream_head

    @property
    def name(self) -> str:
        return MODEL_NAME

    def warm_up(self) -> None:
        """Loads basic-pitch's ONNX model and runs one short backing (librosa's JIT, the Composer)."""
        rate = 16_000
        times = np.arange(int(2.5 * rate)) / rate
        tone = (0.3 * np.sin(2 * np.pi * 440.0 * times) * (times % 0.5 < 0.4)).astype(np.float32)[:, None]
        for _ in self.generate(AccompanimentRequest(tone, rate, part="backing", seed=1)):
            pass

    # ----------------------------------------------------------------------------- listening
    def listen(self, samples: np.ndarray, sample_rate_hz: int) -> Listening:
        """The melody in mono, its tracked beats and where bar 0 starts ((frames, channels) float32 in)."""
        from audio_render.audio_io import to_mono
        from audio_render.chroma import resample

        mono = to_mono(samples)[:, 0]
        grid = _beat_grid(resample(mono, sample_rate_hz, 16_000), 16_000)
        downbeats = np.flatnonzero(grid.downbeat)
        first_down = int(downbeats[0]) if downbeats.size else 0
        first_beat = first_down - BAR_BEATS * math.ceil(first_down / BAR_BEATS)
        if first_beat > 0 or _beat_time(grid, np.array([float(first_beat)]))[0] > 0.05:
            first_beat -= BAR_BEATS  # bar 0 starts at or before the audio
        end_position = float(_beat_position(grid, np.array([mono.size / sample_rate_hz]))[0])
        bars = max(1, math.ceil((end_position - first_beat) / BAR_BEATS))
        return Listening(mono, sample_rate_hz, grid, first_beat, bars)

    def head_seconds(self, listening: Listening) -> float:
        """How much of the melody the first transcription hears: the first segment's bars and a beat more,
        at least HEAD_MIN_S, at most HEAD_MAX_S (the first chunk waits for this transcription)."""
        end_beat = float(FIRST_SEGMENT_BARS * BAR_BEATS + listening.first_beat + 1)
        end_s = float(_beat_time(listening.beats, np.array([end_beat]))[0])
        return float(np.clip(end_s, HEAD_MIN_S, HEAD_MAX_S))

    def hearing_until_s(self, listening: Listening, composed_bars: int) -> float | None:
        """How much of the melody to hear before writing the segment that starts at composed_bars: up to
        that segment's end and a beat more (None: the whole melody, when that is near its end anyway)."""
        end_beat = float((composed_bars + segment_bars(composed_bars)) * BAR_BEATS + listening.first_beat + 1)
        end_s = float(_beat_time(listening.beats, np.array([end_beat]))[0])
        duration_s = listening.mono.size / listening.sample_rate_hz
        return None if end_s >= duration_s - HEAD_MIN_S else end_s

    def hear(self, listening: Listening, until_s: float | None = None) -> Heard:
        """Key and per-bar chords of the melody, transcribed up to until_s (None: all of it).

        Raises InvalidInput when the whole melody holds no pitched note; a part of it with none gives a
        Heard with no notes (key None), for the caller to hear the whole."""
        from symbolic.attributes import Key, find_key

        rate = listening.sample_rate_hz
        whole = until_s is None or until_s * rate >= listening.mono.size
        mono = listening.mono if whole else listening.mono[: int(until_s * rate)]
        notes = self._transcribed(listening, mono.size)
        if len(notes) == 0:
            if whole:
                raise InvalidInput("no pitched notes were heard in the audio: the composer route needs a sung or "
                                   "played melody (for drums, ask for PART_DRUMS)")
            return Heard(listening.beats, None, [], listening.first_beat, 0, complete=False, heard_s=mono.size / rate)
        key = find_key(notes.pitch, notes.duration)
        if key is not None and key.mode not in ("major", "minor"):  # a church mode: its scale's major key
            scale = key.scale_pitch_classes()
            key = next(Key(tonic, "major") for tonic in range(12) if Key(tonic, "major").scale_pitch_classes() == scale)
        key = key or Key(int(np.bincount(notes.pitch % 12).argmax()), "major")  # no profile fits: the commonest note
        grid, first_beat, bars = listening.beats, listening.first_beat, listening.bars
        if not whole:  # the bars the heard part reaches
            heard_end = float(_beat_position(grid, np.array([mono.size / rate]))[0])
            bars = max(1, min(bars, math.ceil((heard_end - first_beat) / BAR_BEATS)))
        weights = np.zeros((bars, 12))
        onset = _beat_position(grid, notes.onset) - first_beat
        offset = _beat_position(grid, notes.onset + notes.duration) - first_beat
        for start, stop, pitch in zip(onset, offset, notes.pitch):
            for bar in range(max(0, int(start // BAR_BEATS)), min(bars, int(stop // BAR_BEATS) + 1)):
                overlap = min(stop, (bar + 1) * BAR_BEATS) - max(start, bar * BAR_BEATS)
                on_downbeat = 1.5 if abs(start - bar * BAR_BEATS) < 0.25 else 1.0
                weights[bar, int(pitch) % 12] += max(0.0, overlap) * on_downbeat
        return Heard(grid, key, estimate_chords(weights, key), first_beat, len(notes), complete=whole,
                     heard_s=mono.size / rate)

    @staticmethod
    def _transcribed(listening: Listening, end: int):
        """The melody's notes up to sample `end`, transcribing only what was not heard yet (and
        HEAR_OVERLAP_S before it); kept in `listening` for the next, longer hearing."""
        from audio_render.audio_io import encode_wav
        from audio_render.transcribe import TranscribedNotes, transcribe

        rate = listening.sample_rate_hz
        done = int(round(listening.heard_s * rate))
        old = listening.notes
        if old is not None and end <= done:
            return old.select(old.onset < end / rate)
        start = max(0, done - int(HEAR_OVERLAP_S * rate)) if old is not None else 0
        window = listening.mono[start:end]
        empty = TranscribedNotes(np.zeros(0), np.zeros(0), np.zeros(0, int), np.zeros(0, int))
        new = transcribe(encode_wav(window, rate), monophonic=True, max_duration_s=window.size / rate + 1.0) \
            if np.any(np.abs(window) > 1e-4) else empty
        new = TranscribedNotes(new.onset + start / rate, new.duration, new.pitch, new.velocity)
        if old is not None:
            cut = done / rate - EDGE_S
            old, new = old.select(old.onset < cut), new.select(new.onset >= cut)
            new = TranscribedNotes(*(np.concatenate([getattr(old, name), getattr(new, name)])
                                     for name in ("onset", "duration", "pitch", "velocity")))
        listening.notes, listening.heard_s = new, end / rate
        return new

    # ----------------------------------------------------------------------------- writing
    def compose(self, heard: Heard, first_bar: int, seed: int, cancel: CancelToken) -> tuple[int, list]:
        """One segment of bars from first_bar (`segment_bars`: short at first, so the first audio comes
        early, then doubling up to SEGMENT_BARS): (the bar after the segment, its (program, start beat, end beat, pitch, velocity)
        notes), beats counted from bar 0."""
        import pretty_midi

        from symbolic.attributes import Attributes
        from symbolic.chords import progression_text
        from symbolic.decoding import Sampling

        cancel.check()
        tempo = heard.beats.tempo_bpm or FALLBACK_TEMPO_BPM
        tempo = float(np.clip(tempo, 40.0, 240.0))
        instruments = [BASS_PROGRAM, CHORDS_PROGRAM, RHYTHM_PROGRAM]
        roles = {BASS_PROGRAM: "bass", CHORDS_PROGRAM: "chords", RHYTHM_PROGRAM: "arpeggio"}
        size = segment_bars(first_bar)
        chords = heard.chords[first_bar : first_bar + size]
        result = self.composer.generate(
            Attributes(instruments=instruments, roles=roles, key=heard.key, time_signature=(BAR_BEATS, 4),
                       tempo_bpm=tempo, bars=len(chords), chords=progression_text(chords)),
            Sampling(seed=(seed or 1) + first_bar), cancel=cancel)
        midi = pretty_midi.PrettyMIDI(io.BytesIO(result.midi))
        notes = []
        for instrument in midi.instruments:
            if instrument.is_drum:
                continue
            for note in instrument.notes:
                start = midi.time_to_tick(note.start) / midi.resolution + first_bar * BAR_BEATS
                end = midi.time_to_tick(note.end) / midi.resolution + first_bar * BAR_BEATS
                notes.append((instrument.program, start, end, note.pitch, note.velocity))
        return first_bar + len(chords), notes

    def render(self, heard: Heard, notes, frames: int, rate_hz: int) -> np.ndarray:
        """The notes on the tracked beats, rendered mono at rate_hz, exactly `frames` long."""
        import pretty_midi

        from audio_render.render import RenderOptions, render_midi

        midi = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=120.0)
        tracks: dict[int, pretty_midi.Instrument] = {}
        for program, start, end, pitch, velocity in notes:
            begin_s, end_s = _beat_time(heard.beats, np.array([start, end], dtype=float) + heard.first_beat)
            if end_s <= 0.0:
                continue
            track = tracks.setdefault(program, pretty_midi.Instrument(program=program))
            track.notes.append(pretty_midi.Note(int(velocity), int(pitch), max(0.0, float(begin_s)),
                                                max(float(begin_s) + 0.03, float(end_s))))
        midi.instruments.extend(tracks.values())
        render_rate = rate_hz if RENDER_RATES_HZ[0] <= rate_hz <= RENDER_RATES_HZ[1] else 48_000
        if not any(track.notes for track in tracks.values()):
            return np.zeros(frames, np.float32)
        buffer = io.BytesIO()
        midi.write(buffer)
        options = RenderOptions(sample_rate_hz=render_rate, channels=1, tail_s=0.5,
                                **({"soundfont": self.soundfont} if self.soundfont else {}))
        audio = render_midi(buffer.getvalue(), options).samples[:, 0]
        if render_rate != rate_hz:
            from scipy.signal import resample_poly

            divisor = math.gcd(render_rate, rate_hz)
            audio = resample_poly(audio, rate_hz // divisor, render_rate // divisor).astype(np.float32)
        out = np.zeros(frames, np.float32)
        out[: min(frames, audio.size)] = audio[:frames]
        return out

    # ----------------------------------------------------------------------------- serving
    def generate(self, request: AccompanimentRequest, progress: ProgressFn = no_progress,
                 cancel: CancelToken | None = None) -> Iterator[Analysis | AccompanimentChunk]:
        """Same stream as `model.Accompanist.generate`: an Analysis, then the part (and mix) in order; when
        the first was heard from the melody's start only, each longer hearing (up to the next segment's
        end, at last the whole melody) sends an Analysis before the first chunk written from it."""
        if request.part != "backing":
            raise InvalidInput("the composer route writes backing only: ask for drums with the token model")
        samples = np.asarray(request.samples, dtype=np.float32)
        if samples.ndim != 2 or samples.shape[0] == 0:
            raise InvalidInput("the audio must be (frames, channels) samples with at least one frame")
        cancel = cancel or CancelToken()
        rate, frames = int(request.sample_rate_hz), samples.shape[0]
        progress(ProgressEvent("analyse", 0.02, "tracking beats, transcribing the melody's start, finding key and chords"))
        listening = self.listen(samples, rate)
        # Streaming: the first segment is written from the melody's first seconds only (the whole clip's
        # transcription would hold the first chunk back); before each later segment the melody is heard up
        # to that segment's end (at last all of it), and the key and chords from there on come from all of
        # that: a long input's whole transcription no longer holds the second segment back.
        heard = self.hear(listening, self.head_seconds(listening) if self.stream_head else None)
        if heard.key is None:  # nothing pitched in the first seconds: hear it all before writing
            heard = self.hear(listening)
        yield self._analysis(heard)
        cancel.check()
        progress(ProgressEvent("compose", 0.3, f"composing bass and chords in {heard.key}"))
        # Each render holds every note composed so far, so audio before a segment boundary never changes
        # (later notes start after it).
        notes: list = []
        composed_bars, covered, part_mono, gain = 0, 0, np.zeros(frames, np.float32), None
        melody_rms = float(np.sqrt(np.mean(np.square(samples.mean(axis=1), dtype=np.float64))))
        bounds = chunk_boundaries(frames, rate)
        for index, (begin, stop) in enumerate(bounds):
            cancel.check()
            while covered < stop:
                if composed_bars and not heard.complete:
                    more = self.hear(listening, self.hearing_until_s(listening, composed_bars))
                    if more.key is None:  # nothing pitched in that prefix either: hear it all
                        more = self.hear(listening)
                    more.chords[:composed_bars] = heard.chords[:composed_bars]  # those bars are written
                    heard = more
                    yield self._analysis(heard)
                next_bar, segment = self.compose(heard, composed_bars, request.seed, cancel)
                composed_bars = next_bar
                notes.extend(segment)
                if next_bar >= listening.bars:
                    covered = frames
                else:
                    boundary = _beat_time(heard.beats, np.array([float(next_bar * BAR_BEATS + heard.first_beat)]))[0]
                    covered = int(np.clip(boundary * rate, 0, frames))
                part_mono = self.render(heard, notes, frames, rate)
                if gain is None:  # the level is set once, from the first segment, so chunks stay even
                    head = part_mono[: max(covered, 1)]
                    part_rms = float(np.sqrt(np.mean(np.square(head, dtype=np.float64))))
                    gain = BACKING_LEVEL * melody_rms / part_rms if part_rms > 1e-6 else 1.0
            part = np.repeat(np.clip(part_mono[begin:stop] * gain, -1.0, 1.0)[:, None], samples.shape[1], axis=1)
            mix = np.clip(samples[begin:stop] + MIX_PART_GAIN * part, -1.0, 1.0) if request.mix else None
            progress(ProgressEvent("generate", 0.3 + 0.7 * stop / frames, f"{stop / rate:.1f} s of {frames / rate:.1f} s"))
            yield AccompanimentChunk(begin, part.astype(np.float32), mix, index == len(bounds) - 1)

    @staticmethod
    def _analysis(heard: Heard) -> Analysis:
        from symbolic.chords import progression_text

        chords = progression_text(heard.chords)
        so_far = "" if heard.complete else (f" (from the melody's first seconds, {heard.heard_s:.1f} s of it; the rest "
                                            f"is heard before the bars after)")
        return Analysis(heard.beats, heard.beats.tempo_bpm, f"hybrid backing (not the audio-token model): "
                        f"{heard.notes} notes transcribed with basic-pitch, key {heard.key}, chords per bar "
                        f"{chords}{so_far}; bass, piano and guitar written by the symbolic Composer, rendered with "
                        f"FluidSynth on the tracked beats", key=str(heard.key), chords=tuple(chords.split()))
