"""Writing a piece section by section: each section's composed tracks are written with the previous
section as context, repeats reuse earlier material, variations rewrite part of it, fixed sources
(clips, transcribed recordings, grooves) are laid in and heard by the Composer.

    arranger = Arranger(composer=lambda: Composer.from_pretrained(dir), cache=DirectoryCache(out / ".cache"))
    piece = arranger.arrange(load_arrangement_file(Path("piece.toml")), progress=print)
    piece.midi()            # one multi-track file with tempo, meter, key signatures and section markers

How a section is written (composed tracks):
- the first section (or one after a meter change) with nothing else playing: Composer.generate with the
  section's key, tempo, meter, density and instruments;
- after a section with nothing given playing: Composer.continue_clip with a SectionChange (new key,
  tempo, density, the section's instruments) from the last `context_bars` of the previous section;
- where given tracks play (a clip, a transcribed recording): the context transposed into the new key,
  then the section's bars with the given tracks in place and placeholders for the composed ones;
  Composer.infill rewrites the composed tracks, hearing the context before and the given tracks
  inside, so a bass is written under a given melody.
A composed track left silent in most bars is written again (and a bass still silent plays the roots).
Groove drums are laid in but not shown to the Composer (a full groove made it leave pitched parts empty).
Results are cached by a key of the section's own content and what it depends on (the previous
section's key for a continuation, the source section's for a repeat), so re-running after an edit
rewrites only the edited section and what follows from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from ostinato.errors import InvalidInput, NotImplementedYet
from ostinato.runtime import CancelToken, ProgressEvent, ProgressFn
from server.arrangement import model as m
from server.arrangement.layers import followed_tracks, heard_notes
from server.arrangement.loader import key_interval
from symbolic.attributes import DRUM_PROGRAM, Attributes, Key, NoteTable, bar_quarters, concat_tables
from symbolic.drums import CRASH, grooves_for, render_groove
from symbolic.instruments import role_of

if TYPE_CHECKING:
    from server.arrangement.layers import LayerModels
    from server.arrangement.piece import Piece

# Bump when the way sections are written changes: cached sections of older versions are not reused.
ARRANGER_VERSION = 5
# A composed track should start notes in at least this share of a section's bars.
MIN_COVERAGE = 0.75
THIN_TRACK_ATTEMPTS = 2


# ---- results --------------------------------------------------------------------------------------
@dataclass
class SectionResult:
    """A finished section: notes per track, times in quarter notes from the section's start."""

    index: int
    spec: m.SectionSpec
    start_bar: int
    start_q: float
    parts: dict[str, NoteTable]
    cache_key: str
    cached: bool = False
    how: str = ""
    notices: list[str] = field(default_factory=list)
    # Audio layers of this section: track -> float32 mono at layers.LAYER_RATE_HZ, and what each was made from.
    layers: dict[str, np.ndarray] = field(default_factory=dict)
    layer_keys: dict[str, str] = field(default_factory=dict)

    @property
    def bar_q(self) -> float:
        return bar_quarters(self.spec.time_signature)

    @property
    def length_q(self) -> float:
        return self.spec.bars * self.bar_q

    @property
    def start_s(self) -> float:
        return 0.0  # filled by Piece.section_start_s (tempo changes)

    def to_bytes(self) -> bytes:
        parts = {name: {"onset_q": np.round(t.onset_q, 6).tolist(), "duration_q": np.round(t.duration_q, 6).tolist(),
                        "pitch": t.pitch.astype(int).tolist(), "program": t.program.astype(int).tolist(),
                        "velocity": (t.velocity if t.velocity is not None else np.full(len(t), 90)).astype(int).tolist()}
                 for name, t in self.parts.items()}
        from server.arrangement.layers import encode_layer

        layers = {name: {"key": self.layer_keys.get(name, ""), "pcm16": encode_layer(audio)}
                  for name, audio in self.layers.items()}
        return json.dumps({"version": ARRANGER_VERSION, "parts": parts, "how": self.how,
                           "notices": self.notices, "layers": layers}).encode()

    def load(self, data: bytes) -> None:
        """Fills parts, how, notices and layers from a cache entry (to_bytes)."""
        from server.arrangement.layers import decode_layer

        loaded = json.loads(data)
        self.parts = {name: NoteTable(np.array(p["onset_q"], dtype=float), np.array(p["duration_q"], dtype=float),
                                      np.array(p["pitch"], dtype=int), np.array(p["program"], dtype=int),
                                      np.array(p["velocity"], dtype=int))
                      for name, p in loaded["parts"].items()}
        self.how = loaded.get("how", "")
        self.notices = list(loaded.get("notices", []))
        self.layers = {name: decode_layer(layer["pcm16"]) for name, layer in loaded.get("layers", {}).items()}
        self.layer_keys = {name: layer["key"] for name, layer in loaded.get("layers", {}).items()}


# ---- cache ----------------------------------------------------------------------------------------
class SectionCache(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes) -> None: ...


class MemoryCache:
    """A cache in a dict (the RPC fills it from the request and reads new entries back)."""

    def __init__(self, entries: dict[str, bytes] | None = None) -> None:
        self.entries = dict(entries or {})
        self.used: set[str] = set()

    def get(self, key: str) -> bytes | None:
        data = self.entries.get(key)
        if data is not None:
            self.used.add(key)
        return data

    def put(self, key: str, data: bytes) -> None:
        self.entries[key] = data
        self.used.add(key)


class DirectoryCache(MemoryCache):
    """Cached sections as files in a directory (e.g. out/.cache); `prune` drops unused ones."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = Path(directory)

    def get(self, key: str) -> bytes | None:
        path = self.directory / f"{key}.json"
        if not path.exists():
            return None
        self.used.add(key)
        return path.read_bytes()

    def put(self, key: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.directory / f"{key}.json.tmp"
        temporary.write_bytes(data)
        temporary.replace(self.directory / f"{key}.json")
        self.used.add(key)

    def prune(self) -> int:
        """Removes entries not used by the last arrangement; returns how many."""
        removed = 0
        for path in self.directory.glob("*.json"):
            if path.stem not in self.used:
                path.unlink()
                removed += 1
        return removed


def model_fingerprint(directory: Path) -> str:
    """Identifies a model checkpoint (its config and the sizes of its files) for cache keys."""
    directory = Path(directory)
    if not directory.is_dir():
        return str(directory)
    parts = []
    for path in sorted(directory.iterdir()):
        if path.is_file():
            parts.append((path.name, path.stat().st_size,
                          hashlib.sha256(path.read_bytes()).hexdigest() if path.suffix == ".json" else ""))
    return m.digest(parts)


# ---- note helpers ---------------------------------------------------------------------------------
def _shift(table: NoteTable, offset_q: float = 0.0, semitones: int = 0) -> NoteTable:
    """A copy moved in time and (pitched notes only) in pitch."""
    pitched = table.program != DRUM_PROGRAM
    pitch = np.where(pitched, np.clip(table.pitch + semitones, 0, 127), table.pitch).astype(int)
    velocity = None if table.velocity is None else table.velocity.copy()
    return NoteTable(table.onset_q + offset_q, table.duration_q.copy(), pitch, table.program.copy(), velocity)


def _window(table: NoteTable, start_q: float, end_q: float) -> NoteTable:
    """Notes starting in [start_q, end_q), moved to start at 0 and cut at end_q."""
    part = table.select((table.onset_q >= start_q - 1e-6) & (table.onset_q < end_q - 1e-6))
    part = _shift(part, -start_q)
    part.duration_q = np.minimum(part.duration_q, end_q - start_q - part.onset_q)
    return part


def _with_program(table: NoteTable, program: int) -> NoteTable:
    copy = _shift(table)
    copy.program = np.full(len(copy), program, dtype=int)
    return copy


def _loop(table: NoteTable, loop_q: float, length_q: float) -> NoteTable:
    """Repeats a clip every loop_q quarters up to length_q (notes cut at the end)."""
    if len(table) == 0 or loop_q <= 0:
        return NoteTable.empty()
    copies = [_shift(table, k * loop_q) for k in range(int(np.ceil(length_q / loop_q)))]
    return _window(concat_tables(copies), 0.0, length_q)


def section_seed(seed: int, *names: str) -> int:
    digest = hashlib.sha256(":".join([str(seed), *names]).encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1) + 1


def _track_order(programs: list[int]) -> list[int]:
    """Programs in the order table_to_midi writes their tracks (drums last)."""
    return sorted(set(programs), key=lambda p: (p == DRUM_PROGRAM, p))


# ---- the arranger ---------------------------------------------------------------------------------
Transcriber = Callable[[bytes, float, tuple[int, int]], NoteTable]


class Arranger:
    """Writes arrangements with a Composer (and, where asked, the latent space and a transcriber).

    Args:
        composer: returns the Composer (loaded on first use).
        latent: returns the LatentSpace, for latent variations.
        transcriber: (audio bytes, tempo_bpm, time_signature) -> quantised NoteTable, for audio tracks.
        layers: the models audio layers are made with (melody_audio, accompanist); None: none.
        cache: where finished sections are kept (None: nothing is cached).
        model_id: identifies the models (part of every cache key).
    """

    def __init__(self, composer: Callable[[], object], *, latent: Callable[[], object] | None = None,
                 transcriber: Transcriber | None = None, layers: "LayerModels | None" = None,
                 cache: SectionCache | None = None, model_id: str = "") -> None:
        self._composer_fn = composer
        self._latent_fn = latent
        self._transcriber = transcriber
        self._layers = layers
        self.cache = cache or MemoryCache()
        self.model_id = model_id
        self._transcribed: dict[tuple, NoteTable] = {}

    @property
    def capabilities(self) -> dict[str, bool]:
        available = {m.SOURCE_AUDIO: self._transcriber is not None, m.SOURCE_DRUMIFY: True}
        if self._layers is not None:
            available.update(self._layers.capabilities)
        return available

    def arrange(self, arrangement: m.Arrangement, *, progress: ProgressFn | None = None,
                cancel: CancelToken | None = None, on_section: Callable[[SectionResult], None] | None = None,
                audio_layers: bool = True) -> "Piece":
        """Writes every section in order; on_section receives each one as soon as it is finished.

        audio_layers: make the audio layers (melody_audio, accompanist tracks) too; without them a
        piece is notes only (a notice says so) and its layers are made by a later run that asks.
        """
        from server.arrangement.piece import Piece

        results: list[SectionResult] = []
        by_name: dict[str, SectionResult] = {}
        total_bars = max(1, arrangement.total_bars)
        bars_done = 0
        start_bar, start_q = 0, 0.0
        for index, spec in enumerate(arrangement.sections):
            if cancel is not None:
                cancel.check()
            source = by_name.get(spec.source_section) if spec.source_section else None
            previous = results[-1] if results else None
            key = self._cache_key(arrangement, spec, previous, source)
            label = f"section {index + 1}/{len(arrangement.sections)} {spec.name!r} (bars {start_bar + 1}-{start_bar + spec.bars})"
            if progress:
                progress(ProgressEvent("arrange", bars_done / total_bars, f"{label}: writing"))
            cached = self.cache.get(key)
            result = SectionResult(index, spec, start_bar, start_q, {}, key)
            if cached is not None:
                result.load(cached)
                result.cached = True
            else:
                self._write(arrangement, result, previous, source, cancel)
            layers_made = self._make_layers(arrangement, result, audio_layers, cancel)
            if not result.cached or layers_made:
                result.cached = result.cached and not layers_made
                self.cache.put(key, result.to_bytes())
            results.append(result)
            by_name[spec.name] = result
            bars_done += spec.bars
            start_bar += spec.bars
            start_q += result.length_q
            if progress:
                state = "cached" if result.cached else result.how
                progress(ProgressEvent("arrange", bars_done / total_bars, f"{label}: {state}"))
            if on_section is not None:
                on_section(result)
        return Piece(arrangement, results)

    def _make_layers(self, arrangement: m.Arrangement, result: SectionResult, wanted: bool,
                     cancel: CancelToken | None) -> list[str]:
        """Makes the section's audio layers that are missing or out of date; returns their names."""
        from server.arrangement.layers import layer_key, make_layer

        tracks = [arrangement.track(name) for name in result.spec.tracks if arrangement.track(name).is_audio_layer]
        if not tracks:
            return []
        if not wanted or self._layers is None:
            message = f"{result.spec.name}: audio layers ({', '.join(t.name for t in tracks)}) are made with the audio"
            if message not in result.notices:
                result.notices.append(message)
            return []
        made = []
        for track in tracks:
            key = layer_key(arrangement, track, result, self.model_id)
            if result.layer_keys.get(track.name) == key and track.name in result.layers:
                continue
            if cancel is not None:
                cancel.check()
            audio, notice = make_layer(arrangement, track, result, self._layers, cancel)
            result.layers[track.name], result.layer_keys[track.name] = audio, key
            if notice and notice not in result.notices:
                result.notices.append(notice)
            made.append(track.name)
        if made:
            earlier = [part for part in result.how.split("; ") if part and not part.startswith("audio layers made")]
            result.how = "; ".join(earlier + [f"audio layers made ({', '.join(made)})"])
        result.notices = [n for n in result.notices if not n.endswith("are made with the audio")]
        return made

    # ---- cache keys -------------------------------------------------------------------------------
    def _cache_key(self, arrangement: m.Arrangement, spec: m.SectionSpec, previous: SectionResult | None,
                   source: SectionResult | None) -> str:
        # Audio layers are checked by their own keys (layers.layer_key), so they are left out here.
        tracks = [arrangement.track(name).fingerprint() for name in spec.tracks
                  if not arrangement.track(name).is_audio_layer]
        depends = {"source": source.cache_key} if source is not None else {
            "previous": previous.cache_key if previous is not None else None,
            "context_bars": arrangement.context_bars}
        return m.digest(ARRANGER_VERSION, self.model_id, arrangement.seed, arrangement.key, spec.fingerprint(),
                        tracks, depends)

    # ---- one section ------------------------------------------------------------------------------
    def _write(self, arrangement: m.Arrangement, result: SectionResult, previous: SectionResult | None,
               source: SectionResult | None, cancel: CancelToken | None) -> None:
        spec = result.spec
        seed = section_seed(arrangement.seed, spec.name)
        parts: dict[str, NoteTable] = {}
        how = []
        if source is not None:
            for name in spec.tracks:
                if name in source.parts:
                    parts[name] = _shift(source.parts[name], 0.0, spec.transpose)
            shift = f" {spec.transpose:+d} semitones" if spec.transpose else ""
            if spec.vary:
                changed = self._vary(arrangement, spec, parts, seed, result.notices, cancel)
                how.append(f"{spec.variation.method} variation of {source.spec.name!r}{shift} ({', '.join(changed)})")
            else:
                how.append(f"repeat of {source.spec.name!r}{shift}")
        composed = []
        for name in spec.tracks:
            if name in parts:
                continue
            track = arrangement.track(name)
            if track.source == m.SOURCE_COMPOSE:
                composed.append(track)
            elif track.source in (m.SOURCE_MIDI, m.SOURCE_AUDIO):
                parts[name] = self._given(arrangement, track, spec)
            elif track.source == m.SOURCE_GROOVE:
                parts[name] = self._groove(arrangement, track, spec, result.index)
        if composed:
            context = previous if source is None else None
            parts.update(self._compose(arrangement, spec, composed, parts, context, seed, result.notices, cancel))
            how.append(("continued from " + repr(context.spec.name) if context is not None and
                        context.spec.time_signature == spec.time_signature else "composed") +
                       f" ({', '.join(t.name for t in composed)})")
        for name in spec.tracks:
            track = arrangement.track(name)
            if track.source == m.SOURCE_DRUMIFY and (name not in parts or spec.vary):
                parts[name] = self._drumify(arrangement, track, spec, parts, result.notices)
                how.append(f"drums follow {', '.join(followed_tracks(arrangement, track))} ({name})")
        for name, table in parts.items():
            empty_bars = spec.bars - len(set((table.onset_q // result.bar_q).astype(int).tolist()))
            if len(table) == 0:
                result.notices.append(f"{name} has no notes in {spec.name}")
            elif empty_bars > spec.bars // 2:
                result.notices.append(f"{name} is silent in {empty_bars} of {spec.bars} bars of {spec.name}")
        result.parts = parts
        result.how = "; ".join(how) or "laid in"

    def _drumify(self, arrangement: m.Arrangement, track: m.TrackSpec, spec: m.SectionSpec,
                 parts: dict[str, NoteTable], notices: list[str]) -> NoteTable:
        """Drumify (server.application.groove) on the section's notes of the followed tracks: kick with the
        bass line and the strongest onsets, hats on the onsets, the style's backbeat; silent bars stay silent."""
        from server.application.groove import DrumifyJob, drumify
        from symbolic.midi_io import table_to_midi

        heard = heard_notes(arrangement, track, parts)
        if len(heard) == 0:
            notices.append(f"{track.name} is silent in {spec.name}: "
                           f"{', '.join(followed_tracks(arrangement, track))} play no notes there")
            return NoteTable.empty()
        midi = table_to_midi(heard, spec.time_signature, spec.tempo_bpm, bars=spec.bars)
        # One groove for the whole track: the seed chooses among the meter's grooves.
        job = DrumifyJob(midi=midi, style=track.style or "", merge=False, seed=section_seed(arrangement.seed, track.name))
        table = drumify(job).clip.table
        drums = table.select(table.program == DRUM_PROGRAM)
        return _window(drums, 0.0, spec.bars * bar_quarters(spec.time_signature))

    def _given(self, arrangement: m.Arrangement, track: m.TrackSpec, spec: m.SectionSpec) -> NoteTable:
        """A given clip (or a transcribed recording), looped over the section, in the section's key."""
        bar_q = bar_quarters(spec.time_signature)
        if track.source == m.SOURCE_AUDIO:
            if self._transcriber is None:
                raise NotImplementedYet("transcription (basic-pitch) is not installed on this server")
            memo = (track.name, spec.tempo_bpm, spec.time_signature)
            if memo not in self._transcribed:
                self._transcribed[memo] = self._transcriber(track.data or b"", spec.tempo_bpm, spec.time_signature)
            table = self._transcribed[memo]
            if len(table) == 0:
                raise InvalidInput(f"no notes were heard in {track.file!r} (track {track.name!r})")
        else:
            from symbolic.midi_io import midi_to_clip

            clip = midi_to_clip(track.data or b"")
            table = clip.table
            is_drum = track.program == DRUM_PROGRAM
            if track.midi_track is not None:
                programs = [p for p in (clip.track_programs or []) if (table.program == p).any()]
                if track.midi_track >= len(programs):
                    raise InvalidInput(f"track {track.name!r}: {track.file!r} has {len(programs)} tracks with notes; "
                                       f"midi_track {track.midi_track} does not exist")
                table = table.select(table.program == programs[track.midi_track])
            else:
                table = table.select((table.program == DRUM_PROGRAM) == is_drum)
            if len(table) == 0:
                raise InvalidInput(f"track {track.name!r}: {track.file!r} has no {'drum' if is_drum else 'pitched'} notes")
        end_q = float((table.onset_q + table.duration_q).max())
        loop_q = max(1, int(np.ceil(end_q / bar_q - 1e-6))) * bar_q
        notes = _with_program(_loop(table, loop_q, spec.bars * bar_q), track.program)
        if track.follow_key and track.program != DRUM_PROGRAM:
            notes = _shift(notes, 0.0, key_interval(arrangement.key, spec.key))
        return notes

    def _groove(self, arrangement: m.Arrangement, track: m.TrackSpec, spec: m.SectionSpec, index: int) -> NoteTable:
        """Groove-library drums: one groove for the whole track, a fill in the section's last bar and a
        crash on its first downbeat after the first section."""
        grooves = grooves_for(spec.time_signature, track.style)
        groove = grooves[section_seed(arrangement.seed, track.name) % len(grooves)] if not track.style or \
            grooves[0].style != track.style else grooves[0]
        seed = section_seed(arrangement.seed, track.name, spec.name)
        bar_q = bar_quarters(spec.time_signature)
        body_bars = spec.bars - 1 if spec.fill else spec.bars
        parts = [render_groove(groove, body_bars, spec.tempo_bpm, seed)] if body_bars > 0 else []
        if spec.fill:
            two = render_groove(groove, 2, spec.tempo_bpm, seed + 1, phrase_bars=1)  # bar 1 is a fill
            parts.append(_shift(_window(two, bar_q, 2 * bar_q), body_bars * bar_q))
        drums = concat_tables(parts)
        drums = drums.select(~((drums.pitch == CRASH) & (drums.onset_q < 1e-6)))
        if index > 0:
            crash = NoteTable(np.zeros(1), np.full(1, 0.25), np.full(1, CRASH), np.full(1, DRUM_PROGRAM),
                              np.full(1, 110))
            drums = concat_tables([crash, drums])
        return drums

    # ---- composing ---------------------------------------------------------------------------------
    def _compose(self, arrangement: m.Arrangement, spec: m.SectionSpec, tracks: list[m.TrackSpec],
                 fixed: dict[str, NoteTable], context: SectionResult | None, seed: int, notices: list[str],
                 cancel: CancelToken | None) -> dict[str, NoteTable]:
        from symbolic.decoding import Sampling
        from symbolic.midi_io import table_to_midi

        composer = self._composer_fn()
        programs = [t.program for t in tracks]
        bar_q = bar_quarters(spec.time_signature)
        length_q = spec.bars * bar_q
        # Fixed drums are not shown to the Composer: with a full groove in the bars it is writing, it
        # leaves the pitched tracks nearly silent (seen on the pop example: 1 note in 8 bars).
        fixed = {name: t for name, t in fixed.items() if not (len(t) and (t.program == DRUM_PROGRAM).all())}
        fixed_notes = concat_tables(list(fixed.values()))
        # What the Composer hears of the previous section: its pitched parts and composed drums.
        heard = [] if context is None else [
            part for name, part in context.parts.items() if len(part) and (
                int(part.program[0]) != DRUM_PROGRAM or arrangement.track(name).source == m.SOURCE_COMPOSE)]
        if context is not None and (context.spec.time_signature != spec.time_signature or not heard):
            context = None
        continuing = context is not None and len(fixed_notes) == 0 and continuation_api(composer)
        if spec.chords and not (context is None and len(fixed_notes) == 0 or continuing and continuation_chords(composer)):
            notices.append(f"{spec.name}: chords are followed when a section is written from scratch"
                           f"{' or continued' if continuation_chords(composer) else ''}; this one "
                           f"{'is written around given tracks' if len(fixed_notes) else 'continues its context'}")
        if context is None and len(fixed_notes) == 0:
            attributes = Attributes(instruments=programs, key=spec.key, time_signature=spec.time_signature,
                                    tempo_bpm=spec.tempo_bpm, bars=spec.bars, rhythm_intensity=spec.density)
            if spec.chords:
                attributes.chords = " ".join(spec.chords)
            generated = composer.generate(attributes, Sampling(seed=seed), cancel=cancel)
            table = generated.clip.table
        elif continuing:
            # The Composer continues across the boundary with the new key, tempo, density and
            # instruments itself (it hears the context transposed into the new key).
            from symbolic.editing import SectionChange

            context_bars = min(arrangement.context_bars, context.spec.bars)
            start_q = context.length_q - context_bars * bar_q
            window = concat_tables([_window(part, start_q, context.length_q) for part in heard])
            primer = table_to_midi(window, context.spec.time_signature, context.spec.tempo_bpm, bars=context_bars)
            followed = {"chords": " ".join(spec.chords)} if spec.chords and continuation_chords(composer) else {}
            change = SectionChange(key=spec.key, tempo_bpm=spec.tempo_bpm, rhythm_intensity=spec.density,
                                   instruments=programs, **followed)
            generated = composer.continue_clip(primer, spec.bars, Sampling(seed=seed), continuation_only=True,
                                               change=change, cancel=cancel)
            table = _window(generated.clip.table, 0.0, length_q)
        else:
            if spec.density is not None:
                notices.append(f"{spec.name}: density is steered except where given tracks play; "
                               "here the composed tracks follow their context's density")
            context_bars = 0
            pieces = []
            wanted = set(programs) | {int(p) for p in fixed_notes.program}
            previous_parts: dict[int, NoteTable] = {}
            if context is not None:
                context_bars = min(arrangement.context_bars, context.spec.bars)
                interval = key_interval(context.spec.key, spec.key)
                start_q = context.length_q - context_bars * bar_q
                for part in context.parts.values():
                    if len(part) and int(part.program[0]) in wanted:
                        window = _shift(_window(part, start_q, context.length_q), 0.0, interval)
                        pieces.append(window)
                        previous_parts[int(part.program[0])] = window
            offset_q = context_bars * bar_q
            pieces.append(_shift(fixed_notes, offset_q))
            for track in tracks:
                pieces.append(_shift(self._placeholder(track.program, spec, previous_parts, context_bars * bar_q),
                                     offset_q))
            clip = concat_tables(pieces)
            total_bars = context_bars + spec.bars
            midi = table_to_midi(clip, spec.time_signature, spec.tempo_bpm, bars=total_bars)
            order = _track_order([int(p) for p in clip.program])
            generated = composer.infill(midi, list(range(context_bars, total_bars)),
                                        [order.index(p) for p in programs], Sampling(seed=seed), cancel=cancel)
            table = _window(generated.clip.table, offset_q, offset_q + length_q)
        out = {}
        for track in tracks:
            part = table.select(table.program == track.program)
            part.duration_q = np.minimum(part.duration_q, length_q - part.onset_q)
            out[track.name] = part
        self._fill_thin_tracks(spec, tracks, out, fixed, seed, notices, cancel)
        return out

    def _fill_thin_tracks(self, spec: m.SectionSpec, tracks: list[m.TrackSpec], out: dict[str, NoteTable],
                          fixed: dict[str, NoteTable], seed: int, notices: list[str],
                          cancel: CancelToken | None) -> None:
        """A composed track that plays in fewer than MIN_COVERAGE of the bars is written again over the
        section (hearing every other part) a few times, keeping the fullest; a bass still silent in
        some bars then plays the roots of what sounds there."""
        from symbolic.decoding import Sampling
        from symbolic.midi_io import table_to_midi

        bar_q = bar_quarters(spec.time_signature)
        wanted = int(np.ceil(MIN_COVERAGE * spec.bars))
        thin = [t for t in tracks if bars_with_notes(out[t.name], bar_q, spec.bars) < wanted]
        if not thin:
            return
        composer = self._composer_fn()
        fixed = {name: t for name, t in fixed.items() if not (len(t) and (t.program == DRUM_PROGRAM).all())}
        for attempt in range(THIN_TRACK_ATTEMPTS):
            if not thin:
                break
            clip = concat_tables(list(fixed.values()) + list(out.values()) + [
                self._placeholder(t.program, spec, {}, 0.0) for t in thin if len(out[t.name]) == 0])
            midi = table_to_midi(clip, spec.time_signature, spec.tempo_bpm, bars=spec.bars)
            order = _track_order([int(p) for p in clip.program])
            generated = composer.infill(midi, list(range(spec.bars)), [order.index(t.program) for t in thin],
                                        Sampling(seed=seed + 101 + attempt), cancel=cancel)
            table = _window(generated.clip.table, 0.0, spec.bars * bar_q)
            for track in thin:
                candidate = table.select(table.program == track.program)
                if bars_with_notes(candidate, bar_q, spec.bars) > bars_with_notes(out[track.name], bar_q, spec.bars):
                    out[track.name] = candidate
            thin = [t for t in thin if bars_with_notes(out[t.name], bar_q, spec.bars) < wanted]
        for track in thin:
            if role_of(track.program) != "bass":
                continue
            others = concat_tables([t for name, t in {**fixed, **out}.items() if name != track.name])
            added = _roots(others, out[track.name], track.program, spec)
            if len(added):
                out[track.name] = concat_tables([out[track.name], added])
                notices.append(f"{spec.name}: {track.name} plays the roots in {len(np.unique(added.onset_q // bar_q))} "
                               "bars the Composer left silent")

    @staticmethod
    def _placeholder(program: int, spec: m.SectionSpec, previous_parts: dict[int, NoteTable],
                     context_q: float) -> NoteTable:
        """Notes that hold a composed track's place until it is written: its part in the context
        (looped), else the tonic on every beat in the instrument's register. They shape what the
        Composer reads (instruments, density, key); every one of them is rewritten."""
        from symbolic.decoding import instrument_range

        bar_q = bar_quarters(spec.time_signature)
        length_q = spec.bars * bar_q
        if program in previous_parts and len(previous_parts[program]):
            return _loop(previous_parts[program], context_q, length_q)
        beats = np.arange(0.0, length_q, 1.0)
        if program == DRUM_PROGRAM:
            pitch = np.where(np.mod(beats, 2.0) < 1e-6, 36, 38)
        else:
            low, high = instrument_range(program)
            centre = {"bass": low + 7, "harmony": (low + high) // 2 - 5}.get(role_of(program), (low + high) // 2)
            tonic = centre - (centre - spec.key.tonic_pitch_class) % 12
            pitch = np.full(len(beats), tonic)
        return NoteTable(beats, np.full(len(beats), 0.9), pitch.astype(int), np.full(len(beats), program), None)

    # ---- variations --------------------------------------------------------------------------------
    def _vary(self, arrangement: m.Arrangement, spec: m.SectionSpec, parts: dict[str, NoteTable], seed: int,
              notices: list[str], cancel: CancelToken | None) -> list[str]:
        """Rewrites part of the copied material in place; returns the names of the changed tracks."""
        variation = spec.variation or m.Variation()
        candidates = [n for n in parts if arrangement.track(n).source == m.SOURCE_COMPOSE
                      and arrangement.track(n).program != DRUM_PROGRAM]
        names = list(variation.tracks) or [n for n in candidates if role_of(arrangement.track(n).program) == "melody"] \
            or candidates[:1]
        names = [n for n in names if n in parts and len(parts[n])]
        if not names:
            notices.append(f"{spec.name}: nothing to vary (no composed pitched track with notes)")
            return []
        if variation.amount <= 0:
            return names
        if variation.method == m.VARIATION_LATENT:
            for name in names:
                parts[name] = self._vary_latent(parts[name], spec, variation.amount, seed)
            return names
        from symbolic.decoding import Sampling
        from symbolic.midi_io import table_to_midi

        bar_q = bar_quarters(spec.time_signature)
        count = max(1, min(spec.bars, int(round(variation.amount * spec.bars))))
        clip = concat_tables(list(parts.values()))
        midi = table_to_midi(clip, spec.time_signature, spec.tempo_bpm, bars=spec.bars)
        order = _track_order([int(p) for p in clip.program])
        programs = {name: arrangement.track(name).program for name in names}
        composer = self._composer_fn()
        for attempt in range(3):
            generated = composer.infill(midi, list(range(spec.bars - count, spec.bars)),
                                        [order.index(p) for p in programs.values()],
                                        Sampling(seed=seed + attempt), cancel=cancel)
            table = _window(generated.clip.table, 0.0, spec.bars * bar_q)
            new = {name: table.select(table.program == program) for name, program in programs.items()}
            if any(not _same_notes(new[name], parts[name]) for name in names):
                break
        parts.update(new)
        return names

    def _vary_latent(self, table: NoteTable, spec: m.SectionSpec, amount: float, seed: int) -> NoteTable:
        if self._latent_fn is None:
            raise NotImplementedYet("the latent space is not available on this server")
        from symbolic.latent import Decoding, clip_to_midi, midi_to_clip
        from symbolic.midi_io import midi_to_clip as read_clip
        from symbolic.midi_io import table_to_midi

        space = self._latent_fn()
        program = int(table.program[0])
        midi = table_to_midi(_with_program(table, 0), spec.time_signature, spec.tempo_bpm, bars=spec.bars)
        clip = midi_to_clip(midi)
        varied = space.vary(clip, 1, float(amount), decoding=Decoding(seed=seed))[0]
        notes = read_clip(clip_to_midi(varied)).table
        return _with_program(_window(notes, 0.0, spec.bars * bar_quarters(spec.time_signature)), program)


def bars_with_notes(table: NoteTable, bar_q: float, bars: int) -> int:
    """How many of the bars have at least one note starting in them."""
    if len(table) == 0:
        return 0
    index = np.floor(table.onset_q / bar_q + 1e-6).astype(int)
    return len({i for i in index.tolist() if 0 <= i < bars})


def _roots(heard: NoteTable, bass: NoteTable, program: int, spec: m.SectionSpec) -> NoteTable:
    """For each bar where the bass is silent: the lowest pitched note sounding on each half-bar of the
    other parts (else the key's tonic), in the bass register, a half-bar long."""
    from symbolic.decoding import instrument_range

    bar_q = bar_quarters(spec.time_signature)
    low, high = instrument_range(program)
    floor = low + 4
    covered = set(np.floor(bass.onset_q / bar_q + 1e-6).astype(int).tolist())
    pitched = heard.select(heard.program != DRUM_PROGRAM)
    half = bar_q / 2 if spec.time_signature[0] % 2 == 0 else bar_q
    onsets, pitches = [], []
    for bar in range(spec.bars):
        if bar in covered:
            continue
        for start in np.arange(bar * bar_q, (bar + 1) * bar_q - 1e-6, half):
            sounding = pitched.select((pitched.onset_q <= start + 1e-6) & (pitched.onset_q + pitched.duration_q > start + 1e-6))
            pitch_class = int(sounding.pitch.min()) % 12 if len(sounding) else spec.key.tonic_pitch_class
            pitch = floor + (pitch_class - floor) % 12
            onsets.append(start)
            pitches.append(min(pitch, high))
    count = len(onsets)
    return NoteTable(np.array(onsets, dtype=float), np.full(count, half * 0.95), np.array(pitches, dtype=int),
                     np.full(count, program, dtype=int), np.full(count, 80, dtype=int))


def _same_notes(a: NoteTable, b: NoteTable) -> bool:
    return len(a) == len(b) and np.allclose(a.onset_q, b.onset_q) and np.array_equal(a.pitch, b.pitch)


def continuation_api(composer: object) -> bool:
    """True when the Composer can continue with new attributes itself (Composer.continue_clip(change=))."""
    method = getattr(composer, "continue_clip", None)
    return method is not None and "change" in inspect.signature(method).parameters


def continuation_chords(composer: object) -> bool:
    """True when a continuation can be given the new section's chords (SectionChange.chords, #9)."""
    from symbolic.editing import SectionChange

    return continuation_api(composer) and "chords" in {f.name for f in dataclasses.fields(SectionChange)}
