"""The Groove model judged from outside on held-out material, beside a random-jitter baseline (and,
with --previous, another model in the same run).

    python -m symbolic.groove_evaluate --data ../shared/data/POP909 [--songs N]
    python -m symbolic.groove_evaluate --performances .cache/groove/performances --previous DIR

Each held-out song (every 10th POP909 song; or, with --performances, the drum performances of the
held-out sessions, never seen in training) is quantised (onsets on the beats' sixteenth/triplet grid,
each track at one flat velocity, its median), written as MIDI and humanised through
GrooveModel.generate, the path the server takes; the baseline humanises the same file with independent
Gaussian jitter of the same overall spread as the model's training data (what a DAW's "humanize"
does). Both are compared with the real performance, measured with numpy on the files' own notes:
- velocity (all held-out songs): Wasserstein distance of the accent distribution (velocity minus the
  track's median) to the real one, per-note correlation with the real accents, error of the mean accent
  per metric position (and per position and register / drum voice);
- timing (the held-out songs with performed timing): Wasserstein distance of the offsets from the grid
  to the real (detrended, as in training) ones, their spread, lag-1 correlation of successive chords,
  error of the mean offset per metric position (and per position and register / drum voice).
"""

from __future__ import annotations

import argparse
import io
import json

import mido
import numpy as np
from pathlib import Path
from scipy.stats import wasserstein_distance

from symbolic.groove_model import DRUM_CHANNEL, METRIC_CLASSES, PRETRAINED_DIR, GrooveModel, _apply
from symbolic.groove_train import SongNotes, chords, detrended, read_song, song_folders
from symbolic.midi_file import MidiEventFile
from symbolic.pop909 import held_out

TICKS_PER_QUARTER = 480


def quantised_midi(song: SongNotes) -> tuple[bytes, np.ndarray]:
    """The song on its grid (4/4 from its first annotated downbeat, one tempo) with flat velocities; and
    which of the song's notes it holds."""
    keep = song.grid_onset_beats >= song.first_downbeat
    out = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    numerator, denominator = song.meter
    quarter_s = song.beat_s / song.beat_quarters
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=int(quarter_s * 1e6), time=0),
                                mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator,
                                                 time=0)])
    out.tracks.append(conductor)
    for track in np.unique(song.track):
        mine = np.flatnonzero(keep & (song.track == track))
        flat = int(np.median(song.velocity[song.track == track]))
        events = []
        for i in mine:
            start = int(round((song.grid_onset_beats[i] - song.first_downbeat) * song.beat_quarters * TICKS_PER_QUARTER))
            end = start + max(1, int(round(song.duration_s[i] / quarter_s * TICKS_PER_QUARTER)))
            channel = DRUM_CHANNEL if song.drums else int(track)
            events.append((start, 1, mido.Message("note_on", channel=channel, note=int(song.pitch[i]), velocity=flat)))
            events.append((end, 0, mido.Message("note_off", channel=channel, note=int(song.pitch[i]), velocity=0)))
        events.sort(key=lambda e: (e[0], e[1]))
        midi_track, previous = mido.MidiTrack(), 0
        for tick, _, message in events:
            midi_track.append(message.copy(time=tick - previous))
            previous = tick
        out.tracks.append(midi_track)
    buffer = io.BytesIO()
    out.save(file=buffer)
    return buffer.getvalue(), keep


def jitter(midi: bytes, timing_std_ms: float, velocity_std: float, quarter_s: float, seed: int) -> bytes:
    """The baseline: every note moved and re-voiced by independent Gaussian noise."""
    rng = np.random.default_rng(seed)
    song = MidiEventFile.from_bytes(midi)
    notes = song.live_notes()
    ticks_per_ms = TICKS_PER_QUARTER / (quarter_s * 1000)
    offsets = np.round(rng.normal(0, timing_std_ms, len(notes)) * ticks_per_ms).astype(np.int64)
    velocities = np.clip(np.round([n.velocity + rng.normal(0, velocity_std) for n in notes]), 1, 127).astype(np.int64)
    _apply(song, notes, offsets, velocities)
    return song.to_bytes()


def changes(before: bytes, after: bytes, quarter_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per note of `before` (in its (track, channel, pitch, onset) order): onset moved (ms), velocity
    moved, and the note's onset tick."""
    def key(n):  # type: ignore[no-untyped-def]
        return (n.track, n.channel, n.pitch, n.start_tick)

    a = sorted(MidiEventFile.from_bytes(before).live_notes(), key=key)
    b = sorted(MidiEventFile.from_bytes(after).live_notes(), key=key)
    if len(a) != len(b) or any((x.track, x.channel, x.pitch) != (y.track, y.channel, y.pitch) for x, y in zip(a, b)):
        raise AssertionError("the humanised file does not hold the same notes")
    ms_per_tick = quarter_s * 1000 / TICKS_PER_QUARTER
    return (np.array([(y.start_tick - x.start_tick) * ms_per_tick for x, y in zip(a, b)]),
            np.array([y.velocity - x.velocity for x, y in zip(a, b)], dtype=float),
            np.array([x.start_tick for x in a]))


def real_in_file_order(song: SongNotes, keep: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`values` of the song's kept notes in the order changes() reports (track, pitch, onset)."""
    idx = np.flatnonzero(keep)
    order = np.lexsort((song.grid_onset_beats[idx], song.pitch[idx], song.track[idx]))
    return values[idx][order]


def lag1_by_chord(offsets: np.ndarray, song: SongNotes, keep: np.ndarray) -> float:
    """Lag-1 correlation of successive chords' mean offsets within each track (song order)."""
    chord = chords(song)
    idx = np.flatnonzero(keep)
    order = np.lexsort((song.grid_onset_beats[idx], song.pitch[idx], song.track[idx]))
    by_note = np.empty(len(song.onset_s))
    by_note[idx[order]] = offsets
    a, b = [], []
    for track in np.unique(song.track):
        numbers = np.unique(chord[keep & (song.track == track)])
        means = np.array([by_note[keep & (chord == c)].mean() for c in numbers])
        a.append(means[:-1])
        b.append(means[1:])
    a, b = np.concatenate(a), np.concatenate(b)
    return float(np.corrcoef(a, b)[0, 1]) if len(a) > 2 and a.std() > 0 and b.std() > 0 else 0.0


def class_profile(values: np.ndarray, metric: np.ndarray) -> np.ndarray:
    return np.array([values[metric == m].mean() if (metric == m).any() else np.nan for m in range(len(METRIC_CLASSES) - 1)])


def spreads(tables) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(timing ms, velocity) spread of a table set overall: what the jitter baseline is given."""
    timing_std = float(np.sqrt(np.mean(np.square(tables.timing_std_ms)) + tables.chord_spread_ms ** 2))
    velocity_std = float(np.sqrt(np.mean(np.square(tables.velocity_std)) + tables.level_std ** 2))
    return timing_std, velocity_std


def evaluate(songs: list[SongNotes], models: dict[str, GrooveModel], jitter_spread: tuple[float, float],
             max_offset_ms: float, seed: int) -> tuple[dict, int]:
    """Every song quantised, then humanised by each model and by jitter, against the real performance.
    Returns (rows by name, including "real"; how many songs had performed timing)."""
    names = list(models) + ["jitter"]
    collected = {name: {"accent": [], "offset": [], "real_accent": [], "real_offset": [], "metric": [],
                        "context": [], "timing_metric": [], "timing_context": [], "lag1": [], "real_lag1": []}
                 for name in names}
    timing_songs = 0
    for song in songs:
        quantised, keep = quantised_midi(song)
        flat = np.array([np.median(song.velocity[song.track == tr]) for tr in song.track])
        real_accent = real_in_file_order(song, keep, song.velocity - np.floor(flat))
        metric = real_in_file_order(song, keep, song.metric)
        context = real_in_file_order(song, keep, song.metric * 10 + song.register)
        usable, detrended_offsets = detrended(song, max_offset_ms)
        performed = song.performed_timing
        timing_songs += performed
        outputs = {name: model.generate(quantised, 1.0, seed) for name, model in models.items()}
        outputs["jitter"] = jitter(quantised, jitter_spread[0], jitter_spread[1], song.beat_s / song.beat_quarters, seed)
        for name, output in outputs.items():
            moved_ms, moved_velocity, _ = changes(quantised, output, song.beat_s / song.beat_quarters)
            c = collected[name]
            c["accent"].append(moved_velocity)
            c["real_accent"].append(real_accent)
            c["metric"].append(metric)
            c["context"].append(context)
            if performed:
                real_offsets = real_in_file_order(song, keep, detrended_offsets)
                ok = real_in_file_order(song, keep, usable.astype(float)) > 0
                c["offset"].append(moved_ms[ok])
                c["real_offset"].append(real_offsets[ok])
                c["timing_metric"].append(metric[ok])
                c["timing_context"].append(context[ok])
                c["lag1"].append(lag1_by_chord(moved_ms, song, keep))
                c["real_lag1"].append(lag1_by_chord(np.where(ok, real_offsets, 0.0), song, keep))
    rows: dict = {}
    for name, c in collected.items():
        accent, real = np.concatenate(c["accent"]), np.concatenate(c["real_accent"])
        metric, context = np.concatenate(c["metric"]), np.concatenate(c["context"])
        row = rows[name] = {}
        row["velocity_wasserstein"] = float(wasserstein_distance(accent, real))
        row["velocity_std"] = float(accent.std())
        row["velocity_note_correlation"] = float(np.corrcoef(accent, real)[0, 1])
        row["velocity_position_mean_error"] = float(np.nanmean(np.abs(class_profile(accent, metric)
                                                                      - class_profile(real, metric))))
        row["velocity_position_voice_mean_error"] = context_error(accent, real, context)
        if c["offset"]:
            offset, real_offset = np.concatenate(c["offset"]), np.concatenate(c["real_offset"])
            row["timing_wasserstein_ms"] = float(wasserstein_distance(offset, real_offset))
            row["timing_std_ms"] = float(offset.std())
            row["timing_lag1"] = float(np.mean(c["lag1"]))
            tm, tc = np.concatenate(c["timing_metric"]), np.concatenate(c["timing_context"])
            row["timing_position_mean_error_ms"] = float(np.nanmean(np.abs(class_profile(offset, tm)
                                                                           - class_profile(real_offset, tm))))
            row["timing_position_voice_mean_error_ms"] = context_error(offset, real_offset, tc)
    first = collected[names[0]]
    rows["real"] = {"velocity_std": float(np.concatenate(first["real_accent"]).std())}
    if first["real_offset"]:
        rows["real"]["timing_std_ms"] = float(np.concatenate(first["real_offset"]).std())
        rows["real"]["timing_lag1"] = float(np.mean(first["real_lag1"]))
    return rows, timing_songs


def context_error(values: np.ndarray, real: np.ndarray, context: np.ndarray, min_notes: int = 30) -> float:
    """Mean |mean(values) - mean(real)| over (metric position, register or drum voice) contexts with at
    least `min_notes` notes, weighted by their notes (the "other" position left out)."""
    errors, weights = [], []
    for key in np.unique(context):
        mine = context == key
        if key // 10 == len(METRIC_CLASSES) - 1 or mine.sum() < min_notes:
            continue
        errors.append(abs(values[mine].mean() - real[mine].mean()))
        weights.append(mine.sum())
    return float(np.average(errors, weights=weights)) if errors else float("nan")


ROW_NAMES = ["velocity_wasserstein", "velocity_std", "velocity_note_correlation", "velocity_position_mean_error",
             "velocity_position_voice_mean_error", "timing_wasserstein_ms", "timing_std_ms", "timing_lag1",
             "timing_position_mean_error_ms", "timing_position_voice_mean_error_ms"]


def print_rows(rows: dict) -> None:
    columns = [name for name in rows if name != "real"] + ["real"]
    print(f"{'':36s}" + "".join(f"{name:>10s}" for name in columns))
    for key in ROW_NAMES:
        print(f"{key:36s}" + "".join(f"{rows[n][key]:10.2f}" if key in rows[n] else f"{'-':>10s}" for n in columns))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/POP909"))
    parser.add_argument("--performances", type=Path,
                        help="prepared drum performances (symbolic.groove_prepare): judge on their held-out "
                             "sessions instead of POP909")
    parser.add_argument("--model", type=Path, default=PRETRAINED_DIR)
    parser.add_argument("--previous", type=Path, help="another model directory judged in the same run")
    parser.add_argument("--songs", type=int, default=0, help="only the first N held-out songs (0: all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    model = GrooveModel.from_pretrained(args.model)
    models = {"model": model}
    if args.previous:
        models["previous"] = GrooveModel.from_pretrained(args.previous)
    if args.performances:
        from symbolic.groove_prepare import load_performances

        songs = load_performances(args.performances, held_out=True)
        what = f"held-out performances of {args.performances}"
        spread = spreads(model.drum_tables if model.drum_tables is not None else model.tables)
    else:
        songs = [s for s in (read_song(f) for f in song_folders(args.data) if held_out(f)) if s is not None]
        what = "held-out POP909 songs"
        spread = spreads(model.tables)
    if args.songs:
        songs = songs[: args.songs]
    rows, timing_songs = evaluate(songs, models, spread, model.config.max_offset_ms, args.seed)
    print(f"{len(songs)} {what} ({timing_songs} with performed timing), seed {args.seed}; "
          f"jitter: {spread[0]:.1f} ms, {spread[1]:.1f} velocity")
    print_rows(rows)
    if args.json:
        args.json.write_text(json.dumps({"songs": len(songs), "timing_songs": timing_songs, **rows}, indent=1))


if __name__ == "__main__":
    main()
