"""The public generator: attributes in, a clip out (plus continue and infill).

    composer = Composer.from_pretrained(Path("symbolic/pretrained/default"))
    result = composer.generate(Attributes(instruments=[40], key=Key(2, "major"), bars=8), Sampling(seed=1))
    result.midi  # Standard MIDI File bytes; result.measured holds the re-extracted attributes
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ostinato.errors import InvalidInput, LimitExceeded
from ostinato.runtime import CancelToken, ProgressEvent, ProgressFn
from symbolic.attributes import (
    DENSITY_EDGES_ONSETS_PER_QUARTER,
    RANGE_EDGES_OCTAVES,
    DRUM_PROGRAM,
    MODES,
    STYLES,
    TEMPO_EDGES_BPM,
    Attributes,
    Key,
    NoteTable,
    bar_quarters,
    concat_tables,
    density_level,
    extract,
    intensity_to_level,
    key_membership,
    polyphony_level,
    range_level,
    tempo_level,
)
from symbolic.checkpoint import TransformerWeights
from symbolic.chords import CHORD_MODEL_FILE, ChordModel, key_of_progression, parse_progression, progression_text
from symbolic.codec import decode_bars
from symbolic.conditioning import PREFIX_GROUPS, group_choices
from symbolic.decoding import (
    BodyConstraints,
    Decoder,
    Sampling,
    generate_bars,
    instrument_range,
    sample_prefix,
    stepper_for,
    window_of,
)
from symbolic.drums import grooves_for, render_groove
from symbolic.editing import SectionChange, continue_file, infill_file
from symbolic.instruments import role_of
from symbolic.midi_io import Clip, midi_to_clip, table_to_midi
from symbolic.remi import load_serving_tokenizer
from symbolic.roles import assign_roles, stand_ins
from symbolic.tokenizer import Vocabulary, program_order

if TYPE_CHECKING:  # the torch model (training, evaluation) also fits; serving passes TransformerWeights
    from symbolic.model import MusicTransformer

DEFAULT_BARS_CHOICES = (4, 8, 8, 16)
MAX_INSTRUMENTS = 6
TEMPO_LIMITS_BPM = (20.0, 300.0)


@dataclass
class Limits:
    max_bars: int = 64
    max_primer_bars: int = 64


@dataclass
class Generated:
    """A generated clip with what was asked (requested + sampled) and what it measures as."""

    clip: Clip
    midi: bytes
    requested: Attributes
    measured: Attributes
    seed: int
    notes: dict = field(default_factory=dict)  # remarks, e.g. instruments completed by construction
    chords: list[str] = field(default_factory=list)  # the chord of each bar (given or sampled), "N" for none


def _velocities(table: NoteTable, bar_q: float) -> np.ndarray:
    """Musical default velocities by role and beat (the model does not predict velocity)."""
    velocity = np.empty(len(table), dtype=int)
    downbeat = np.isclose(np.mod(table.onset_q, bar_q), 0.0)
    on_beat = np.isclose(np.mod(table.onset_q, 1.0), 0.0)
    for index in range(len(table)):
        program = int(table.program[index])
        role = role_of(program)
        if role == "drums":
            base = {36: 104, 38: 98, 40: 98, 42: 68, 44: 60, 46: 78, 49: 110, 51: 74}.get(int(table.pitch[index]), 88)
        else:
            base = {"melody": 90, "harmony": 66, "bass": 82}[role]
        velocity[index] = min(127, base + (8 if downbeat[index] else 3 if on_beat[index] else 0))
    return velocity


def _normalise_instruments(programs: list[int] | None) -> list[int] | None:
    if programs is None:
        return None
    if not programs:
        return None
    unique = program_order(programs)
    for program in unique:
        if not (program == DRUM_PROGRAM or 0 <= program <= 127):
            raise InvalidInput(f"instrument program {program} is not a General MIDI program (0-127) or drums")
    if len(unique) > MAX_INSTRUMENTS:
        raise InvalidInput(f"{len(unique)} instruments requested; at most {MAX_INSTRUMENTS} per clip")
    return unique


# Logit bonus for the degrees that tell a requested mode from its neighbours (Key.colour_pitch_classes).
# Church modes need more: the key finder (like a listener) hears major or minor unless the colour
# degree is plain to hear.
COLOUR_BIAS_MAJOR_MINOR = 1.0
COLOUR_BIAS_CHURCH_MODES = 1.5
# Logits per unit of key-profile difference when listeners hear a rival key (symbolic.tonality).
CENTRE_STRENGTH = 2.0


class Composer:
    """Attribute-conditioned generation with a MusicTransformer and its tokenizer."""

    def __init__(self, model: TransformerWeights | MusicTransformer, tokenizer, meta: dict,
                 limits: Limits | None = None, chord_model: ChordModel | None = None) -> None:
        self.model = model
        self.chord_model = chord_model  # samples a progression when none is given (symbolic.pop909 builds it)
        self.tokenizer = tokenizer
        self.vocab = Vocabulary.of(tokenizer)
        self.meta = meta
        self.limits = limits or Limits()
        self._tokenizer_lock = threading.Lock()  # miditok encode/decode are not documented thread-safe
        self.style_time_signatures = {
            style: [tuple(ts) for ts in pairs] for style, pairs in meta.get("style_time_signatures", {}).items()}

    @classmethod
    def from_pretrained(cls, directory: Path, limits: Limits | None = None) -> "Composer":
        """Reads a trained model directory without torch (its weights go straight into numpy arrays;
        miditok, which imports torch, loads only when continue or infill first encode a file)."""
        directory = Path(directory)
        model = TransformerWeights.from_pretrained(directory)
        tokenizer = load_serving_tokenizer(directory)
        meta = model.meta
        chord_path = directory / CHORD_MODEL_FILE
        chord_model = ChordModel.load(chord_path) if chord_path.exists() else None
        return cls(model, tokenizer, meta, limits, chord_model)

    @property
    def time_signatures(self) -> list[tuple[int, int]]:
        return sorted(self.vocab.time_signature)

    # ---- validation -------------------------------------------------------------------------
    def _check_bars(self, bars: int | None, what: str = "bars") -> None:
        if bars is None:
            return
        if bars < 1:
            raise InvalidInput(f"{what} must be at least 1 (got {bars})")
        if bars > self.limits.max_bars:
            raise LimitExceeded(what, bars, self.limits.max_bars, "bars")

    def _check_time_signature(self, time_signature: tuple[int, int] | None) -> None:
        if time_signature is not None and tuple(time_signature) not in self.vocab.time_signature:
            supported = ", ".join(f"{n}/{d}" for n, d in self.time_signatures)
            raise InvalidInput(f"time signature {time_signature[0]}/{time_signature[1]} is not supported; use one of {supported}")

    def _check(self, attributes: Attributes) -> None:
        self._check_bars(attributes.bars)
        self._check_time_signature(attributes.time_signature)
        if attributes.tempo_bpm is not None and not (TEMPO_LIMITS_BPM[0] <= attributes.tempo_bpm <= TEMPO_LIMITS_BPM[1]):
            raise InvalidInput(f"tempo {attributes.tempo_bpm:g} bpm is outside {TEMPO_LIMITS_BPM[0]:g}-{TEMPO_LIMITS_BPM[1]:g} bpm")
        if attributes.style is not None and attributes.style not in STYLES:
            raise InvalidInput(f"unknown style {attributes.style!r}; known styles: {', '.join(STYLES)}")
        if attributes.key is not None:
            if attributes.key.mode is not None and attributes.key.mode not in MODES:
                raise InvalidInput(f"unknown mode {attributes.key.mode!r}; use one of {', '.join(MODES)}")
            if not 0 <= attributes.key.tonic_pitch_class <= 11:
                raise InvalidInput("key tonic must be a pitch class 0-11")
        for name in ("pitch_low", "pitch_high"):
            value = getattr(attributes, name)
            if value is not None and not 21 <= value <= 108:
                raise InvalidInput(f"{name.replace('_', ' ')} {value} is outside the piano range 21-108")
        if attributes.pitch_low is not None and attributes.pitch_high is not None and attributes.pitch_low > attributes.pitch_high:
            raise InvalidInput("the lowest pitch is above the highest pitch")
        if attributes.duration_s is not None and attributes.duration_s <= 0:
            raise InvalidInput("duration must be positive")

    # ---- prefix plan --------------------------------------------------------------------------
    def _plan(self, attributes: Attributes, rng: random.Random) -> tuple[list[list[int]], dict]:
        """Allowed tokens per prefix group (one token = given) and the values decided up front."""
        vocab = self.vocab
        decided: dict = {}
        plan: list[list[int]] = []
        time_signature = tuple(attributes.time_signature) if attributes.time_signature else None
        for group in PREFIX_GROUPS:
            choices = group_choices(vocab, group)
            if group == "style":
                if attributes.style is not None:
                    choices = [vocab.style[attributes.style]]
                elif time_signature is not None:
                    fitting = [vocab.style[s] for s, pairs in self.style_time_signatures.items()
                               if time_signature in pairs and s in vocab.style]
                    choices = fitting or choices
            elif group == "time_signature" and time_signature is not None:
                choices = [vocab.time_signature[time_signature]]
            elif group == "time_signature" and attributes.style in self.style_time_signatures:
                # the meters this style has in the training data (a waltz is in 3/4, a jig in 6/8)
                choices = [vocab.time_signature[ts] for ts in self.style_time_signatures[attributes.style]
                           if ts in vocab.time_signature] or choices
            elif group == "key" and attributes.key is not None:
                key = attributes.key
                modes = [key.mode] if key.mode else ["major", "minor"]
                choices = [vocab.key[(key.tonic_pitch_class, mode)] for mode in modes]
            elif group == "tempo" and attributes.tempo_bpm is not None:
                choices = [vocab.tempo_level[tempo_level(attributes.tempo_bpm)]]
            elif group == "bars":
                bars = attributes.bars
                if bars is None and attributes.duration_s is not None and attributes.tempo_bpm and time_signature:
                    bar_s = bar_quarters(time_signature) * 60.0 / attributes.tempo_bpm
                    bars = max(1, int(round(attributes.duration_s / bar_s)))
                    self._check_bars(bars, "bars (from the duration)")
                if bars is None:
                    bars = rng.choice(DEFAULT_BARS_CHOICES)
                decided["bars"] = bars
                choices = [vocab.bars_token(bars)]
            elif group == "range":
                octaves = attributes.pitch_range_octaves
                if octaves is None and attributes.pitch_low is not None and attributes.pitch_high is not None:
                    octaves = (attributes.pitch_high - attributes.pitch_low) / 12.0
                if octaves is not None:
                    choices = [vocab.range_level[range_level(octaves)]]
            elif group == "density":
                level = None
                if attributes.rhythm_intensity is not None:
                    level = intensity_to_level(attributes.rhythm_intensity)
                elif attributes.notes_per_bar is not None:
                    bar_q = bar_quarters(time_signature or (4, 4))
                    level = density_level(attributes.notes_per_bar / bar_q)
                if level is not None:
                    choices = [vocab.density_level[level]]
            elif group == "polyphony" and attributes.polyphony is not None:
                choices = [vocab.polyphony_level[polyphony_level(attributes.polyphony)]]
            plan.append(choices)
        return plan, decided

    def _levels_from_prefix(self, prefix: list[int]) -> dict:
        """Reads the chosen groups back from a prefix."""
        inverse = {}
        for group, table in (("style", self.vocab.style), ("time_signature", self.vocab.time_signature),
                             ("key", self.vocab.key), ("tempo", self.vocab.tempo_level),
                             ("range", self.vocab.range_level), ("density", self.vocab.density_level),
                             ("polyphony", self.vocab.polyphony_level)):
            for value, index in table.items():
                inverse[index] = (group, value)
        programs = {index: program for program, index in self.vocab.program.items()}
        chosen: dict = {"programs": []}
        for token in prefix:
            if token in inverse:
                group, value = inverse[token]
                chosen[group] = value
            elif token in programs:
                chosen["programs"].append(programs[token])
        return chosen

    # ---- public calls -----------------------------------------------------------------------
    def generate(self, attributes: Attributes, sampling: Sampling | None = None, *, key_bias: float = 2.5,
                 candidates: int = 1, progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> Generated:
        """Generates a clip; bars, time signature, tempo and instruments hold exactly.

        Args:
            attributes: what to generate; None fields are sampled by the model.
            sampling: seed, temperature and top-k.
            key_bias: logit penalty for pitches outside a requested key.
            candidates: best-of-N: sample N bodies for the same prefix and keep the one whose measured
                key, range, density and polyphony match the request best (N times the work).
            progress, cancel: progress reporting and cooperative cancellation.
        """
        sampling = sampling or Sampling()
        if sampling.seed == 0:
            sampling = Sampling(random.SystemRandom().randrange(1, 2**31), sampling.temperature, sampling.top_k)
        self._check(attributes)
        instruments = _normalise_instruments(attributes.instruments)
        attributes = _key_from_chords(attributes)
        rng = random.Random(sampling.seed)
        plan, decided = self._plan(attributes, rng)
        decoder = Decoder(self.model, self.vocab, sampling, cancel)
        if progress:
            progress(ProgressEvent("generate", 0.0, "choosing attributes"))
        program_choices = sorted(self.vocab.program)
        # Requested instruments get their roles now; one the model never heard is written by a trained
        # stand-in of its role and renamed back afterwards (symbolic.roles.stand_ins).
        asked_roles = assign_roles(instruments, attributes.roles) if instruments else None
        stand_in = stand_ins(asked_roles) if asked_roles else {}
        model_instruments = program_order(stand_in.values()) if instruments else None
        prefix = sample_prefix(decoder, plan, model_instruments, program_choices)
        chosen = self._levels_from_prefix(prefix)
        time_signature = tuple(chosen["time_signature"])
        bars = decided["bars"]
        key = Key(*chosen["key"])
        if attributes.key is not None and attributes.key.mode is None:
            key = Key(attributes.key.tonic_pitch_class, key.mode)
        tempo_bpm = attributes.tempo_bpm
        if tempo_bpm is None:
            edges = (50.0,) + TEMPO_EDGES_BPM + (260.0,)
            level = chosen["tempo"]
            tempo_bpm = float(rng.randint(int(edges[level]), int(edges[level + 1]) - 1))
        model_programs = chosen["programs"]
        if asked_roles is not None:
            programs = program_order(instruments)
            real_roles = asked_roles
            renamed = {model: real for real, model in stand_in.items()}
        else:
            programs = model_programs
            real_roles = assign_roles(programs, attributes.roles)
            renamed = {program: program for program in programs}
        roles = {stand_in.get(program, program): role for program, role in real_roles.items()}
        if attributes.chords is not None and attributes.chords.strip():
            bar_chords = parse_progression(attributes.chords, key, bars)
        elif self.chord_model is not None:
            bar_chords = self.chord_model.sample(key, bars, rng)
        else:
            bar_chords = None
        density_asked = attributes.rhythm_intensity is not None or attributes.notes_per_bar is not None
        sparse_asked = density_asked and chosen["density"] == 0
        constraints = BodyConstraints(
            time_signature=time_signature, programs=model_programs, required_programs=model_programs,
            roles=roles, bar_chords=bar_chords, fill_every_bar=not sparse_asked, span_push=4.0,
            density_asked=density_asked, onset_budget=density_asked, pace_bias=4.0 if density_asked else 2.5,
            pitch_low=attributes.pitch_low, pitch_high=attributes.pitch_high,
            # Key and density are steered whether asked for or sampled in the prefix: the clip should
            # be what the request shown back to the user says.
            scale_pitch_classes=key.scale_pitch_classes(),
            key_bias=key_bias,
            tonic_pitch_class=key.tonic_pitch_class,
            triad_pitch_classes=key.triad_pitch_classes(),
            colour_pitch_classes=key.colour_pitch_classes(),
            colour_bias=COLOUR_BIAS_MAJOR_MINOR if key.mode in ("major", "minor") else COLOUR_BIAS_CHURCH_MODES,
            centre_key=key, centre_strength=CENTRE_STRENGTH,
            **_span_limits(attributes),
            density_band=_density_band(chosen["density"]))
        requested = Attributes(
            instruments=programs, key=key, time_signature=time_signature, tempo_bpm=tempo_bpm, bars=bars,
            pitch_low=attributes.pitch_low, pitch_high=attributes.pitch_high,
            pitch_range_octaves=attributes.pitch_range_octaves, notes_per_bar=attributes.notes_per_bar,
            rhythm_intensity=(attributes.rhythm_intensity if attributes.rhythm_intensity is not None
                              else chosen["density"] / len(DENSITY_EDGES_ONSETS_PER_QUARTER)),
            duration_s=bars * bar_quarters(time_signature) * 60.0 / tempo_bpm,
            style=chosen.get("style"), polyphony=attributes.polyphony,
            chords=progression_text(bar_chords) if bar_chords else None, roles=real_roles,
            extra={"range_level": chosen["range"], "density_level": chosen["density"],
                   "polyphony_level": chosen["polyphony"]})
        best: tuple[tuple, Generated] | None = None
        steps = 0
        candidates = max(1, candidates)
        for candidate in range(candidates):
            if candidate > 0:
                decoder = Decoder(self.model, self.vocab, Sampling(sampling.seed + candidate, sampling.temperature,
                                                                    sampling.top_k), cancel)
            span = (candidate / candidates, (candidate + 1) / candidates)
            new_bars = generate_bars(decoder, prefix, [], bars, constraints, progress, span)
            steps += decoder.steps
            with self._tokenizer_lock:
                table = decode_bars(self.tokenizer, new_bars, time_signature)
            table.program = np.array([renamed.get(int(p), int(p)) for p in table.program], dtype=int)
            notes: dict = {"tokens_sampled": steps, "candidates": candidates}
            table = self._complete_instruments(table, programs, time_signature, bars, tempo_bpm, key,
                                               chosen.get("style"), sampling.seed, notes)
            result = self._finish(table, time_signature, tempo_bpm, bars, requested, sampling.seed, notes)
            score = self._match_score(requested, attributes, result)
            if best is None or score > best[0]:
                best = (score, result)
        assert best is not None
        best[1].notes["tokens_sampled"] = steps
        best[1].notes["roles"] = {str(program): role for program, role in real_roles.items()}
        best[1].notes["written_as"] = {str(real): model for real, model in stand_in.items() if real != model}
        best[1].chords = progression_text(bar_chords).split() if bar_chords else []
        return best[1]

    @staticmethod
    def _match_score(requested: Attributes, asked: Attributes, result: Generated) -> tuple:
        """How well a candidate's measured attributes match the request (for best-of-N)."""
        measured = result.measured
        levels = requested.extra
        matched = 0
        if asked.key is not None:
            matched += int(measured.key == requested.key)
        if measured.pitch_range_octaves is not None:
            matched += int(range_level(measured.pitch_range_octaves) == levels["range_level"])
        matched += int(density_level(measured.extra.get("onsets_per_quarter", 0.0)) == levels["density_level"])
        matched += int(polyphony_level(measured.polyphony or 0.0) == levels["polyphony_level"])
        pitched = result.clip.table.pitch[result.clip.table.program != DRUM_PROGRAM]
        membership = key_membership(pitched, requested.key) if asked.key is not None else 0.0
        return (matched, membership)

    def continue_clip(self, primer_midi: bytes, bars: int, sampling: Sampling | None = None, *,
                      continuation_only: bool = False, change: SectionChange | None = None,
                      progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> Generated:
        """Adds `bars` bars after a primer file of any length, in its meter, tempo and instruments.

        Args:
            primer_midi: Standard MIDI File bytes; everything in it comes back unchanged (notes, tempo
                map, meter changes, key signatures, program changes, controllers).
            bars: bars to add.
            continuation_only: return only the new bars (with the tempo, meter, key and programs in
                force at the boundary restated at their start).
            change: new key, tempo, meter, density or instruments from the boundary on.
        Every instrument playing in the primer's last bars keeps playing unless `change` says otherwise.
        """
        return continue_file(self, primer_midi, bars, sampling, continuation_only=continuation_only,
                             change=change, progress=progress, cancel=cancel)

    def infill(self, midi: bytes, bars: list[int], tracks: list[int] | None = None,
               sampling: Sampling | None = None, *, progress: ProgressFn | None = None,
               cancel: CancelToken | None = None) -> Generated:
        """Regenerates the chosen bars (of the chosen tracks) of a file of any length, keeping everything
        else as it was. `tracks` index the file's tracks that hold notes, in file order."""
        return infill_file(self, midi, bars, tracks, sampling, progress=progress, cancel=cancel)

    # ---- helpers ----------------------------------------------------------------------------
    def _continuation_logprob(self, prefix: list[int], bars: list[list[int]], following: list[int]) -> float:
        """Log-probability the model gives `following` after the prefix and `bars` (one pass, no sampling)."""
        capacity = self.model.config.max_seq_len
        following = following[: capacity // 4]
        window = window_of(prefix, bars, [], capacity)
        ids = window + following
        stepper = stepper_for(self.model)
        logits = stepper.step(stepper.new_cache(), ids, every_position=True)[len(window) - 1:len(ids) - 1]
        logits = logits - logits.max(axis=1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return float(log_probs[np.arange(len(following)), following].sum())

    def _read_clip(self, midi: bytes, what: str) -> Clip:
        """The whole file as one clip (first meter and tempo); continue and infill edit files through
        symbolic.editing instead, which keeps tempo maps and meter changes."""
        clip = midi_to_clip(midi)
        if len(clip.table) == 0:
            raise InvalidInput(f"the {what} MIDI file has no notes")
        self._check_time_signature(clip.time_signature)
        bar_q = bar_quarters(clip.time_signature)
        end_q = float((clip.table.onset_q + clip.table.duration_q).max())
        clip.bars = max(clip.bars or 1, int(np.ceil(end_q / bar_q - 1e-6)))
        return clip

    def _complete_instruments(self, table: NoteTable, programs: list[int], time_signature, bars: int,
                              tempo_bpm: float, key: Key, style: str | None, seed: int, notes: dict) -> NoteTable:
        """Adds notes by construction for a requested instrument the model left silent."""
        present = {int(p) for p in table.program}
        missing = [p for p in programs if p not in present]
        if not missing:
            return table
        parts = [table]
        bar_q = bar_quarters(time_signature)
        for program in missing:
            if program == DRUM_PROGRAM:
                grooves = grooves_for(time_signature, style)
                groove = grooves[seed % len(grooves)] if grooves else None
                if groove is not None:
                    parts.append(render_groove(groove, bars, tempo_bpm, seed))
                    continue
                onsets = np.arange(bars) * bar_q
                parts.append(NoteTable(onsets, np.full(bars, 0.25), np.full(bars, 36), np.full(bars, DRUM_PROGRAM)))
                continue
            low, high = instrument_range(program)
            pitched = table.select(table.program != DRUM_PROGRAM)
            if len(pitched):
                source = pitched.select(pitched.program == pitched.program[0])
                pitch = source.pitch.copy()
                while pitch.max() > high and pitch.min() - 12 >= low:
                    pitch -= 12
                while pitch.min() < low and pitch.max() + 12 <= high:
                    pitch += 12
                parts.append(NoteTable(source.onset_q.copy(), source.duration_q.copy(), pitch,
                                       np.full(len(pitch), program)))
            else:
                tonic = low + (key.tonic_pitch_class - low) % 12
                onsets = np.arange(bars) * bar_q
                parts.append(NoteTable(onsets, np.full(bars, bar_q), np.full(bars, tonic), np.full(bars, program)))
        notes["completed_by_construction"] = missing
        return concat_tables(parts)

    def _finish(self, table: NoteTable, time_signature, tempo_bpm: float, bars: int, requested: Attributes,
                seed: int, notes: dict, keep_velocity: bool = False) -> Generated:
        bar_q = bar_quarters(time_signature)
        if not keep_velocity or table.velocity is None:
            table.velocity = _velocities(table, bar_q)
        clip = Clip(table, tuple(time_signature), float(tempo_bpm), bars=bars)
        midi = table_to_midi(table, time_signature, tempo_bpm, bars=bars, key=requested.key)
        measured = extract(table, tuple(time_signature), tempo_bpm, bars=bars, style=requested.style)
        return Generated(clip, midi, requested, measured, seed, notes)


def _key_from_chords(attributes: Attributes) -> Attributes:
    """Chord symbols given without a key set the key (Roman numerals wait for the sampled key)."""
    if attributes.chords is None or not attributes.chords.strip() or attributes.key is not None:
        return attributes
    from symbolic.chords import parse_chord, split_symbols

    symbols = split_symbols(attributes.chords)
    try:
        chords = [parse_chord(symbol) for symbol in symbols]
    except ValueError:
        return attributes  # Roman numerals (or a bad symbol, reported once the bars are known)
    if not any(chord is not None for chord in chords):
        return attributes
    return attributes.copy(key=key_of_progression(chords))


# Infill: candidates sampled per gap, and bars after the gap that pick among them.
INFILL_CANDIDATES = 3
INFILL_RIGHT_BARS = 2


def _span_limits(attributes: Attributes) -> dict:
    """Span bounds (semitones) for a requested pitch range in octaves: the band of its range level.
    Explicit lowest/highest pitches are hard limits of their own and take precedence."""
    octaves = attributes.pitch_range_octaves
    if octaves is None or attributes.pitch_low is not None or attributes.pitch_high is not None:
        return {}
    level = range_level(octaves)
    edges = RANGE_EDGES_OCTAVES
    span_min = int(np.ceil(12 * edges[level - 1])) if level > 0 else None
    span_max = int(np.ceil(12 * edges[level])) - 1 if level < len(edges) else None
    return {"span_min": span_min, "span_max": span_max}


def _density_band(level: int) -> tuple[float, float]:
    """Onsets per quarter note of a density level's band (the open ends get a plausible width)."""
    edges = DENSITY_EDGES_ONSETS_PER_QUARTER
    low = edges[level - 1] if level > 0 else 0.25
    high = edges[level] if level < len(edges) else edges[-1] + 1.0
    return (low, high)


def _gentle_key_steering(key: Key | None, cadence: bool = True) -> dict:
    """Continuations and infills stay in the clip's measured key, more loosely than a requested key."""
    if key is None:
        return {}
    return {"scale_pitch_classes": key.scale_pitch_classes(), "key_bias": 1.5,
            "tonic_pitch_class": key.tonic_pitch_class, "triad_pitch_classes": key.triad_pitch_classes(),
            "tonic_bias": 0.3, "last_bar_tonic_bias": 0.6 if cadence else 0.3,
            "final_tonic_bias": 2.0 if cadence else 0.3}
