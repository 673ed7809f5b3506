"""Continue and infill on a user's MIDI file of any length, editing its own event stream.

The model reads a window of bars around the place it writes (its context is a few hundred tokens);
the file itself is never cut. The new notes go into the file's own tracks, next to everything that
was there: the bars not regenerated come back with the same notes, tempo map, meter changes, key
signatures, program changes and controllers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import mido
import numpy as np

from ostinato.errors import InvalidInput, LimitExceeded
from ostinato.runtime import CancelToken, ProgressFn
from symbolic.attributes import DRUM_PROGRAM, Key, NoteTable, bar_quarters, extract
from symbolic.codec import decode_bars, encode_bars
from symbolic.conditioning import PREFIX_GROUPS
from symbolic.decoding import BodyConstraints, Decoder, Sampling, generate_bars, sample_prefix
from symbolic.instruments import program_name
from symbolic.midi_file import BarMap, MidiEventFile, NewNote, Part, key_signature_name
from symbolic.midi_io import midi_to_clip
from symbolic.tokenizer import program_order
from symbolic.tonality import TonalCentre

if TYPE_CHECKING:
    from symbolic.composer import Composer, Generated

# Bars of the file the model reads before the bars it writes (more would not fit its window).
CONTEXT_BARS = 16
# Instruments with notes in the primer's last bars keep playing in a continuation.
PLAYING_BARS = 4
# Longest file read, in bars (a 4 MiB file limit comes first for real music).
MAX_FILE_BARS = 4096
TEMPO_LIMITS_BPM = (20.0, 300.0)
# Continuations sampled for a key change; the one that sounds most plainly in the new key is kept.
KEY_CHANGE_CANDIDATES = 4


@dataclass
class SectionChange:
    """What changes where a continuation starts; None or empty means as the primer goes on.

    Attributes:
        key: the new key (mode None keeps the primer's mode); the continuation is steered into it and a
            key-signature event marks the change.
        tempo_bpm: the new tempo (a tempo event at the boundary).
        time_signature: the new meter (a time-signature event at the boundary).
        rhythm_intensity: 0 (sparse) to 1 (dense): the continuation's density level.
        notes_per_bar: density as average onsets per bar (rhythm_intensity takes precedence).
        instruments: the exact instruments playing after the boundary (GM programs, -1 drums).
        entering: instruments that join the ones playing.
        leaving: instruments that stop.
        chords: the new bars' chords, one per bar ("C G Am F", or Roman numerals in the new key); a
            shorter progression repeats. Without them, a key change gets a progression sampled in the
            new key (tonic first, a cadence at the end), so the new key is heard.
        roles: a role per program (symbolic.roles) where the default for its family is not wanted.
    """

    key: Key | None = None
    tempo_bpm: float | None = None
    time_signature: tuple[int, int] | None = None
    rhythm_intensity: float | None = None
    notes_per_bar: float | None = None
    instruments: list[int] | None = None
    entering: list[int] = field(default_factory=list)
    leaving: list[int] = field(default_factory=list)
    chords: str | None = None
    roles: dict[int, str] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return (self.key is None and self.tempo_bpm is None and self.time_signature is None
                and self.rhythm_intensity is None and self.notes_per_bar is None and self.instruments is None
                and not self.entering and not self.leaving and not self.chords and not self.roles)


def _seed(sampling: Sampling | None) -> Sampling:
    sampling = sampling or Sampling()
    if sampling.seed == 0:
        sampling = Sampling(random.SystemRandom().randrange(1, 2**31), sampling.temperature, sampling.top_k)
    return sampling


def _read(midi: bytes, what: str) -> tuple[MidiEventFile, BarMap]:
    song = MidiEventFile.from_bytes(midi, what)
    if not song.notes:
        raise InvalidInput(f"the {what} has no notes")
    bar_map = song.bars()
    if len(bar_map) > MAX_FILE_BARS:
        raise LimitExceeded(f"bars in the {what}", len(bar_map), MAX_FILE_BARS, "bars")
    return song, bar_map


def _model_meter(composer: "Composer", meter: tuple[int, int], where: str) -> tuple[tuple[int, int], int]:
    """The meter the model reads and writes a stretch of the file in, and how many of the file's bars
    make one of its bars: a pop file notated in 1/4 is read four bars at a time, as 4/4."""
    meter = (int(meter[0]), int(meter[1]))
    if meter in composer.vocab.time_signature:
        return meter, 1
    for group in (4, 2, 3, 6, 8):
        grouped = (meter[0] * group, meter[1])
        if grouped in composer.vocab.time_signature:
            return grouped, group
    supported = ", ".join(f"{n}/{d}" for n, d in composer.time_signatures)
    raise InvalidInput(f"{where} is in {meter[0]}/{meter[1]}, which the model cannot write (nor a whole number "
                       f"of its bars); it writes {supported}")


def _in_key(table: NoteTable, old: Key, new: Key) -> NoteTable:
    """Pitched notes moved from one key into another, degree by degree: the tonic moves by the
    smallest interval, and each scale degree of the old mode becomes the same degree of the new one
    (a D major tune heard in E minor has G, C and D naturals), so the model hears music already in the
    new key and mode. Notes outside the old scale keep their distance from the tonic. Drums untouched."""
    if old == new or len(table) == 0:
        return table
    semitones = ((new.tonic_pitch_class - old.tonic_pitch_class + 5) % 12) - 5
    old_steps = sorted((pc - old.tonic_pitch_class) % 12 for pc in old.scale_pitch_classes())
    new_steps = sorted((pc - new.tonic_pitch_class) % 12 for pc in new.scale_pitch_classes())
    degree_of = {step: new_steps[index] - step for index, step in enumerate(old_steps)}
    pitch = table.pitch.copy()
    pitched = table.program != DRUM_PROGRAM
    relative = (pitch[pitched] - old.tonic_pitch_class) % 12
    moved = pitch[pitched] + semitones + np.array([degree_of.get(int(r), 0) for r in relative], dtype=int)
    moved = np.where(moved > 108, moved - 12, moved)
    moved = np.where(moved < 21, moved + 12, moved)
    pitch[pitched] = moved
    return NoteTable(table.onset_q, table.duration_q, pitch, table.program, table.velocity)


def _accent(onset_q: np.ndarray, bar_q: float) -> np.ndarray:
    downbeat = np.isclose(np.mod(onset_q, bar_q), 0.0)
    on_beat = np.isclose(np.mod(onset_q, 1.0), 0.0)
    return np.where(downbeat, 6, np.where(on_beat, 2, -3))


class _PartWriter:
    """Puts the model's notes (by program) into the file's parts (tracks), with each part's loudness."""

    def __init__(self, song: MidiEventFile, candidates: list[Part], window_start: int, window_end: int,
                 at_tick: int) -> None:
        self.song = song
        self.by_program: dict[int, list[Part]] = {}
        self.median_pitch: dict[Part, float] = {}
        self.median_velocity: dict[Part, float] = {}
        for part in candidates:
            program = song.program_at(part, at_tick)
            self.by_program.setdefault(program, []).append(part)
        for note in song.live_notes():
            part = Part(note.track, note.channel)
            if part in candidates and window_start <= note.start_tick < window_end:
                self.median_pitch.setdefault(part, []).append(note.pitch)  # type: ignore[arg-type]
                self.median_velocity.setdefault(part, []).append(note.velocity)  # type: ignore[arg-type]
        self.median_pitch = {p: float(np.median(v)) for p, v in self.median_pitch.items()}
        self.median_velocity = {p: float(np.median(v)) for p, v in self.median_velocity.items()}

    def part_for(self, program: int, allow_new: bool) -> list[Part]:
        parts = self.by_program.get(program, [])
        if parts or not allow_new:
            return parts
        channel = self.song.free_channel(program == DRUM_PROGRAM)
        if channel is None:
            raise InvalidInput(f"the file uses all 15 melodic MIDI channels; no channel is free for "
                               f"{program_name(program)}")
        track = self.song.add_track(program_name(program), channel, max(program, 0))
        part = Part(track, channel)
        self.by_program[program] = [part]
        return [part]

    def _share(self, table: NoteTable, indexes: np.ndarray, parts: list[Part], bar_q: float) -> dict[int, Part]:
        """Which part plays each note of one program. Parts sharing a program (a pop file's melody, second
        melody and piano all on piano) take the notes nearest their register; then, bar by bar, a part
        left silent takes the note nearest its register from the busiest part, so every part that was
        playing keeps playing."""
        if len(parts) == 1:
            return {int(i): parts[0] for i in indexes}
        owner = {int(i): min(parts, key=lambda p: abs(self.median_pitch[p] - int(table.pitch[i]))) for i in indexes}
        bar_of = {int(i): int(np.floor(float(table.onset_q[i]) / bar_q + 1e-9)) for i in indexes}
        for bar in sorted(set(bar_of.values())):
            in_bar = [i for i in owner if bar_of[i] == bar]
            for part in parts:
                held = {p: [i for i in in_bar if owner[i] == p] for p in parts}
                if held[part]:
                    continue
                donor = max(parts, key=lambda p: len(held[p]))
                if len(held[donor]) < 2:
                    continue
                moved = min(held[donor], key=lambda i: abs(self.median_pitch[part] - int(table.pitch[i])))
                owner[moved] = part
        return owner

    def write(self, table: NoteTable, start_tick: int, bar_q: float, default_velocity: np.ndarray,
              allow_new: bool) -> dict[int, int]:
        """Adds the notes (quarters from `start_tick`); returns notes added per program."""
        tpq = self.song.ticks_per_quarter
        accents = _accent(table.onset_q, bar_q)
        added: dict[int, int] = {}
        for program in sorted({int(p) for p in table.program}):
            parts = self.part_for(program, allow_new)
            if not parts:
                continue
            indexes = np.nonzero(table.program == program)[0]
            pitched = [p for p in parts if p in self.median_pitch]
            owner = self._share(table, indexes, pitched or parts[:1], bar_q)
            per_part: dict[Part, list[NewNote]] = {}
            for index in indexes:
                pitch = int(table.pitch[index])
                part = owner[int(index)]
                if part in self.median_velocity:
                    velocity = int(self.median_velocity[part] + accents[index])
                else:
                    velocity = int(default_velocity[index])
                start = start_tick + int(round(float(table.onset_q[index]) * tpq))
                end = start + max(1, int(round(float(table.duration_q[index]) * tpq)))
                per_part.setdefault(part, []).append(NewNote(start, end, pitch, velocity))
            for part, notes in per_part.items():
                added[program] = added.get(program, 0) + self.song.add_notes(part, notes)
        return added


def _steering(key: Key, strong: bool) -> dict:
    from symbolic import composer as composer_module

    if not strong:
        return composer_module._gentle_key_steering(key)
    # a new key is established more firmly than a generated clip's: the tonic triad and the degree that
    # tells the mode (the leading tone in major) weigh more, so the new tonic is not heard as a IV or V
    return {"scale_pitch_classes": key.scale_pitch_classes(), "key_bias": 2.5,
            "tonic_pitch_class": key.tonic_pitch_class, "triad_pitch_classes": key.triad_pitch_classes(),
            "tonic_bias": 1.5, "colour_pitch_classes": key.colour_pitch_classes(),
            "colour_bias": 2 * (composer_module.COLOUR_BIAS_MAJOR_MINOR if key.mode in ("major", "minor")
                                else composer_module.COLOUR_BIAS_CHURCH_MODES)}


def _bar_by_bar(decoder: Decoder, prefix: list[int], context: list[list[int]], constraints: list[BodyConstraints],
                progress: ProgressFn | None, span: tuple[float, float] = (0.0, 1.0),
                kept: list[list[int]] | None = None) -> list[list[int]]:
    """New bars one at a time, each with its own constraints: a bar cannot end while one of its
    required parts is silent, so every part that must play does so in every bar (not only somewhere)."""
    produced: list[list[int]] = []
    count = len(constraints)
    for index, bar_constraints in enumerate(constraints):
        low = span[0] + (span[1] - span[0]) * index / count
        high = span[0] + (span[1] - span[0]) * (index + 1) / count
        bar_kept = [kept[index]] if kept and index < len(kept) else None
        produced += generate_bars(decoder, prefix, context + produced, 1, bar_constraints, progress, (low, high),
                                  kept=bar_kept)
    return produced


def _inner_bar(steering: dict) -> dict:
    """Steering of a bar that is not the last one written: no cadence."""
    tonic = steering.get("tonic_bias", 1.0)
    return {**steering, "last_bar_tonic_bias": tonic, "final_tonic_bias": tonic} if steering else steering


def _validate_programs(programs: list[int], what: str) -> None:
    for program in programs:
        if not (program == DRUM_PROGRAM or 0 <= program <= 127):
            raise InvalidInput(f"{what}: program {program} is not a General MIDI program (0-127) or drums (-1)")


def continue_file(composer: "Composer", primer_midi: bytes, bars: int, sampling: Sampling | None = None, *,
                  continuation_only: bool = False, change: SectionChange | None = None,
                  progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> "Generated":
    """Adds `bars` bars after the end of a primer file of any length, optionally changing key, tempo,
    meter, density or instruments at the boundary. See Composer.continue_clip."""
    from symbolic import composer as composer_module

    sampling = _seed(sampling)
    change = change or SectionChange()
    composer._check_bars(bars)
    song, bar_map = _read(primer_midi, "primer MIDI file")
    total = len(bar_map)
    last = total - 1
    meter = tuple(bar_map.meter[last])
    model_meter, group = _model_meter(composer, meter, f"the primer's last bar (bar {last})")
    new_meter = tuple(change.time_signature) if change.time_signature else meter
    new_model_meter, new_group = _model_meter(composer, new_meter, "the requested continuation")
    segment_first, _ = bar_map.same_meter_run(last)
    context_bars = min(CONTEXT_BARS, (total - segment_first) // group)  # in the model's bars
    context_first = total - context_bars * group
    model_bars = -(-bars // new_group)
    window_start = int(bar_map.start_tick[context_first]) if context_bars else int(bar_map.end_tick[last])
    boundary = int(bar_map.end_tick[last])
    tempo_bpm = song.tempo_at(boundary)
    new_tempo = float(change.tempo_bpm) if change.tempo_bpm is not None else tempo_bpm
    if not TEMPO_LIMITS_BPM[0] <= new_tempo <= TEMPO_LIMITS_BPM[1]:
        raise InvalidInput(f"tempo {new_tempo:g} bpm is outside {TEMPO_LIMITS_BPM[0]:g}-{TEMPO_LIMITS_BPM[1]:g} bpm")
    context = song.window(window_start, boundary)
    measured = extract(context, model_meter, tempo_bpm, bars=max(1, context_bars))
    recent_start = int(bar_map.start_tick[max(0, min(context_first, total - PLAYING_BARS * group))])
    playing = program_order(context.program[context.onset_q * song.ticks_per_quarter
                                            >= recent_start - window_start])
    heard = program_order(context.program)

    # who plays after the boundary
    for what, programs in (("instruments", change.instruments or []), ("entering", change.entering),
                           ("leaving", change.leaving)):
        _validate_programs(programs, what)
    if change.instruments is not None:
        after = program_order(change.instruments)
    else:
        missing = [p for p in change.leaving if p not in playing]
        if missing:
            names = ", ".join(program_name(p) for p in missing)
            raise InvalidInput(f"{names} cannot leave: not playing in the primer's last {PLAYING_BARS} bars "
                               f"(playing: {', '.join(program_name(p) for p in playing)})")
        after = program_order([p for p in playing + list(change.entering) if p not in change.leaving])
    if not after:
        raise InvalidInput("no instrument would play after the boundary")

    # key: a change transposes what the model hears into the new key, then steers it there
    old_key = measured.key or Key(0, "major")
    new_key = old_key
    if change.key is not None:
        new_key = Key(change.key.tonic_pitch_class % 12, change.key.mode or old_key.mode)
    heard_context = _in_key(context, old_key, new_key)

    rng = random.Random(sampling.seed)
    wanted = measured.copy(bars=context_bars + model_bars, style=None, key=new_key, tempo_bpm=new_tempo,
                           time_signature=new_model_meter, instruments=program_order(heard + after))
    density_changed = change.rhythm_intensity is not None or change.notes_per_bar is not None
    if density_changed:
        wanted = wanted.copy(rhythm_intensity=change.rhythm_intensity, notes_per_bar=change.notes_per_bar)
        if change.rhythm_intensity is None:
            wanted.rhythm_intensity = None
    plan, _ = composer._plan(wanted, rng)
    plan[PREFIX_GROUPS.index("bars")] = [composer.vocab.bars_token(context_bars + model_bars)]
    with composer._tokenizer_lock:
        context_tokens = encode_bars(composer.tokenizer, composer.vocab, heard_context, model_meter, tempo_bpm,
                                     context_bars)
    steering = _steering(new_key, strong=change.key is not None)
    harmony = _continuation_harmony(composer, change, new_key, after, bars, new_group, model_bars, rng)
    if change.key is not None:
        steering = {**steering, "centre_key": new_key, "centre_strength": composer_module.CENTRE_STRENGTH}
    # every instrument that plays on (in most of the primer's last bars) or enters plays in every new bar
    recent_bars = max(1, -(-(int(bar_map.end_tick[last]) - recent_start) // song.bar_ticks(model_meter)))
    bar_of_note = np.floor((context.onset_q * song.ticks_per_quarter - (recent_start - window_start))
                           / song.bar_ticks(model_meter)).astype(int)
    steady = [p for p in after if p in change.entering or (change.instruments is not None and p not in playing)
              or len(set(bar_of_note[(context.program == p) & (bar_of_note >= 0)])) * 2 >= recent_bars]
    # A key change samples a few continuations and keeps the one that most plainly sounds in the new key
    # (its measured key, then the share of its time on the new tonic triad).
    candidates = KEY_CHANGE_CANDIDATES if change.key is not None else 1
    best: tuple[tuple, NoteTable] | None = None
    steps = 0
    for candidate in range(candidates):
        decoder = Decoder(composer.model, composer.vocab, Sampling(
            sampling.seed + 7919 * candidate, sampling.temperature, sampling.top_k), cancel)
        prefix = sample_prefix(decoder, plan, program_order(heard + after), sorted(composer.vocab.program))
        chosen = composer._levels_from_prefix(prefix)
        table = _continuation(composer, decoder, prefix, context_tokens, model_bars, new_model_meter, after, steady,
                              steering, chosen, progress, (candidate / candidates, (candidate + 1) / candidates),
                              harmony)
        steps += decoder.steps
        table = table.select(table.onset_q < bars * bar_quarters(new_meter) - 1e-6)  # whole model bars, cut
        score = _key_score(table, new_key, new_model_meter, new_tempo, model_bars)
        if best is None or score > best[0]:
            best = (score, table)
    assert best is not None
    table = best[1]

    bar_q = bar_quarters(new_meter)
    if change.tempo_bpm is not None and abs(new_tempo - tempo_bpm) > 0.005:
        song.add_meta(boundary, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(new_tempo)))
    if new_meter != meter:
        song.add_meta(boundary, mido.MetaMessage("time_signature", numerator=new_meter[0],
                                                 denominator=new_meter[1]))
    if change.key is not None and new_key != old_key:
        song.add_meta(boundary, mido.MetaMessage("key_signature", key=key_signature_name(new_key)))
    writer = _PartWriter(song, song.parts(), window_start, boundary, boundary)
    added = writer.write(table, boundary, bar_q, composer_module._velocities(table, bar_q), allow_new=True)
    end_tick = boundary + bars * song.bar_ticks(new_meter)
    if continuation_only:
        sliced = song.sliced_from(boundary)
        if not sliced.key_signatures():
            sliced.add_meta(0, mido.MetaMessage("key_signature", key=key_signature_name(new_key)))
        midi = sliced.to_bytes(end_tick=end_tick - boundary)
        out_bars = bars
    else:
        midi = song.to_bytes(end_tick=end_tick)
        out_bars = total + bars
    clip = midi_to_clip(midi)
    clip.bars = out_bars
    requested = wanted.copy(bars=out_bars, instruments=after,
                            duration_s=bars * bar_q * 60.0 / new_tempo if continuation_only else None)
    measured_out = extract(clip.table, clip.time_signature, clip.tempo_bpm, bars=out_bars)
    notes = {"tokens_sampled": steps, "primer_bars": total, "candidates": candidates, "context_bars": context_bars,
             "boundary_tick": boundary, "playing_before": playing, "playing_after": after,
             "notes_added_per_program": added,
             "model_meter": list(new_model_meter),
             "chords": harmony.chord_symbols, "roles": {str(p): r for p, r in harmony.roles.items()},
             "continuation_key": str(extract(table, new_model_meter, new_tempo, bars=model_bars).key)
             if len(table) else None}
    return composer_module.Generated(clip, midi, requested, measured_out, sampling.seed, notes)


@dataclass
class Harmony:
    """Chords (one per model bar, None where there is none) and roles the decoder follows in new bars."""

    bar_chords: list | None = None
    roles: dict[int, str] = field(default_factory=dict)

    @property
    def chord_symbols(self) -> list[str]:
        return [] if not self.bar_chords else [("N" if c is None else c.symbol()) for c in self.bar_chords]

    def for_bar(self, index: int) -> dict:
        """BodyConstraints fields for the `index`-th new bar (nothing when there is no harmony)."""
        if not self.roles:
            return {}
        chord = self.bar_chords[index] if self.bar_chords and index < len(self.bar_chords) else None
        return {"roles": self.roles, "bar_chords": [chord] if chord is not None else None}


def _continuation_harmony(composer: "Composer", change: SectionChange, key: Key, programs: list[int], bars: int,
                          group: int, model_bars: int, rng: random.Random) -> Harmony:
    """What the new bars follow: the given chords, or (at a key change) a progression sampled in the new
    key, with every playing instrument in its role. Without chords, roles or a key change the model
    follows the primer's own parts and harmony."""
    from symbolic.chords import parse_progression
    from symbolic.roles import assign_roles

    if change.chords and change.chords.strip():
        per_bar = parse_progression(change.chords, key, bars)
        chords = [per_bar[index * group] for index in range(model_bars)]
    elif change.key is not None and composer.chord_model is not None:
        chords = composer.chord_model.sample(key, model_bars, rng)
    elif change.roles:
        chords = None
    else:
        return Harmony()
    return Harmony(chords, assign_roles(programs, change.roles))


def _continuation(composer: "Composer", decoder: Decoder, prefix: list[int], context_tokens: list[list[int]],
                  bars: int, meter: tuple[int, int], programs: list[int], steady: list[int], steering: dict,
                  chosen: dict, progress: ProgressFn | None, span: tuple[float, float],
                  harmony: Harmony | None = None) -> NoteTable:
    """One continuation's notes (quarters from the boundary), bar by bar, paced at the prefix's density."""
    from symbolic import composer as composer_module

    harmony = harmony or Harmony()
    steering = {**steering, "density_band": composer_module._density_band(chosen["density"])}
    if steering.get("centre_key") is not None:  # one listener hears all the new bars
        steering["centre"] = TonalCentre(steering["centre_key"], steering["centre_strength"])
    constraints = [BodyConstraints(time_signature=meter, programs=programs, required_programs=steady,
                                   phrase_end=bar == bars - 1 or bar % 4 == 3,
                                   **(steering if bar == bars - 1 else _inner_bar(steering)), **harmony.for_bar(bar))
                   for bar in range(bars)]
    new_bars = _bar_by_bar(decoder, prefix, context_tokens, constraints, progress, span)
    with composer._tokenizer_lock:
        table = decode_bars(composer.tokenizer, new_bars, meter)
    return table.select(np.isin(table.program, programs))


# Aarden-Essen key profiles (Aarden 2003; the profile music21's default key analysis correlates with):
# a listener's judgement of the key, used to pick among candidate continuations after a key change.
_LISTENER_MAJOR = np.array([17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062, 0.145624,
                            8.15494, 0.232998, 4.95122])
_LISTENER_MINOR = np.array([18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161, 4.56621,
                            1.93186, 7.37619, 1.75623])


def _key_score(table: NoteTable, key: Key, meter: tuple[int, int], tempo_bpm: float, bars: int) -> tuple:
    """How plainly notes sound in `key` to a listener: whether the best-correlating major/minor key of
    the duration-weighted pitch classes is `key` (its relative major/minor for church modes), then by
    how much it beats the runner-up, then the project's own extractor."""
    pitched = table.select(table.program != DRUM_PROGRAM)
    if len(pitched) == 0:
        return (False, -1.0, False)
    histogram = np.bincount(pitched.pitch % 12, weights=pitched.duration_q, minlength=12)
    scores = {}
    for mode, profile in (("major", _LISTENER_MAJOR), ("minor", _LISTENER_MINOR)):
        for tonic in range(12):
            scores[(tonic, mode)] = float(np.corrcoef(histogram, np.roll(profile, tonic))[0, 1])
    target = (key.tonic_pitch_class, key.mode if key.mode in ("major", "minor") else "major")
    runner_up = max(v for k, v in scores.items() if k != target)
    return (scores[target] > runner_up, scores[target] - runner_up,
            extract(table, meter, tempo_bpm, bars=bars).key == key)


def _runs(bars: list[int], bar_map: BarMap) -> list[list[int]]:
    """Consecutive chosen bars, split where the meter (or bar length) changes."""
    runs: list[list[int]] = []
    for bar in sorted(set(bars)):
        if runs and runs[-1][-1] == bar - 1 and bar_map.same_meter_run(bar) == bar_map.same_meter_run(runs[-1][-1]):
            runs[-1].append(bar)
        else:
            runs.append([bar])
    return runs


def infill_file(composer: "Composer", midi: bytes, bars: list[int], tracks: list[int] | None = None,
                sampling: Sampling | None = None, *, progress: ProgressFn | None = None,
                cancel: CancelToken | None = None) -> "Generated":
    """Regenerates the chosen bars (of the chosen tracks) of a file of any length, keeping the rest of
    the file as it was. See Composer.infill."""
    from symbolic import composer as composer_module

    sampling = _seed(sampling)
    song, bar_map = _read(midi, "MIDI file")
    total = len(bar_map)
    if not bars:
        raise InvalidInput("choose at least one bar to infill")
    for bar in bars:
        if not 0 <= bar < total:
            raise InvalidInput(f"bar {bar} does not exist: the file has {total} bars (numbered from 0)")
    parts = song.parts()
    if tracks:
        for track in tracks:
            if not 0 <= track < len(parts):
                raise InvalidInput(f"track {track} does not exist: the file has {len(parts)} tracks with notes "
                                   f"(numbered from 0)")
        regenerate_parts = {parts[t] for t in tracks}
    else:
        regenerate_parts = set(parts)
    staying_parts = set(parts) - regenerate_parts
    runs = _runs(bars, bar_map)
    model_meters = [_model_meter(composer, tuple(bar_map.meter[run[0]]), f"bar {run[0]}") for run in runs]
    steps = 0
    gap_scores: list[list[float]] = []
    regenerated_programs: set[int] = set()
    for run_index, run in enumerate(runs):
        start, count = run[0], len(run)
        meter, group = model_meters[run_index]  # the model's meter, and the file's bars in one of its bars
        model_ticks = song.bar_ticks(meter)
        segment_first, segment_end = bar_map.same_meter_run(start)
        gap_bars = -(-count // group)  # the model writes whole bars of its meter from the run's start
        before = min(CONTEXT_BARS, (start - segment_first) // group)
        after_gap = max(0, min(composer_module.INFILL_RIGHT_BARS, (segment_end - start - gap_bars * group) // group))
        run_start, run_end = int(bar_map.start_tick[start]), int(bar_map.end_tick[start + count - 1])
        window_start = run_start - before * model_ticks
        window_end = run_start + (gap_bars + after_gap) * model_ticks
        tempo_bpm = song.tempo_at(run_start)
        window_bars = before + gap_bars + after_gap
        table = song.window(window_start, window_end)
        measured = extract(table, meter, tempo_bpm, bars=window_bars)
        replaced = [n for n in song.live_notes() if Part(n.track, n.channel) in regenerate_parts
                    and run_start <= n.start_tick < run_end]
        # the regenerated parts that played in the gap play in it again, bar by bar; a part silent
        # there (but playing around it) may come in; parts silent in the whole window stay silent
        around = {Part(n.track, n.channel) for n in song.live_notes() if window_start <= n.start_tick < window_end}
        regenerate = (program_order(n.program for n in replaced)
                      or program_order(song.program_at(p, run_start) for p in regenerate_parts & around)
                      or program_order(song.program_at(p, run_start) for p in regenerate_parts))
        required_per_bar = [program_order(n.program for n in replaced if 0 <= n.start_tick - run_start
                                          - index * model_ticks < model_ticks) for index in range(gap_bars)]
        staying = song.window(run_start, run_end, staying_parts)
        all_programs = program_order(list(table.program) + regenerate)
        rng = random.Random(sampling.seed + run_index)
        plan, _ = composer._plan(measured.copy(bars=window_bars, style=None, instruments=all_programs), rng)
        with composer._tokenizer_lock:
            encoded = encode_bars(composer.tokenizer, composer.vocab, table, meter, tempo_bpm, window_bars)
            kept = (encode_bars(composer.tokenizer, composer.vocab, staying, meter, tempo_bpm, gap_bars)
                    if len(staying) else None)
        offset = before
        context = encoded[:offset]
        # The model writes left to right, so it sees only the bars before the gap. The bars after it
        # choose among candidates: the one under which the model finds them most likely is kept.
        following = [t for bar in encoded[offset + gap_bars:] for t in bar]
        candidates = composer_module.INFILL_CANDIDATES if following else 1
        key = measured.key
        steering = composer_module._gentle_key_steering(key, cadence=start + count == total) if key else {}
        harmony = _gap_harmony(song.window(run_start, run_start + gap_bars * model_ticks), meter, gap_bars,
                               all_programs, regenerate)
        constraints = [BodyConstraints(time_signature=meter, programs=regenerate, required_programs=required,
                                       phrase_end=index == gap_bars - 1 and start + count == total,
                                       **(steering if index == gap_bars - 1 else _inner_bar(steering)),
                                       **harmony.for_bar(index))
                       for index, required in enumerate(required_per_bar)]
        best: tuple[float, list[list[int]]] | None = None
        scores: list[float] = []
        for candidate in range(candidates):
            decoder = Decoder(composer.model, composer.vocab, Sampling(
                sampling.seed + 1000 * run_index + candidate, sampling.temperature, sampling.top_k), cancel)
            prefix = sample_prefix(decoder, plan, all_programs, sorted(composer.vocab.program))
            part = len(runs) * candidates
            span = ((run_index * candidates + candidate) / part, (run_index * candidates + candidate + 1) / part)
            new_bars = _bar_by_bar(decoder, prefix, context, constraints, progress, span, kept=kept)
            steps += decoder.steps
            score = composer._continuation_logprob(prefix, context + new_bars, following) if candidates > 1 else 0.0
            scores.append(round(score, 3))
            if best is None or score > best[0]:
                best = (score, new_bars)
        assert best is not None
        gap_scores.append(scores)
        with composer._tokenizer_lock:
            new = decode_bars(composer.tokenizer, best[1], meter)
        new = new.select(np.isin(new.program, regenerate) & (new.onset_q * song.ticks_per_quarter < run_end - run_start))
        new = _without_kept(new, staying)
        song.remove(replaced)
        bar_q = bar_quarters(meter)
        writer = _PartWriter(song, sorted(regenerate_parts, key=lambda p: (p.track, p.channel)),
                             window_start, window_end, run_start)
        writer.write(new, run_start, bar_q, composer_module._velocities(new, bar_q), allow_new=False)
        regenerated_programs.update(regenerate)
    output = song.to_bytes()
    clip = midi_to_clip(output)
    clip.bars = total
    measured_out = extract(clip.table, clip.time_signature, clip.tempo_bpm, bars=total)
    requested = measured_out.copy()
    notes = {"tokens_sampled": steps, "infilled_bars": sorted(set(bars)),
             "regenerated_programs": program_order(regenerated_programs),
             "right_context_bars": composer_module.INFILL_RIGHT_BARS, "gap_scores": gap_scores}
    return composer_module.Generated(clip, output, requested, measured_out, sampling.seed, notes)


def _gap_harmony(original: NoteTable, meter: tuple[int, int], bars: int, programs: list[int],
                 regenerate: list[int]) -> Harmony:
    """An infill keeps the harmony of the bars it replaces: the chord each bar sounded (all its parts,
    before regeneration), with the regenerated instruments in their roles in the file's ensemble."""
    from symbolic.chords import progression_from_table
    from symbolic.roles import assign_roles

    chords = progression_from_table(original, meter, bars) if len(original) else None
    roles = assign_roles(programs)
    return Harmony(chords, {program: roles[program] for program in regenerate if program in roles})


def _without_kept(new: NoteTable, staying: NoteTable) -> NoteTable:
    """Drops new notes that are a kept track's notes read back (a kept track sharing a program with a
    regenerated one is written into the model's bars, and decodes with them)."""
    if len(new) == 0 or len(staying) == 0:
        return new
    kept = {(round(float(o) * 4), int(p), int(g)) for o, p, g in zip(staying.onset_q, staying.pitch, staying.program)}
    mask = np.array([(round(float(o) * 4), int(p), int(g)) not in kept
                     for o, p, g in zip(new.onset_q, new.pitch, new.program)], dtype=bool)
    return new.select(mask)


__all__ = ["SectionChange", "continue_file", "infill_file", "CONTEXT_BARS"]
