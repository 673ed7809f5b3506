"""A finished piece and what is made from it: one multi-track MIDI file (tempo, meter, key signatures,
section markers), per-track stems and a mix rendered with FluidSynth, and a sections x tracks overview."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import symusic

from server.arrangement import model as m
from server.arrangement.arranger import SectionResult
from symbolic.attributes import DRUM_PROGRAM, Key, NoteTable
from symbolic.midi_io import TICKS_PER_QUARTER

# Sharps (+) or flats (-) of each major key's signature, by tonic pitch class.
_MAJOR_SHARPS = {0: 0, 7: 1, 2: 2, 9: 3, 4: 4, 11: 5, 6: 6, 1: -5, 8: -4, 3: -3, 10: -2, 5: -1}
_MODE_TO_MAJOR = {"major": 0, "dorian": 2, "phrygian": 4, "lydian": 5, "mixolydian": 7, "minor": 9, "locrian": 11}


def key_signature(key: Key) -> tuple[int, int]:
    """(sharps or -flats, 1 for minor else 0) of a key. A church mode gets its parent major's
    signature, marked major (a MIDI key signature knows only major and minor)."""
    major_tonic = (key.tonic_pitch_class - _MODE_TO_MAJOR[key.mode]) % 12
    return _MAJOR_SHARPS[major_tonic], 1 if key.mode == "minor" else 0


_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")


def spelled(key: Key) -> str:
    """"Db major" rather than "C# major": the tonic spelled as its key signature has it."""
    names = _FLAT_NAMES if key_signature(key)[0] < 0 else _SHARP_NAMES
    return f"{names[key.tonic_pitch_class]} {key.mode}"


@dataclass
class RenderedPiece:
    mix_wav: bytes
    stems_wav: dict[str, bytes]
    sample_rate_hz: int
    duration_s: float


class Piece:
    """The sections of an arrangement, written."""

    def __init__(self, arrangement: m.Arrangement, sections: list[SectionResult]) -> None:
        self.arrangement = arrangement
        self.sections = sections

    @property
    def note_tracks(self) -> list[m.TrackSpec]:
        return [t for t in self.arrangement.tracks if t.source in m.NOTE_SOURCES]

    def section_start_s(self, index: int) -> float:
        return sum(s.length_q * 60.0 / s.spec.tempo_bpm for s in self.sections[:index])

    @property
    def duration_s(self) -> float:
        return self.section_start_s(len(self.sections))

    def track_notes(self, name: str) -> NoteTable:
        """One track over the whole piece (times in quarter notes from the start)."""
        tables = []
        for section in self.sections:
            part = section.parts.get(name)
            if part is not None and len(part):
                shifted = NoteTable(part.onset_q + section.start_q, part.duration_q, part.pitch, part.program,
                                    part.velocity)
                tables.append(shifted)
        if not tables:
            return NoteTable.empty()
        return NoteTable(*(np.concatenate([getattr(t, f) for t in tables]) for f in
                           ("onset_q", "duration_q", "pitch", "program", "velocity")))

    # ---- MIDI ------------------------------------------------------------------------------------
    def midi(self, sections: list[int] | None = None) -> bytes:
        """A type-1 MIDI file of the whole piece (or of the given consecutive sections), one track per
        arrangement track, with a tempo, meter and key signature at each section start where they
        change and a marker naming each section."""
        chosen = [self.sections[i] for i in (sections if sections is not None else range(len(self.sections)))]
        score = symusic.Score(TICKS_PER_QUARTER)
        tpq = TICKS_PER_QUARTER
        origin_q = chosen[0].start_q if chosen else 0.0
        tracks = {t.name: symusic.Track(t.name, 0 if t.program == DRUM_PROGRAM else t.program,
                                        t.program == DRUM_PROGRAM) for t in self.note_tracks}
        last = (None, None, None)
        end_tick = 0
        for section in chosen:
            spec = section.spec
            tick = int(round((section.start_q - origin_q) * tpq))
            if last[0] != spec.tempo_bpm:
                score.tempos.append(symusic.Tempo(tick, float(spec.tempo_bpm)))
            if last[1] != spec.time_signature:
                score.time_signatures.append(symusic.TimeSignature(tick, *spec.time_signature))
            if last[2] != spec.key:
                score.key_signatures.append(symusic.KeySignature(tick, *key_signature(spec.key)))
            last = (spec.tempo_bpm, spec.time_signature, spec.key)
            score.markers.append(symusic.TextMeta(tick, spec.name))
            for name, part in section.parts.items():
                if name not in tracks:
                    continue
                velocity = part.velocity if part.velocity is not None else np.full(len(part), 90)
                for index in range(len(part)):
                    start = tick + int(round(part.onset_q[index] * tpq))
                    duration = max(1, int(round(part.duration_q[index] * tpq)))
                    tracks[name].notes.append(symusic.Note(start, duration, int(part.pitch[index]),
                                                           int(velocity[index])))
            end_tick = tick + int(round(section.length_q * tpq))
        score.markers.append(symusic.TextMeta(end_tick, "end"))
        for track in tracks.values():
            if len(track.notes):
                track.notes.sort()
                score.tracks.append(track)
        return bytes(score.dumps_midi())

    # ---- audio -----------------------------------------------------------------------------------
    def render(self, soundfont: str | Path, sample_rate_hz: int = 44_100, stems: bool = True,
               progress=None, cancel=None) -> RenderedPiece:  # type: ignore[no-untyped-def]
        """Mix (and per-track stems) as 16-bit WAV bytes: the note tracks rendered with FluidSynth, the
        audio layers (melody_audio, accompanist) mixed under them, each a stem of its own."""
        from audio_render.audio_io import encode_wav
        from audio_render.render import RenderOptions, render_midi

        options = RenderOptions(soundfont=soundfont, sample_rate_hz=sample_rate_hz, channels=2, stems=stems)
        from server.arrangement.layers import mix_layers

        audio = mix_layers(self, render_midi(self.midi(), options, progress=progress, cancel=cancel), stems)
        stems_wav = {name.split(":", 1)[-1]: encode_wav(samples, audio.sample_rate_hz)
                     for name, samples in audio.stems.items()}
        return RenderedPiece(encode_wav(audio.samples, audio.sample_rate_hz), stems_wav, audio.sample_rate_hz,
                             audio.duration_s)

    # ---- overview --------------------------------------------------------------------------------
    def overview_png(self, path: Path) -> Path:
        """A grid of piano rolls: one row per track, one column per section (named, with key and tempo)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from server.arrangement.layers import LAYER_RATE_HZ, layer_tracks

        tracks = self.note_tracks
        layers = layer_tracks(self)
        columns = max(1, len(self.sections))
        widths = [max(1.0, s.spec.bars) for s in self.sections] or [1.0]
        rows = len(tracks) + len(layers)
        figure, axes = plt.subplots(rows, columns, figsize=(min(40, 2 + 0.35 * sum(widths)), 1.3 * rows + 1),
                                    dpi=90, squeeze=False, gridspec_kw={"width_ratios": widths, "wspace": 0.04})
        colours = plt.get_cmap("tab10")
        for row, track in enumerate(tracks):
            pitches = self.track_notes(track.name).pitch
            low, high = (int(pitches.min()) - 2, int(pitches.max()) + 2) if len(pitches) else (40, 80)
            for column, section in enumerate(self.sections):
                axis = axes[row][column]
                part = section.parts.get(track.name)
                if part is not None and len(part):
                    for onset, duration, pitch in zip(part.onset_q, part.duration_q, part.pitch):
                        axis.add_patch(plt.Rectangle((onset, pitch - 0.45), max(duration, 0.1), 0.9,
                                                     color=colours(row % 10), lw=0))
                else:
                    axis.set_facecolor("#f2f2f2")
                axis.set_xlim(0, section.length_q)
                axis.set_ylim(low, high)
                for bar in range(1, section.spec.bars):
                    axis.axvline(bar * section.bar_q, color="#dddddd", lw=0.4)
                axis.set_xticks([])
                axis.set_yticks([])
                if row == 0:
                    axis.set_title(f"{section.spec.name}\n{spelled(section.spec.key)}, {section.spec.tempo_bpm:g} bpm",
                                   fontsize=8)
                if column == 0:
                    axis.set_ylabel(track.name, fontsize=8, rotation=0, ha="right", va="center")
        for row, track in enumerate(layers, start=len(tracks)):  # audio layers: their envelope
            for column, section in enumerate(self.sections):
                axis = axes[row][column]
                audio = section.layers.get(track.name)
                if audio is not None and audio.size:
                    hop = LAYER_RATE_HZ // 20
                    envelope = np.abs(audio[: audio.size // hop * hop]).reshape(-1, hop).max(axis=1)
                    times_q = np.arange(envelope.size) * hop / LAYER_RATE_HZ * section.spec.tempo_bpm / 60.0
                    axis.fill_between(times_q, -envelope, envelope, color=colours(row % 10), lw=0)
                    axis.set_ylim(-1.05 * max(float(envelope.max()), 1e-3), 1.05 * max(float(envelope.max()), 1e-3))
                else:
                    axis.set_facecolor("#f2f2f2")
                axis.set_xlim(0, section.length_q)
                axis.set_xticks([])
                axis.set_yticks([])
                if column == 0:
                    axis.set_ylabel(f"{track.name}\n(audio)", fontsize=8, rotation=0, ha="right", va="center")
        figure.suptitle(self.arrangement.title, fontsize=10)
        figure.savefig(path, bbox_inches="tight")
        plt.close(figure)
        return Path(path)

    # ---- summary ---------------------------------------------------------------------------------
    def summary(self) -> dict:
        sections = []
        for index, section in enumerate(self.sections):
            spec = section.spec
            sections.append({
                "name": spec.name, "start_bar": section.start_bar, "bars": spec.bars,
                "start_s": round(self.section_start_s(index), 3), "key": spelled(spec.key), "tempo_bpm": spec.tempo_bpm,
                "time_signature": f"{spec.time_signature[0]}/{spec.time_signature[1]}",
                "tracks": {name: len(part) for name, part in section.parts.items()},
                "layers": sorted(section.layers),
                "how": section.how, "cached": section.cached, "cache_key": section.cache_key,
                "notices": section.notices})
        return {"title": self.arrangement.title, "seed": self.arrangement.seed, "bars": self.arrangement.total_bars,
                "duration_s": round(self.duration_s, 3), "sections": sections}

    def write(self, out_dir: Path, rendered: RenderedPiece | None = None, overview: bool = True) -> list[Path]:
        """Writes piece.mid, sections/NN_name.mid, arrangement.json, overview.png and, when rendered,
        mix.wav and stems/<track>.wav; returns the paths."""
        out_dir = Path(out_dir)
        (out_dir / "sections").mkdir(parents=True, exist_ok=True)
        written = [out_dir / "piece.mid"]
        written[0].write_bytes(self.midi())
        for index, section in enumerate(self.sections):
            path = out_dir / "sections" / f"{index + 1:02d}_{_file_name(section.spec.name)}.mid"
            path.write_bytes(self.midi([index]))
            written.append(path)
        summary_path = out_dir / "arrangement.json"
        summary_path.write_text(json.dumps(self.summary(), indent=2))
        written.append(summary_path)
        if overview:
            written.append(self.overview_png(out_dir / "overview.png"))
        if rendered is not None:
            written.extend(write_audio(out_dir, rendered))
        return written


def write_audio(out_dir: Path, rendered: RenderedPiece) -> list[Path]:
    out_dir = Path(out_dir)
    (out_dir / "stems").mkdir(parents=True, exist_ok=True)
    mix = out_dir / "mix.wav"
    mix.write_bytes(rendered.mix_wav)
    paths = [mix]
    for name, data in rendered.stems_wav.items():
        path = out_dir / "stems" / f"{_file_name(name)}.wav"
        path.write_bytes(data)
        paths.append(path)
    return paths


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
