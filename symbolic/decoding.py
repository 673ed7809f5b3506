"""Constrained sampling: the token grammar, the hard attributes and the steering biases.

Hard guarantees come from masking what the model may say next:
- exact bar count: a Bar (or EOS) after the last requested bar ends the clip; EOS is masked before;
- time signature: every Bar is followed by the requested TimeSig, Positions stay inside the bar;
- instruments: Program tokens outside the requested set are masked; in the last bar the clip cannot
  end while a requested instrument is still silent (and the caller adds notes by construction if the
  token budget runs out first);
- pitch range (when given as pitches): Pitch tokens outside it are masked.
Key is steered with a bias against out-of-scale pitches; range and density through the prefix.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ostinato.errors import Cancelled
from ostinato.runtime import CancelToken, ProgressEvent, ProgressFn
from symbolic.attributes import DENSITY_EDGES_ONSETS_PER_QUARTER, DRUM_PROGRAM
from symbolic.batching import StepBatcher
from symbolic.stepper import NumpyStepper
from symbolic.tonality import TonalCentre
from symbolic.tokenizer import Vocabulary, positions_per_bar

if TYPE_CHECKING:  # torch loads only with a model, not with this module
    from symbolic.attributes import Key
    from symbolic.model import MusicTransformer

NEG = float("-inf")
# Held chords double the tones they share with the key's tonic triad (vi and IV in major keep the tonic
# sounding, VI and III in minor keep the tonic and its third): common-tone voicing keeps the centre heard.
COMMON_TONE_BIAS = 0.8

# Where each instrument family may play (MIDI pitches), so sampled notes stay idiomatic.
def instrument_range(program: int) -> tuple[int, int]:
    if 32 <= program <= 39 or program in (43, 58):
        return 28, 60
    if program in (42, 70, 57):
        return 36, 76
    if program in (73, 72, 78, 74, 75, 79):
        return 59, 100
    if program == 41:
        return 48, 88
    if program == 40:
        return 55, 100
    return 28, 103


@dataclass
class Sampling:
    seed: int = 0
    temperature: float = 0.9
    top_k: int = 32


@dataclass
class BodyConstraints:
    time_signature: tuple[int, int]
    programs: list[int]  # allowed programs
    required_programs: list[int] = field(default_factory=list)  # must sound in the new bars
    pitch_low: int | None = None
    pitch_high: int | None = None
    scale_pitch_classes: frozenset[int] | None = None
    key_bias: float = 2.5
    # Tonic steering (with a requested key): a bonus for the tonic triad, larger in the last bar so the
    # clip cadences on the tonic the way the training music does.
    tonic_pitch_class: int | None = None
    triad_pitch_classes: frozenset[int] | None = None
    tonic_bias: float = 1.0
    # Mode steering: a bonus for the degrees that tell the mode from its neighbours (Key.colour_pitch_classes):
    # without it a mixolydian tune that avoids its 7th reads as major.
    colour_pitch_classes: frozenset[int] | None = None
    colour_bias: float = 1.0
    last_bar_tonic_bias: float = 2.0
    final_tonic_bias: float = 5.0  # second half of the last bar: the cadence
    # Logit penalty for ending a bar whose notes stop before its last beat: training bars are full
    # (rests aside), and a small model ends bars early more often than the data does.
    early_bar_end_penalty: float = 2.0
    max_tokens_per_bar: int = 240
    # Pitch range across all pitched parts (semitones, lowest to highest note): no note may widen the
    # clip's span past span_max; while the span is short of span_min, notes that widen it enough get
    # span_push from the middle of the clip on (a requested range level is a band of spans).
    span_max: int | None = None
    span_min: int | None = None
    span_push: float = 2.0
    # Note density (distinct pitched onsets per quarter note, the extractor's measure): when the clip so
    # far runs more than one onset ahead of (behind) this band, the next onsets are paced later (sooner).
    density_band: tuple[float, float] | None = None
    pace_bias: float = 2.5
    # Roles and chords (symbolic.roles, symbolic.chords). With roles, every pitched track sounds in every
    # bar (`fill_every_bar`); bass, pad and chords parts strike at the downbeat (chords again at mid-bar),
    # bass on the chord's bass note, pads and chords on chord tones holding root and third; melodies
    # lean to chord tones. `bar_chords` holds one chord (or None) per new bar.
    roles: dict[int, str] = field(default_factory=dict)
    bar_chords: list | None = None
    fill_every_bar: bool = False
    density_asked: bool = False  # a requested density is paced toward its band's middle
    # A requested density held bar by bar (_OnsetBudget): each bar's distinct pitched onsets stay between
    # the fewest and the most that keep the clip so far inside density_band; a sparse band also drops
    # the mid-bar strikes of bass, chords and counter-melody when a bar has no room for them.
    onset_budget: bool = False
    melody_chord_bias: float = 1.2
    bass_chord_bias: float = 1.5
    # Tonal centre (symbolic.tonality): with a major/minor key here, pitch choices lean toward what tells
    # the key from its rivals whenever listeners' key profiles hear a rival close to or ahead of it.
    centre_key: "Key | None" = None
    centre_strength: float = 1.2
    centre: TonalCentre | None = None  # shared by the bars of one piece written bar by bar
    phrase_end: bool | None = None  # None: every 4th bar and the last close a phrase


_STEPPERS: dict[int, tuple[MusicTransformer, NumpyStepper, StepBatcher]] = {}
_STEPPERS_LOCK = threading.Lock()


def _entry(model: MusicTransformer) -> tuple[MusicTransformer, NumpyStepper, StepBatcher]:
    with _STEPPERS_LOCK:
        entry = _STEPPERS.get(id(model))
        if entry is None or entry[0] is not model:
            # float16 matrices: the step reads half the bytes (most of its time); the logits move by
            # ~1e-3 and the outside judge's figures (evaluate_external, both grids) hold with it
            stepper = NumpyStepper(model, half_weights=True)
            entry = (model, stepper, StepBatcher(stepper))
            _STEPPERS[id(model)] = entry
        return entry


def stepper_for(model: MusicTransformer) -> NumpyStepper:
    """The numpy copy of a model's weights used for decoding (made once per model)."""
    return _entry(model)[1]


def batcher_for(model: MusicTransformer) -> StepBatcher:
    """The batcher that runs concurrent requests' steps on this model together."""
    return _entry(model)[2]


class Decoder:
    """Feeds tokens through the model with a KV cache and samples under masks."""

    def __init__(self, model: MusicTransformer, vocab: Vocabulary, sampling: Sampling,
                 cancel: CancelToken | None = None) -> None:
        self.model = model
        self.batcher = batcher_for(model)
        self.stepper = self.batcher.stepper
        self.vocab = vocab
        self.sampling = sampling
        self.cancel = cancel
        self.rng = np.random.default_rng(int(sampling.seed))
        self.cache = self.stepper.new_cache()
        self.ids: list[int] = []  # tokens currently in the cache (the window)
        self.logits: np.ndarray | None = None
        self.steps = 0
        from symbolic.sample_kernel import draw, draw_kept  # numba: loaded by the stepper already

        self._draw, self._draw_kept = draw, draw_kept
        self._no_lean = np.zeros(vocab.size, dtype=np.float32)
        self._values = np.empty(vocab.size, dtype=np.float32)  # the sampler's scratch rows
        self._allowed = np.empty(vocab.size, dtype=np.int64)
        self._cumulative = np.empty(vocab.size, dtype=np.float32)

    def feed(self, ids: list[int]) -> None:
        if not ids:
            return
        self.logits = self.batcher.step(self.cache, ids)
        self.ids.extend(ids)
        self.steps += 1

    def reset(self, ids: list[int]) -> None:
        """Rebuilds the cache from scratch for a new window of tokens."""
        self.cache.length = 0
        self.ids = []
        self.feed(ids)

    def room(self) -> int:
        return self.model.config.max_seq_len - self.cache.length

    def sample(self, bias: np.ndarray, temperature: float | None = None, lean: np.ndarray | None = None) -> int:
        """Samples one token from the last logits plus an additive bias (-inf masks) and, if given, a
        float32 lean (finite everywhere: the tonal centre's, on the pitch tokens).

        Compiled (symbolic.sample_kernel) with numpy's arithmetic; a top-k cut keeps numpy's
        argpartition, whose order decides the draw."""
        if self.cancel is not None:
            self.cancel.check()
        temperature = self.sampling.temperature if temperature is None else temperature
        greedy = temperature <= 1e-3
        uniform = 0.0 if greedy else self.rng.random()
        if bias.dtype != np.float32:
            bias = bias.astype(np.float32)
        top_k = self.sampling.top_k or 0
        token = self._draw(self.logits, bias, self._no_lean if lean is None else lean, np.float32(temperature),
                           top_k, greedy, uniform, self._values, self._allowed)
        if token >= 0:
            return int(token)
        if token == -1:
            raise RuntimeError("no token is allowed at this point of decoding")
        count = -2 - token
        keep = self._values[:count].argpartition(-top_k)[-top_k:]
        return int(self._draw_kept(self._values, self._allowed, keep, np.float32(temperature), uniform,
                                   self._cumulative))


class MaskBook:
    """Precomputed additive biases for each grammar state of one request."""

    def __init__(self, vocab: Vocabulary, constraints: BodyConstraints) -> None:
        self.vocab = vocab
        self.c = constraints
        size = vocab.size
        self.size = size
        self.max_position = positions_per_bar(constraints.time_signature)
        self.ticks_per_beat = 4  # REMI positions per beat of the time signature's denominator
        ticks_per_quarter = constraints.time_signature[1]
        self.duration_ticks = {index: quarters * ticks_per_quarter
                               for index, quarters in vocab.duration_quarters(constraints.time_signature[1]).items()}
        self._cache: dict = {}
        self._single: dict = {}
        self.position_ids = sorted((p, i) for p, i in vocab.position.items() if p < self.max_position)
        self.duration_ids = np.array(sorted(vocab.duration.values()))
        self.drum_pitch_ids = np.array(sorted(vocab.pitch_drum.values()))
        self._pitches = np.array(list(vocab.pitch), dtype=np.int64)  # pitched tokens: MIDI pitch, token id
        self._pitch_ids = np.array(list(vocab.pitch.values()), dtype=np.int64)
        self._harmony_part = any(role in ("pad", "chords", "counter_melody", "arpeggio")
                                 for role in constraints.roles.values())
        centre = constraints.centre_key
        self._leading_tone = ((centre.tonic_pitch_class + 11) % 12
                              if centre is not None and centre.mode == "minor" else None)
        self.program_bias = {}
        self.program_bias_last_bar = {}
        self.program_bias_cadence = {}
        for program in constraints.programs:
            self.program_bias[program] = self._pitch_bias(program, constraints.tonic_bias)
            self.program_bias_last_bar[program] = self._pitch_bias(program, constraints.last_bar_tonic_bias)
            self.program_bias_cadence[program] = self._pitch_bias(program, constraints.final_tonic_bias)

    def _empty(self) -> np.ndarray:
        return np.full((self.size,), NEG, dtype=np.float32)

    def _pitch_bias(self, program: int, tonic_bias: float) -> np.ndarray:
        bias = self._empty()
        if program == DRUM_PROGRAM:
            bias[self.drum_pitch_ids] = 0.0
            return bias
        low, high = instrument_range(program)
        if self.c.pitch_low is not None:
            low = self.c.pitch_low
            high = max(high, low)
        if self.c.pitch_high is not None:
            high = self.c.pitch_high
            low = min(low, high)
        for pitch, index in self.vocab.pitch.items():
            if low <= pitch <= high:
                in_key = self.c.scale_pitch_classes is None or pitch % 12 in self.c.scale_pitch_classes
                bias[index] = 0.0 if in_key else -self.c.key_bias
                if self.c.colour_pitch_classes is not None and pitch % 12 in self.c.colour_pitch_classes:
                    bias[index] += self.c.colour_bias
                if self.c.tonic_pitch_class is not None and pitch % 12 == self.c.tonic_pitch_class:
                    bias[index] += tonic_bias
                elif self.c.triad_pitch_classes is not None and pitch % 12 in self.c.triad_pitch_classes:
                    bias[index] += tonic_bias / 2
        if not np.isfinite(bias).any():
            for pitch, index in self.vocab.pitch.items():
                if self.c.pitch_low is None or self.c.pitch_low <= pitch <= (self.c.pitch_high or 127):
                    bias[index] = 0.0
        return bias

    def after_position_or_note(self, position: int, last_bar: bool, missing: tuple[int, ...],
                               after_duration: bool, early: bool = False) -> np.ndarray:
        """After a Position (only Programs) or a Duration (Program, later Position, Bar/end).

        `early`: the notes so far stop before the bar's last beat, so ending the bar is penalised.
        """
        key = ("pn", position, last_bar, missing, after_duration, early)
        if key in self._cache:
            return self._cache[key]
        bias = self._empty()
        programs = missing if (last_bar and missing) else self.c.programs
        for program in programs:
            bias[self.vocab.program[program]] = 0.0
        if after_duration:
            for value, index in self.position_ids:
                if value > position:
                    bias[index] = 0.0
            if not (last_bar and missing):
                end_bias = -self.c.early_bar_end_penalty if early else 0.0
                bias[self.vocab.bar] = end_bias
                if last_bar:
                    bias[self.vocab.eos] = end_bias
        self._cache[key] = bias
        return bias

    def bar_start(self, last_bar: bool, missing: tuple[int, ...]) -> np.ndarray:
        """After Bar TimeSig: a Position, or (an empty bar) the next Bar / the end."""
        key = ("bar", last_bar, missing)
        if key in self._cache:
            return self._cache[key]
        bias = self._empty()
        for _, index in self.position_ids:
            bias[index] = 0.0
        if not (last_bar and missing):
            bias[self.vocab.bar] = 0.0
            if last_bar:
                bias[self.vocab.eos] = 0.0
        self._cache[key] = bias
        return bias

    def only_choice(self, bias: np.ndarray) -> int | None:
        """The single allowed token of a bias, or None when there is a choice."""
        key = id(bias)
        cached = self._single.get(key)
        if cached is None or cached[0] is not bias:
            allowed = np.flatnonzero(np.isfinite(bias))
            cached = (bias, int(allowed[0]) if len(allowed) == 1 else None)
            self._single[key] = cached
        return cached[1]

    def pace(self, position: int, direction: int) -> np.ndarray:
        """Bias on the choices after `position` (-1: bar start): direction +1 asks for the next onset
        soon (within an eighth; within a sixteenth when the density asked for is above two onsets a
        quarter, which eighths cannot reach) and for no early bar end; -1 asks for a gap of at least a
        quarter."""
        key = ("pace", position, direction)
        if key in self._cache:
            return self._cache[key]
        bias = np.zeros(self.size, dtype=np.float32)
        ticks_per_quarter = self.c.time_signature[1]
        soon = ticks_per_quarter // 2
        if self.c.density_band is not None and sum(self.c.density_band) / 2 > 2.0:
            soon = max(1, ticks_per_quarter // 4)
        for value, index in self.position_ids:
            gap = value - max(position, 0) if position >= 0 else value
            if direction > 0 and 0 <= gap <= soon:
                bias[index] = self.c.pace_bias
            elif direction < 0 and position >= 0 and 0 < gap < ticks_per_quarter:
                bias[index] = -self.c.pace_bias
        if direction > 0:
            bias[self.vocab.bar] = -self.c.pace_bias
            bias[self.vocab.eos] = -self.c.pace_bias
        self._cache[key] = bias
        return bias

    def narrowest(self, bias: np.ndarray, lowest: int, highest: int) -> np.ndarray:
        """When an instrument cannot play inside the span (a bass under a high melody, say): of the
        pitches `bias` allows, only those that widen the span least."""
        widening = {index: max(highest, pitch) - min(lowest, pitch) for pitch, index in self.vocab.pitch.items()
                    if np.isfinite(bias[index])}
        if not widening:
            return bias
        least = min(widening.values())
        narrowed = self._empty()
        for index, span in widening.items():
            if span == least:
                narrowed[index] = bias[index]
        return narrowed

    def within_span(self, bias: np.ndarray, lowest: int | None, highest: int | None, bar_index: int,
                    bars: int, completing: bool) -> np.ndarray:
        """A pitch bias under the range request: never past the widest span; from the clip's middle on,
        notes that reach the narrowest span are favoured, and in the last bar, while the span is still
        short, only such notes are allowed to the parts that can play them (a bass's low root, a
        tune's high point). A chord still missing a tone (`completing`) only keeps the upper bound."""
        push = not completing and 2 * bar_index >= bars - 1
        force = push and bar_index == bars - 1
        for extra in (self.span_bias(lowest, highest, push, force), self.span_bias(lowest, highest, push)):
            if extra is None:
                return bias
            combined = bias + extra
            if np.isfinite(combined).any():
                return combined
        return bias if completing else self.narrowest(bias, lowest, highest)

    def span_bias(self, lowest: int | None, highest: int | None, push: bool, force: bool = False) -> np.ndarray | None:
        """Extra bias on pitches for the range request, given the clip's lowest and highest notes so far
        (`force`: a span still short of the narrowest allows only notes that reach it)."""
        span_max, span_min = self.c.span_max, self.c.span_min
        if lowest is None or highest is None or (span_max is None and not (push and span_min)):
            return None
        short = span_min is not None and highest - lowest < span_min
        force = force and short
        key = ("span", lowest, highest, push, force)
        if key in self._cache:
            return self._cache[key]
        bias = np.zeros(self.size, dtype=np.float32)
        for pitch, index in self.vocab.pitch.items():
            span = max(highest, pitch) - min(lowest, pitch)
            if span_max is not None and span > span_max:
                bias[index] = NEG
            elif push and short and span_min <= span:
                bias[index] = self.c.span_push
            elif force:
                bias[index] = NEG
        if len(self._cache) < 20_000:
            self._cache[key] = bias
        return bias

    # ---- roles and chords ------------------------------------------------------------------------
    # Registers by role (MIDI pitches), intersected with the instrument's own range.
    ROLE_REGISTER = {"bass": (28, 55), "pad": (48, 79), "chords": (45, 79), "arpeggio": (48, 88),
                     "melody": (57, 98), "counter_melody": (50, 88)}

    def anchors(self, role: str) -> tuple[int, ...]:
        """Positions where a role must strike in every bar: pad and arpeggio at the downbeat; chords,
        bass and counter-melody at the downbeat and at mid-bar (when the bar halves on a beat)."""
        if role in ("pad", "arpeggio"):
            return (0,)
        if role in ("chords", "bass", "counter_melody"):
            half = self.max_position // 2
            return (0, half) if self.c.time_signature[0] % 2 == 0 and self.mid_bar_strikes else (0,)
        return ()

    @property
    def mid_bar_strikes(self) -> bool:
        """False when a held density leaves a bar fewer than three onsets (sparse 2/4, 4/4, 6/8): the
        downbeat then carries the required strikes and the tune keeps a beat of its own."""
        if not self.c.onset_budget or self.c.density_band is None:
            return True
        high = self.c.density_band[1]
        if high > DENSITY_EDGES_ONSETS_PER_QUARTER[-1]:
            return True
        bar_q = self.c.time_signature[0] * 4.0 / self.c.time_signature[1]
        return (high - _OnsetBudget.MARGIN) * bar_q >= 3.0

    @property
    def fill_deadline(self) -> int:
        """A part still silent at this position (the bar's last beat) plays there."""
        return max(0, self.max_position - self.ticks_per_beat)

    def role_pitch_bias(self, program: int, role: str, chord, slot: str, tonic_bias: float) -> np.ndarray:
        """Pitch bias of a program playing `role` over `chord` (None: key steering only).

        slot: "anchor" (a required strike), "strong" (on a beat), "weak", or "cadence" (the second half
        of a phrase's last bar, where a tune comes to rest on a chord tone).
        """
        key = ("role", program, role, chord, slot, tonic_bias)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        bias = self._pitch_bias(program, tonic_bias).copy()
        pitches, ids = self._pitches, self._pitch_ids
        low, high = self.ROLE_REGISTER.get(role, (0, 127))
        registered = bias.copy()
        registered[ids[(pitches < low) | (pitches > high)]] = NEG
        if np.isfinite(registered).any() and self.c.pitch_low is None and self.c.pitch_high is None:
            bias = registered
        if chord is not None:
            # over the allowed pitches at once, each statement one float32 addition per pitch as before
            hard = bias.copy()
            playable = np.isfinite(bias[ids])
            ids, pcs = ids[playable], pitches[playable] % 12
            values = bias[ids]
            in_chord = np.isin(pcs, tuple(chord.pitch_classes()))
            values[in_chord & (values < 0)] = 0.0  # a chord tone outside the scale (V in minor) is not penalised
            third, triad = chord.third_pitch_class, self.c.triad_pitch_classes
            in_triad = np.isin(pcs, tuple(triad)) if triad is not None else np.zeros(len(pcs), dtype=bool)

            def add(where: np.ndarray, amount: np.ndarray | float) -> None:
                values[where] += np.asarray(amount, dtype=np.float32)[where] if np.ndim(amount) else np.float32(amount)

            if role == "bass":
                if slot == "anchor":
                    hard[ids[pcs != chord.bass]] = NEG
                add(np.ones(len(pcs), dtype=bool),
                    np.where(in_chord, self.c.bass_chord_bias, 0.0) + np.where(pcs == chord.bass, 1.0, 0.0))
            elif role in ("pad", "arpeggio") or (role in ("chords", "counter_melody") and slot == "anchor"):
                hard[ids[~in_chord]] = NEG
                third_here = in_chord & (pcs == third) if role == "counter_melody" else np.zeros(len(pcs), dtype=bool)
                add(third_here, 2.0)  # a held third under the tune: the chord's colour
                add(in_chord & ~third_here & in_triad, COMMON_TONE_BIAS)  # shared with the tonic triad: doubled
            else:
                weight = self.c.melody_chord_bias * {"strong": 1.0, "cadence": 2.0}.get(slot, 0.4)
                add(in_chord, weight * (1.3 if role == "counter_melody" else 1.0))
                if slot == "cadence" and self._leading_tone == third:
                    add(in_chord & (pcs == third), 1.0)  # minor key, V chord: the raised leading tone at the cadence
                tonic_here = in_chord & (pcs == self.c.tonic_pitch_class) if slot in ("strong", "cadence") \
                    else np.zeros(len(pcs), dtype=bool)
                add(tonic_here, 1.5)  # the tonic where the chord allows it: the key's centre is heard
                add(in_chord & ~tonic_here & in_triad, 0.4)
                if slot == "strong" and not self._harmony_part:
                    add(in_chord & (pcs == third), 1.0)  # no part holds the chord: the tune sounds its third
            bias[ids] = values
            if role in ("pad", "arpeggio") or slot == "anchor":
                hard = np.where(np.isfinite(hard), bias, NEG).astype(np.float32)
                if np.isfinite(hard).any():
                    bias = hard
        self._cache[key] = bias
        return bias

    def tones_only(self, bias: np.ndarray, pitch_classes: frozenset[int]) -> np.ndarray:
        """Of the pitches `bias` allows, only those of the given pitch classes (unchanged if none is)."""
        key = ("tones", id(bias), pitch_classes)
        cached = self._cache.get(key)
        if cached is not None and cached[0] is bias:
            return cached[1]
        narrowed = bias.copy()
        for pitch, index in self.vocab.pitch.items():
            if pitch % 12 not in pitch_classes:
                narrowed[index] = NEG
        if not np.isfinite(narrowed).any():
            narrowed = bias
        self._cache[key] = (bias, narrowed)
        return narrowed

    def only_programs(self, programs: tuple[int, ...]) -> np.ndarray:
        key = ("programs", programs)
        if key not in self._cache:
            bias = self._empty()
            for program in programs:
                bias[self.vocab.program[program]] = 0.0
            self._cache[key] = bias
        return self._cache[key]

    def next_positions(self, position: int, limit: int, early: bool) -> np.ndarray:
        """After a Duration when a part must still strike at `limit`: more notes here, or a later
        position up to `limit`; the bar cannot end."""
        key = ("limited", position, limit, early)
        if key not in self._cache:
            bias = self.after_position_or_note(position, False, (), after_duration=True, early=early).copy()
            for value, index in self.position_ids:
                if value > limit:
                    bias[index] = NEG
            bias[self.vocab.bar] = NEG
            bias[self.vocab.eos] = NEG
            if not np.isfinite(bias).any():
                bias[self.vocab.position[limit]] = 0.0
            self._cache[key] = bias
        return self._cache[key]

    def start_limited(self, limit: int) -> np.ndarray:
        """At bar start when a part must strike by `limit`: a position up to it."""
        key = ("start_limited", limit)
        if key not in self._cache:
            bias = self._empty()
            for value, index in self.position_ids:
                if value <= limit:
                    bias[index] = 0.0
            self._cache[key] = bias
        return self._cache[key]

    def held_durations(self, span_ticks: int) -> np.ndarray:
        """Durations that hold a struck chord until the next required strike (`span_ticks` later),
        ending at most half a beat early."""
        key = ("held", span_ticks)
        if key not in self._cache:
            bias = self._empty()
            shortest = max(1, span_ticks - self.ticks_per_beat // 2)
            for index, ticks in self.duration_ticks.items():
                if shortest - 1e-6 <= ticks <= span_ticks + 1e-6:
                    bias[index] = 0.0
            if not np.isfinite(bias).any():
                bias[self.duration_ids] = 0.0
            self._cache[key] = bias
        return self._cache[key]

    def durations(self, program: int | None = None) -> np.ndarray:
        """Duration tokens; a drum hit always gets the sixteenth the training grooves use (one less
        sampling step per hit: the token is forced)."""
        key = ("dur", program == DRUM_PROGRAM)
        if key not in self._cache:
            bias = self._empty()
            if program == DRUM_PROGRAM:
                lengths = self.vocab.duration_quarters(self.c.time_signature[1])
                nearest = min(lengths, key=lambda index: abs(lengths[index] - 0.25))
                bias[nearest] = 0.0
            else:
                bias[self.duration_ids] = 0.0
            self._cache[key] = bias
        return self._cache[key]


def window_of(prefix: list[int], bars: list[list[int]], partial: list[int], capacity: int) -> list[int]:
    """Prefix + as many trailing whole bars as fit in half the capacity + the bar being written."""
    budget = capacity // 2 - len(prefix) - len(partial)
    kept: list[list[int]] = []
    for bar in reversed(bars):
        if len(bar) > budget:
            break
        kept.insert(0, bar)
        budget -= len(bar)
    return prefix + [t for bar in kept for t in bar] + partial


def generate_bars(decoder: Decoder, prefix: list[int], context_bars: list[list[int]], new_bars: int,
                  constraints: BodyConstraints, progress: ProgressFn | None = None,
                  progress_span: tuple[float, float] = (0.0, 1.0),
                  kept: list[list[int]] | None = None) -> list[list[int]]:
    """Samples `new_bars` bars after the prefix and context; returns the new bars' tokens.

    `kept`: per new bar, the tokens of notes that stay (other tracks of an infilled bar). They are
    written into the bars where they fall, so the model hears them while it writes around them;
    the returned bars hold them too.
    """
    with decoder.batcher.session():
        return _generate_bars(decoder, prefix, context_bars, new_bars, constraints, progress, progress_span,
                              kept)


def kept_events(bar_tokens: list[int], vocab: Vocabulary) -> list[tuple[int, list[int]]]:
    """A bar's tokens as (position, the note tokens at that position), in order; Bar/TimeSig dropped."""
    position_of = {index: value for value, index in vocab.position.items()}
    events: list[tuple[int, list[int]]] = []
    for token in bar_tokens:
        if token in position_of:
            events.append((position_of[token], []))
        elif events and token not in (vocab.bar, vocab.eos) and token not in vocab.time_signature.values():
            events[-1][1].append(token)
    return [(position, tokens) for position, tokens in events if tokens]


class _OnsetBudget:
    """A requested density held bar by bar, in the outside judge's measure: distinct pitched onsets
    (sixteenth grid) per quarter note over the whole clip. Each bar gets the fewest and the most new
    onsets that keep the clip so far inside the band (MARGIN inside its edges); masks keep the bar
    between them. Past the most, a new position may hold only drums or a strike a role owes; short of
    the fewest, the bar cannot end and positions leave room for the onsets still owed. The soft pacing
    (MaskBook.pace) still chooses where inside those limits."""

    MARGIN = 0.06  # onsets per quarter kept inside each band edge

    def __init__(self, book: MaskBook, band: tuple[float, float], programs: list[int]) -> None:
        edges = DENSITY_EDGES_ONSETS_PER_QUARTER
        vocab = book.vocab
        self.book = book
        self.low = band[0] + self.MARGIN if band[0] >= edges[0] else 0.0  # the sparsest band has no floor
        self.high = band[1] - self.MARGIN if band[1] <= edges[-1] else float("inf")  # the densest no ceiling
        ticks_per_quarter = book.c.time_signature[1]
        self.bar_q = book.max_position / ticks_per_quarter
        self.sixteenths = int(round(self.bar_q * 4))
        self.sixteenth_of = {value: int(value * 4 // ticks_per_quarter) for value, _ in book.position_ids}
        self.position_index = np.array([index for _, index in book.position_ids])
        self.position_sixteenth = np.array([self.sixteenth_of[value] for value, _ in book.position_ids])
        self.position_value = np.array([value for value, _ in book.position_ids])
        self.pitched_ids = np.array([vocab.program[p] for p in programs if p != DRUM_PROGRAM], dtype=int)
        self.drum_id = vocab.program[DRUM_PROGRAM] if DRUM_PROGRAM in programs else None
        self.ends = [vocab.bar, vocab.eos]
        self.fewest = 0
        self.most = 0
        self.before = 0  # onsets of the finished bars
        self.struck: set[int] = set()  # sixteenths of this bar with a pitched onset

    def start_bar(self, bar_index: int) -> None:
        """The limits of bar `bar_index` of the new bars, from the onsets of the bars before it."""
        self.before += len(self.struck)
        elapsed_q = (bar_index + 1) * self.bar_q
        self.fewest = max(0, int(np.ceil(self.low * elapsed_q - 1e-9)) - self.before)
        self.most = (int(np.floor(self.high * elapsed_q - 1e-9)) - self.before if np.isfinite(self.high)
                     else self.sixteenths)
        self.struck = set()

    def strike(self, position: int) -> bool:
        """A pitched note at `position`; True when it is a new onset of the bar."""
        sixteenth = self.sixteenth_of.get(position, position)
        if sixteenth in self.struck:
            return False
        self.struck.add(sixteenth)
        return True

    def restrict(self, bias: np.ndarray, state: str, position: int, plan: "_BarPlan | None") -> np.ndarray:
        """`bias` with the bar's limits applied (unchanged when they would leave no token)."""
        count = len(self.struck)
        need = self.fewest - count
        full = count >= self.most
        if need <= 0 and not full:
            return bias
        here = position >= 0 and self.sixteenth_of.get(position, position) in self.struck
        due_here = plan is not None and position >= 0 and bool(plan._due_here(position))
        restricted = bias.copy()
        if state == "after_position":
            if full and not here and not due_here:
                restricted[self.pitched_ids] = NEG
            elif need > 0 and not here and self.drum_id is not None and \
                    self.sixteenths - self.sixteenth_of.get(position, position) <= need:
                restricted[self.drum_id] = NEG
        elif state in ("bar_start", "after_duration"):
            current = self.sixteenth_of.get(position, position) if position >= 0 else -1
            later = self.position_value > position
            if full:
                if position >= 0 and not here and not due_here:
                    restricted[self.pitched_ids] = NEG
                if self.drum_id is None:
                    due = plan.due_positions(position + 1) if plan is not None else set()
                    closed = later & ~np.isin(self.position_value, list(due))
                    restricted[self.position_index[closed]] = NEG
            left = self.sixteenths - 1 - current  # sixteenths after this one
            if need > 0 and position >= 0 and not here and need > left:
                restricted[self.position_index] = NEG  # every sixteenth left is owed: strike here
                restricted[self.ends] = NEG
                if self.drum_id is not None:
                    restricted[self.drum_id] = NEG
            elif 0 < need <= left:
                restricted[self.ends] = NEG
                late = self.position_sixteenth > self.sixteenths - need
                restricted[self.position_index[late]] = NEG
        if not np.isfinite(restricted).any():
            return bias
        return restricted


class _BarPlan:
    """What the roles still owe in one bar: required strikes (anchors), parts not yet heard, and a
    pad or chord strike still missing its root or third."""

    def __init__(self, book: MaskBook, roles: dict[int, str], fill_programs: list[int], chord,
                 phrase_end: bool = False) -> None:
        self.book = book
        self.phrase_end = phrase_end  # the last bar of a phrase (every 4th bar, and the clip's last)
        self.roles = roles
        self.chord = chord
        self.due: dict[int, set[int]] = {}
        self.anchor_of: dict[int, tuple[int, ...]] = {}
        for program, role in roles.items():
            anchors = book.anchors(role)
            self.anchor_of[program] = anchors
            for position in anchors:
                self.due.setdefault(position, set()).add(program)
        self.unheard = set(fill_programs)
        self.held: dict[tuple[int, int], list[int]] = {}  # (program, anchor) -> pitch classes struck there
        self.completing = False

    def _needs_completion(self, program: int | None, position: int) -> frozenset[int] | None:
        """Triad tones a pad/chords strike at an anchor still lacks (None when complete)."""
        if program is None or self.chord is None or self.roles.get(program) not in ("pad", "chords"):
            return None
        if position not in self.anchor_of.get(program, ()):
            return None
        struck = self.held.get((program, position), [])
        if len(struck) >= 4:  # the register cannot hold them: give up rather than loop
            return None
        lacking = frozenset(self.chord.triad_pitch_classes() - set(struck))
        return lacking or None

    def _next_due(self, position: int) -> int | None:
        """The earliest position (>= position) where some part must still strike."""
        due = [p for p, programs in self.due.items() if programs and p >= position]
        if self.unheard:
            due.append(max(position, self.book.fill_deadline))
        return min(due) if due else None

    def due_positions(self, position: int) -> set[int]:
        """Positions (>= position) where some part must still strike."""
        due = {p for p, programs in self.due.items() if programs and p >= position}
        if self.unheard:
            due.add(max(position, self.book.fill_deadline))
        return due

    def _due_here(self, position: int) -> tuple[int, ...]:
        programs = set(self.due.get(position, set()))
        if self.unheard and position >= self.book.fill_deadline:
            programs |= self.unheard
        return tuple(sorted(programs))

    def bias(self, state: str, position: int, program: int | None, early: bool) -> np.ndarray | None:
        """The grammar-state bias when roles constrain it, else None (the default applies)."""
        book = self.book
        self.completing = False
        if state == "bar_start":
            upcoming = self._next_due(0)
            if upcoming is None:
                return None
            return book.start_limited(upcoming)
        if state == "after_position":
            here = self._due_here(position)
            return book.only_programs(here) if here else None
        if state == "after_duration":
            if self._needs_completion(program, position):
                self.completing = True
                return book.only_programs((program,))
            here = self._due_here(position)
            if here:
                return book.only_programs(here)
            upcoming = self._next_due(position + 1)
            if upcoming is None:
                return None
            return book.next_positions(position, upcoming, early)
        return None

    def pitch_bias(self, program: int, position: int, last_bar: bool, constraints: BodyConstraints) -> np.ndarray:
        book = self.book
        role = self.roles[program]
        if program == DRUM_PROGRAM:
            return book.program_bias[program]
        if position in self.anchor_of.get(program, ()):
            slot = "anchor"
        else:
            slot = "strong" if position % book.ticks_per_beat == 0 else "weak"
            if slot == "strong" and self.phrase_end and 2 * position >= book.max_position and role in ("melody", "counter_melody"):
                slot = "cadence"
        tonic_bias = 0.0
        if self.chord is None:
            tonic_bias = constraints.tonic_bias if not last_bar else constraints.last_bar_tonic_bias
        if last_bar and role in ("melody", "counter_melody") and 2 * position >= book.max_position:
            tonic_bias = constraints.final_tonic_bias / (2.0 if self.chord is not None else 1.0)
        bias = book.role_pitch_bias(program, role, self.chord, slot, tonic_bias)
        lacking = self._needs_completion(program, position)
        if lacking and (program, position) in self.held:
            self.completing = True
            return book.tones_only(bias, lacking)
        return bias

    def duration_bias(self, program: int, position: int) -> np.ndarray:
        book = self.book
        role = self.roles[program]
        anchors = self.anchor_of.get(program, ())
        if role in ("pad", "chords", "counter_melody") and position in anchors:
            later = [a for a in anchors if a > position]
            span = (later[0] if later else book.max_position) - position
            return book.held_durations(span)
        return book.durations(program)

    def struck(self, program: int, position: int, pitch: int | None) -> None:
        """Bookkeeping after a note: anchors met, the part heard, chord tones held."""
        self.unheard.discard(program)
        programs = self.due.get(position)
        if programs is not None:
            programs.discard(program)
        if pitch is not None and position in self.anchor_of.get(program, ()):
            self.held.setdefault((program, position), []).append(pitch % 12)


def _generate_bars(decoder: Decoder, prefix: list[int], context_bars: list[list[int]], new_bars: int,
                   constraints: BodyConstraints, progress: ProgressFn | None,
                   progress_span: tuple[float, float], kept: list[list[int]] | None) -> list[list[int]]:
    vocab = decoder.vocab
    book = MaskBook(vocab, constraints)
    time_signature_token = vocab.time_signature[tuple(constraints.time_signature)]
    program_of = {index: program for program, index in vocab.program.items()}
    pitch_ids = set(vocab.pitch.values()) | set(vocab.pitch_drum.values())
    pitch_of = {index: pitch for pitch, index in vocab.pitch.items()}
    lowest: int | None = None  # pitched notes of the new bars, for the range request
    highest: int | None = None
    steer_span = constraints.span_max is not None or constraints.span_min is not None
    onsets = 0  # distinct pitched onset positions so far, for the density request
    last_onset: tuple[int, int] | None = None
    ticks_per_quarter = constraints.time_signature[1]
    position_of = {index: value for value, index in vocab.position.items()}
    capacity = decoder.model.config.max_seq_len
    all_bars = [list(b) for b in context_bars]
    window = window_of(prefix, all_bars, [], capacity)
    if decoder.ids != window:
        decoder.reset(window)
    produced: list[list[int]] = []
    sounding: set[int] = set()
    required = [p for p in constraints.required_programs if p in constraints.programs]
    roles = {p: r for p, r in constraints.roles.items() if p in constraints.programs}
    fill_programs = list(roles) if constraints.fill_every_bar else []
    centre = constraints.centre
    if centre is None and constraints.centre_key is not None:
        centre = TonalCentre(constraints.centre_key, constraints.centre_strength)
    if centre is not None and not centre.active:
        centre = None
    pitch_index = np.array(sorted(vocab.pitch.values()))
    pitch_classes = np.array([pitch_of[index] % 12 for index in pitch_index])
    pitch_lean = np.zeros(vocab.size, dtype=np.float32)  # the centre's lean (float32) on each pitch token
    lean_of: np.ndarray | None = None  # the lean it was taken from
    quarters_of = vocab.duration_quarters(constraints.time_signature[1])
    last_pitch: int | None = None
    budget = (_OnsetBudget(book, constraints.density_band, list(constraints.programs))
              if constraints.onset_budget and constraints.density_band is not None else None)
    for bar_index in range(new_bars):
        last_bar = bar_index == new_bars - 1
        chord = (constraints.bar_chords[bar_index]
                 if constraints.bar_chords and bar_index < len(constraints.bar_chords) else None)
        plan = _BarPlan(book, roles, fill_programs, chord, phrase_end=(last_bar or bar_index % 4 == 3) if constraints.phrase_end is None
                        else constraints.phrase_end)
        if budget is not None:
            budget.start_bar(bar_index)
        bar = [vocab.bar, time_signature_token]
        if decoder.room() < 8:
            decoder.reset(window_of(prefix, all_bars, [], capacity))
        decoder.feed(bar)
        position = -1
        filled_ticks = 0.0  # where the latest-ending note of this bar stops
        state = "bar_start"
        current_program = None
        pending: list[int] = []  # chosen tokens not yet fed (a forced token rides along with its predecessor)
        waiting = kept_events(kept[bar_index], vocab) if kept and bar_index < len(kept) else []
        while True:
            missing = tuple(p for p in required if p not in sounding) if last_bar and not roles else ()
            if len(bar) > constraints.max_tokens_per_bar and state in ("bar_start", "after_duration"):
                break
            early = filled_ticks < book.max_position - book.ticks_per_beat
            steered = plan.bias(state, position, current_program, early) if roles else None
            if steered is not None:
                bias = steered
            elif state == "bar_start":
                bias = book.bar_start(last_bar, missing)
            elif state == "after_position":
                bias = book.after_position_or_note(position, last_bar, missing, after_duration=False)
            elif state == "after_duration":
                bias = book.after_position_or_note(position, last_bar, missing, after_duration=True, early=early)
            elif state == "after_program" and current_program in roles:
                bias = plan.pitch_bias(current_program, position, last_bar, constraints)
                if steer_span and current_program != DRUM_PROGRAM:
                    bias = book.within_span(bias, lowest, highest, bar_index, new_bars, plan.completing)
            elif state == "after_program":
                if not last_bar:
                    bias = book.program_bias[current_program]
                elif position * 2 >= book.max_position:
                    bias = book.program_bias_cadence[current_program]
                else:
                    bias = book.program_bias_last_bar[current_program]
                if steer_span and current_program != DRUM_PROGRAM:
                    bias = book.within_span(bias, lowest, highest, bar_index, new_bars, False)
            elif current_program in roles:  # after a pitch
                bias = plan.duration_bias(current_program, position)
            else:  # after a pitch
                bias = book.durations(current_program)
            if constraints.density_band is not None and state in ("bar_start", "after_duration"):
                elapsed_q = (bar_index * book.max_position + max(position, 0)) / ticks_per_quarter
                low, high = constraints.density_band
                if roles and constraints.density_asked:  # the band's middle: forced strikes leave less room
                    low = high = (low + high) / 2.0
                if onsets > high * elapsed_q + 0.5:
                    bias = bias + book.pace(position, -1)
                elif onsets < low * elapsed_q - 0.5:
                    bias = bias + book.pace(position, +1)
            if budget is not None and state in ("bar_start", "after_duration", "after_position"):
                bias = budget.restrict(bias, state, position, plan if roles else None)
            if state in ("after_duration", "after_position") and position >= book.max_position - 1 and missing:
                # no later position is left: let a missing instrument play at this one
                bias = bias.copy()
                for program in missing:
                    bias[vocab.program[program]] = 0.0
            forced = book.only_choice(bias)
            if forced is not None and pending:
                token = forced
            else:
                if pending:
                    if decoder.room() < len(pending) + 1:
                        decoder.reset(window_of(prefix, all_bars, bar[: len(bar) - len(pending)], capacity))
                    decoder.feed(pending)
                    pending = []
                if forced is None and centre is not None and state == "after_program" and current_program != DRUM_PROGRAM:
                    lean = centre.lean()
                    if lean is not lean_of:  # the centre has heard a note since: its lean on the pitch tokens
                        lean_of = lean
                        pitch_lean[pitch_index] = lean[pitch_classes]
                    token = decoder.sample(bias, lean=pitch_lean)
                else:
                    token = forced if forced is not None else decoder.sample(bias)
            if waiting and state in ("bar_start", "after_duration") and (
                    token in (vocab.bar, vocab.eos) or (token in position_of and position_of[token] > waiting[0][0])):
                # kept notes come first: write them, then let the model choose again having heard them
                kept_position, note_tokens = waiting.pop(0)
                inserted = ([] if kept_position == position else [vocab.position[kept_position]]) + note_tokens
                pending.extend(inserted)
                bar.extend(inserted)
                position = kept_position
                state = "after_duration"
                continue
            if token in (vocab.bar, vocab.eos):
                break
            pending.append(token)
            bar.append(token)
            if waiting and token in position_of and position_of[token] == waiting[0][0]:
                # the model chose the position of kept notes: they sound here, before its own
                position = waiting[0][0]
                note_tokens = waiting.pop(0)[1]
                pending.extend(note_tokens)
                bar.extend(note_tokens)
                state = "after_duration"
                continue
            if token in position_of:
                position = position_of[token]
                state = "after_position"
            elif token in program_of:
                current_program = program_of[token]
                state = "after_program"
            elif token in pitch_ids:
                sounding.add(current_program)
                if roles:
                    plan.struck(current_program, position, pitch_of.get(token))
                last_pitch = pitch_of.get(token)
                if token in pitch_of:
                    if last_onset != (bar_index, position):
                        onsets += 1
                        last_onset = (bar_index, position)
                    if budget is not None:
                        budget.strike(position)
                    pitch = pitch_of[token]
                    lowest = pitch if lowest is None else min(lowest, pitch)
                    highest = pitch if highest is None else max(highest, pitch)
                state = "after_pitch"
            else:
                filled_ticks = max(filled_ticks, position + book.duration_ticks.get(token, 0.0))
                if centre is not None and last_pitch is not None:
                    centre.hear(last_pitch, quarters_of.get(token, 0.0))
                    last_pitch = None
                state = "after_duration"
        if pending and not last_bar:  # the bar's last tokens go into the cache before the next Bar
            if decoder.room() < len(pending) + 8:
                decoder.reset(window_of(prefix, all_bars, bar[: len(bar) - len(pending)], capacity))
            decoder.feed(pending)
        produced.append(bar)
        all_bars.append(bar)
        if progress is not None:
            low, high = progress_span
            progress(ProgressEvent("generate", low + (high - low) * (bar_index + 1) / new_bars,
                                   f"bar {bar_index + 1} of {new_bars}"))
    return produced


def sample_prefix(decoder: Decoder, plan: list[list[int]], programs: list[int] | None,
                  program_choices: list[int], max_programs: int = 4) -> list[int]:
    """Builds the condition prefix: forced groups are fed, open groups sampled from their choices.

    `plan` holds, per group, the allowed token ids (one id = given by the user). Programs are given, or
    sampled in ascending order (drums last) until CondEnd.
    """
    vocab = decoder.vocab
    prefix = [vocab.bos]
    pending = [vocab.bos]
    for allowed in plan:
        if len(allowed) == 1:
            pending.append(allowed[0])
            prefix.append(allowed[0])
            continue
        decoder.feed(pending)
        pending = []
        bias = np.full((vocab.size,), NEG, dtype=np.float32)
        bias[np.array(allowed)] = 0.0
        token = decoder.sample(bias, temperature=1.0)
        pending.append(token)
        prefix.append(token)
    if programs is not None:
        ids = [vocab.program[p] for p in programs] + [vocab.cond_end]
        decoder.feed(pending + ids)
        return prefix + ids
    decoder.feed(pending)
    chosen: list[int] = []
    while True:
        bias = np.full((vocab.size,), NEG, dtype=np.float32)
        last = chosen[-1] if chosen else None
        for program in program_choices:
            if last == DRUM_PROGRAM:
                break
            if last is None or program == DRUM_PROGRAM or program > last:
                bias[vocab.program[program]] = 0.0
        if chosen:
            bias[vocab.cond_end] = 0.0
        if len(chosen) >= max_programs:
            bias = np.full((vocab.size,), NEG, dtype=np.float32)
            bias[vocab.cond_end] = 0.0
        token = decoder.sample(bias, temperature=1.0)
        decoder.feed([token])
        prefix.append(token)
        if token == vocab.cond_end:
            return prefix
        chosen.append({index: program for program, index in vocab.program.items()}[token])


__all__ = ["BodyConstraints", "Decoder", "Sampling", "generate_bars", "sample_prefix", "Cancelled"]
