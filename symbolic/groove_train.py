"""Fits the Groove model (symbolic/groove_model.py): pitched parts to POP909's performed piano
arrangements, drum parts to prepared drum performances (the Groove MIDI Dataset, symbolic.groove_prepare).

    python -m symbolic.groove_prepare --midi DIR --out .cache/groove/performances
    python -m symbolic.groove_train --data ../shared/data/POP909 --performances .cache/groove/performances \
        --out symbolic/pretrained/groove

POP909's velocities are played (every song); its timing is mostly on the grid: only songs whose notes
sit off the sixteenth/triplet grid of the annotated beats (more than TIMING_SONG_OFF_GRID of them by
more than 10 ms) teach the timing statistics. Every 10th song (001, 011, ...) is held out, as for the
chord model (symbolic.pop909.held_out), for symbolic.groove_evaluate. The drum tables (per metric
position and drum voice) come from the performances of the sessions that are not held out. Runs in
about two minutes on one core.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symbolic.groove_model import (CHORD_WINDOW_S, DRUM_VOICES, METRIC_CLASSES, REGISTERS, GrooveConfig,
                                   GrooveModel, GrooveTables, drum_voice, metric_class, register)
from symbolic.pop909 import held_out

TIMING_SONG_OFF_GRID = 0.3  # share of notes more than 10 ms off the grid that marks a performed-timing song
_GRID = np.array([0.0, 0.25, 1 / 3, 0.5, 2 / 3, 0.75, 1.0])
TREND_WINDOW_BEATS = 8.0
MIN_SAMPLES = 30  # a context with fewer notes takes its metric class's (or the global) statistics


def beat_quarters(numerator: int, denominator: int) -> float:
    """A beat of the meter in quarter notes (a dotted quarter in compound meters), as GrooveModel counts."""
    return 1.5 if denominator == 8 and numerator % 3 == 0 and numerator > 3 else 4.0 / denominator


@dataclass
class SongNotes:
    """One song's notes against its annotated beats: context, timing offset from the grid and velocity."""

    name: str
    track: np.ndarray  # track index per note
    onset_s: np.ndarray
    duration_s: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    metric: np.ndarray  # METRIC_CLASSES index
    register: np.ndarray
    offset_ms: np.ndarray  # from the nearest sixteenth/triplet grid position
    bar: np.ndarray
    beat_s: float  # median beat length
    grid_onset_beats: np.ndarray  # the grid position the note belongs to, in beats from the first beat
    first_downbeat: int  # index of the first annotated downbeat
    drums: bool = False  # a drum part: `register` holds the drum voice (groove_model.DRUM_VOICES)
    meter: tuple[int, int] = (4, 4)  # POP909 is read as 4/4 from its annotated downbeats

    @property
    def beat_quarters(self) -> float:
        return beat_quarters(*self.meter)

    @property
    def performed_timing(self) -> bool:
        if self.drums:  # prepared performances (symbolic.groove_prepare) are played, never quantised
            return True
        on_grid = self.metric < 6
        return bool(np.mean(np.abs(self.offset_ms[on_grid]) > 10.0) > TIMING_SONG_OFF_GRID)


def read_song(song: Path) -> SongNotes | None:
    """The notes of one POP909 song folder against its beat_midi.txt (None: no notes or beats)."""
    import pretty_midi

    beats_table = np.loadtxt(song / "beat_midi.txt", ndmin=2)
    if len(beats_table) < 8:
        return None
    beats, downbeat = beats_table[:, 0], beats_table[:, 2] > 0.5
    midi = pretty_midi.PrettyMIDI(str(song / f"{song.name}.mid"))
    rows = [(t, n.start, n.end - n.start, n.pitch, n.velocity) for t, inst in enumerate(midi.instruments) if not inst.is_drum
            for n in inst.notes]
    return notes_against_beats(song.name, rows, beats, downbeat)


def notes_against_beats(name: str, rows: list[tuple], beats: np.ndarray, downbeat: np.ndarray,
                        drums: bool = False, meter: tuple[int, int] = (4, 4)) -> SongNotes | None:
    """Notes (track, onset s, duration s, pitch, velocity) placed on a beat grid: each note's nearest
    sixteenth/triplet position, its offset from it, its metric class and register (drum voice for drums)."""
    if not rows:
        return None
    track, onset, duration, pitch, velocity = (np.array(column) for column in zip(*rows))
    keep = (onset >= beats[0]) & (onset < beats[-1])
    if not keep.any():
        return None
    track, onset, duration, pitch, velocity = track[keep], onset[keep], duration[keep], pitch[keep], velocity[keep]
    beat = np.clip(np.searchsorted(beats, onset, side="right") - 1, 0, len(beats) - 2)
    length = beats[beat + 1] - beats[beat]
    fraction = (onset - beats[beat]) / length
    nearest = _GRID[np.argmin(np.abs(fraction[:, None] - _GRID[None, :]), axis=1)]
    offset_ms = (fraction - nearest) * length * 1000.0
    beat = beat + (nearest == 1.0)
    nearest = np.where(nearest == 1.0, 0.0, nearest)
    downbeats = np.flatnonzero(downbeat)
    if len(downbeats) == 0:
        downbeats = np.array([0])
    bar = np.clip(np.searchsorted(downbeats, beat, side="right") - 1, 0, None)
    bar_start = downbeats[bar]
    bar_end = np.where(bar + 1 < len(downbeats), downbeats[np.minimum(bar + 1, len(downbeats) - 1)], bar_start + 4)
    beats_in_bar = np.maximum(1, bar_end - bar_start)
    in_bar = np.maximum(0, beat - bar_start)
    # off the grid by more than a 32nd: the context is "other", its offset undefined
    metric = np.array([metric_class(p, int(b), int(n)) for p, b, n in zip(nearest, in_bar, beats_in_bar)])
    metric = np.where(np.abs(offset_ms) > length * 1000 / 8, 6, metric)
    voice = drum_voice if drums else register
    registers = np.array([voice(int(p)) for p in pitch])
    order = np.lexsort((pitch, onset, track))
    return SongNotes(name, track[order], onset[order], duration[order], pitch[order], velocity[order], metric[order],
                     registers[order], offset_ms[order], bar[order], float(np.median(np.diff(beats))),
                     (beat + nearest)[order], int(downbeats[0]), drums, tuple(meter))


def detrended(song: SongNotes, max_offset_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """(usable, offsets): which notes teach timing, and their offsets minus the median offset of the
    notes within TREND_WINDOW_BEATS around them. What is left is the player's note-to-note timing; the
    slow part (the beat annotation drifting against the file, rubato) is not what a groove is."""
    usable = (song.metric < 6) & (np.abs(song.offset_ms) <= max_offset_ms)
    position = song.grid_onset_beats
    order = np.argsort(position[usable], kind="stable")
    positions, offsets = position[usable][order], song.offset_ms[usable][order]
    low = np.searchsorted(positions, position - TREND_WINDOW_BEATS / 2, side="left")
    high = np.searchsorted(positions, position + TREND_WINDOW_BEATS / 2, side="right")
    trend = np.array([np.median(offsets[a:b]) if b > a else 0.0 for a, b in zip(low, high)])
    return usable, song.offset_ms - trend


def chords(song: SongNotes) -> np.ndarray:
    """A chord number per note: notes of one track starting within CHORD_WINDOW_S share one."""
    new = np.ones(len(song.onset_s), dtype=bool)
    new[1:] = (song.track[1:] != song.track[:-1]) | (np.diff(song.onset_s) > CHORD_WINDOW_S)
    return np.cumsum(new) - 1


def accents_and_levels(song: SongNotes) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each note's velocity minus its track's mean in its bar, and each track's bar means minus the
    track's mean (bars in order, bars without notes skipped)."""
    accent = np.zeros(len(song.velocity))
    levels = []
    for track in np.unique(song.track):
        mine = song.track == track
        bar_means = {}
        for bar in np.unique(song.bar[mine]):
            in_bar = mine & (song.bar == bar)
            bar_means[bar] = song.velocity[in_bar].mean()
            accent[in_bar] = song.velocity[in_bar] - bar_means[bar]
        means = np.array([bar_means[b] for b in sorted(bar_means)])
        levels.append(means - song.velocity[mine].mean())
    return accent, levels


def _table(values: np.ndarray, metric: np.ndarray, registers: np.ndarray, statistic,  # type: ignore[no-untyped-def]
           contexts: int = len(REGISTERS)) -> list[list[float]]:
    """statistic(values) per (metric class, register or drum voice), falling back to the class, then to
    all values."""
    overall = float(statistic(values)) if len(values) >= MIN_SAMPLES else 0.0
    table = []
    for m in range(len(METRIC_CLASSES)):
        in_class = metric == m
        class_value = float(statistic(values[in_class])) if in_class.sum() >= MIN_SAMPLES else overall
        row = []
        for r in range(contexts):
            cell = in_class & (registers == r)
            row.append(float(statistic(values[cell])) if cell.sum() >= MIN_SAMPLES else class_value)
        table.append(row)
    return table


def lag1(series: list[np.ndarray]) -> float:
    pairs = [(s[:-1], s[1:]) for s in series if len(s) > 2]
    if not pairs:
        return 0.0
    a = np.concatenate([p[0] for p in pairs])
    b = np.concatenate([p[1] for p in pairs])
    if a.std() == 0 or b.std() == 0:  # a steady series (every bar at one level) carries no correlation
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def fit(songs: list[SongNotes], max_offset_ms: float, contexts: int = len(REGISTERS)) -> tuple[GrooveTables, int]:
    """The tables of one family of parts (pitched: contexts = registers; drums: contexts = drum voices)."""
    accents, metrics, registers, levels = [], [], [], []
    for song in songs:
        accent, song_levels = accents_and_levels(song)
        accents.append(accent)
        metrics.append(song.metric)
        registers.append(song.register)
        levels.extend(song_levels)
    accent, metric, regs = np.concatenate(accents), np.concatenate(metrics), np.concatenate(registers)
    timing = [s for s in songs if s.performed_timing]
    offsets, t_metric, t_regs, spreads = [], [], [], []
    for song in timing:
        usable, centred = detrended(song, max_offset_ms)
        offsets.append(centred[usable])
        t_metric.append(song.metric[usable])
        t_regs.append(song.register[usable])
        chord = chords(song)
        for number in np.unique(chord[usable]):
            members = usable & (chord == number)
            if members.sum() >= 2:
                spreads.append(centred[members] - centred[members].mean())
    offset, o_metric, o_regs = np.concatenate(offsets), np.concatenate(t_metric), np.concatenate(t_regs)
    timing_mean = _table(offset, o_metric, o_regs, np.mean, contexts=contexts)
    timing_std = _table(offset, o_metric, o_regs, np.std, contexts=contexts)
    # residuals of successive chords of one track, in units of their context's spread
    residual_series = []
    for song in timing:
        usable, centred = detrended(song, max_offset_ms)
        chord = chords(song)
        for track in np.unique(song.track):
            values = []
            for number in np.unique(chord[usable & (song.track == track)]):
                first = np.flatnonzero(chord == number)[0]
                m, r = song.metric[first], song.register[first]
                values.append((centred[first] - timing_mean[m][r]) / max(timing_std[m][r], 1e-3))
            residual_series.append(np.array(values))
    chord_spread = float(np.std(np.concatenate(spreads))) if spreads else 0.0
    tables = GrooveTables(
        velocity_mean=_table(accent, metric, regs, np.mean, contexts=contexts),
        velocity_std=_table(accent, metric, regs, np.std, contexts=contexts),
        timing_mean_ms=timing_mean,
        timing_std_ms=timing_std,
        timing_ar=lag1(residual_series),
        chord_spread_ms=chord_spread,
        level_std=float(np.std(np.concatenate(levels))),
        level_ar=lag1(levels),
    )
    return tables, len(timing)


def song_folders(data: Path) -> list[Path]:
    return sorted(p for p in data.iterdir() if p.is_dir() and p.name.isdigit())


def fit_drums(cache: Path, max_offset_ms: float) -> tuple[GrooveTables, int, list[str]]:
    """Drum tables from the training sessions of prepared performances (symbolic.groove_prepare)."""
    import json

    from symbolic.groove_prepare import load_performances

    performances = load_performances(cache, held_out=False)
    if not performances:
        raise SystemExit(f"no training performances in {cache} (run python -m symbolic.groove_prepare first)")
    tables, _ = fit(performances, max_offset_ms, contexts=len(DRUM_VOICES))
    held = json.loads((cache / "index.json").read_text())["held_out_sessions"]
    return tables, len(performances), held


def _print_tables(tables: GrooveTables, contexts: tuple[str, ...]) -> None:
    print(f"  timing AR(1) {tables.timing_ar:.2f}, chord spread {tables.chord_spread_ms:.1f} ms, "
          f"bar level std {tables.level_std:.1f} (AR {tables.level_ar:.2f}); columns: {', '.join(contexts)}")
    for m, name in enumerate(METRIC_CLASSES):
        print(f"  {name:20s} velocity accent " + " ".join(f"{v:+5.1f}" for v in tables.velocity_mean[m])
              + "   timing ms " + " ".join(f"{v:+5.1f}±{s:4.1f}" for v, s in
                                        zip(tables.timing_mean_ms[m], tables.timing_std_ms[m])))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/POP909"))
    parser.add_argument("--performances", type=Path,
                        help="prepared drum performances (python -m symbolic.groove_prepare): drum tables")
    parser.add_argument("--out", type=Path, default=Path("symbolic/pretrained/groove"))
    parser.add_argument("--songs", type=int, default=0, help="use only the first N training songs (0: all)")
    args = parser.parse_args(argv)
    folders = song_folders(args.data)
    training = [f for f in folders if not held_out(f)]
    if args.songs:
        training = training[: args.songs]
    songs = [s for s in (read_song(f) for f in training) if s is not None]
    config = GrooveConfig(trained_on="POP909 (MIT): velocities of every training song; timing of the "
                                     "performed-timing songs", training_songs=len(songs),
                          held_out=[f.name for f in folders if held_out(f)])
    tables, timing_songs = fit(songs, config.max_offset_ms)
    config.timing_songs = timing_songs
    drum_tables = None
    if args.performances:
        drum_tables, count, held = fit_drums(args.performances, config.max_offset_ms)
        config.drums_trained_on = ("Groove MIDI Dataset (Magenta, CC BY 4.0): drum performances played to a "
                                   "click, timing and velocity as played")
        config.drum_performances = count
        config.drums_held_out_sessions = held
    GrooveModel(config, tables, drum_tables).save_pretrained(args.out)
    print(f"{len(songs)} training songs ({timing_songs} with performed timing) -> {args.out}")
    _print_tables(tables, REGISTERS)
    if drum_tables is not None:
        print(f"drums: {config.drum_performances} performances (held-out sessions {', '.join(held)})")
        _print_tables(drum_tables, DRUM_VOICES)


if __name__ == "__main__":
    main()
