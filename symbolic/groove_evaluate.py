"""The Groove model judged from outside on held-out POP909 songs, beside a random-jitter baseline.

    python -m symbolic.groove_evaluate --data ../shared/data/POP909 [--songs N]

Each held-out song (every 10th, never seen in training) is quantised (onsets on the annotated beats'
sixteenth/triplet grid, each track at one flat velocity, its median), written as MIDI and humanised
through GrooveModel.generate, the path the server takes; the baseline humanises the same file with
independent Gaussian jitter of the same overall spread as the model's training data (what a DAW's
"humanize" does). Both are compared with the real performance, measured with pretty_midi-free numpy on
the files' own notes:
- velocity (all held-out songs): Wasserstein distance of the accent distribution (velocity minus the
  track's median) to the real one, per-note correlation with the real accents, error of the mean accent
  per metric position;
- timing (the held-out songs with performed timing): Wasserstein distance of the offsets from the grid
  to the real (detrended, as in training) ones, their spread, lag-1 correlation of successive chords.
"""

from __future__ import annotations

import argparse
import io
import json

import mido
import numpy as np
from pathlib import Path

from symbolic.groove_model import METRIC_CLASSES, PRETRAINED_DIR, GrooveModel, _apply
from symbolic.groove_train import SongNotes, chords, detrended, read_song, song_folders
from symbolic.midi_file import MidiEventFile
from symbolic.pop909 import held_out

TICKS_PER_QUARTER = 480


def quantised_midi(song: SongNotes) -> tuple[bytes, np.ndarray]:
    """The song on its grid (4/4 from its first annotated downbeat, one tempo) with flat velocities; and
    which of the song's notes it holds."""
    keep = song.grid_onset_beats >= song.first_downbeat
    out = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=int(song.beat_s * 1e6), time=0),
                                mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)])
    out.tracks.append(conductor)
    for track in np.unique(song.track):
        mine = np.flatnonzero(keep & (song.track == track))
        flat = int(np.median(song.velocity[song.track == track]))
        events = []
        for i in mine:
            start = int(round((song.grid_onset_beats[i] - song.first_downbeat) * TICKS_PER_QUARTER))
            end = start + max(1, int(round(song.duration_s[i] / song.beat_s * TICKS_PER_QUARTER)))
            events.append((start, 1, mido.Message("note_on", channel=int(track), note=int(song.pitch[i]), velocity=flat)))
            events.append((end, 0, mido.Message("note_off", channel=int(track), note=int(song.pitch[i]), velocity=0)))
        events.sort(key=lambda e: (e[0], e[1]))
        midi_track, previous = mido.MidiTrack(), 0
        for tick, _, message in events:
            midi_track.append(message.copy(time=tick - previous))
            previous = tick
        out.tracks.append(midi_track)
    buffer = io.BytesIO()
    out.save(file=buffer)
    return buffer.getvalue(), keep


def jitter(midi: bytes, timing_std_ms: float, velocity_std: float, beat_s: float, seed: int) -> bytes:
    """The baseline: every note moved and re-voiced by independent Gaussian noise."""
    rng = np.random.default_rng(seed)
    song = MidiEventFile.from_bytes(midi)
    notes = song.live_notes()
    ticks_per_ms = TICKS_PER_QUARTER / (beat_s * 1000)
    offsets = np.round(rng.normal(0, timing_std_ms, len(notes)) * ticks_per_ms).astype(np.int64)
    velocities = np.clip(np.round([n.velocity + rng.normal(0, velocity_std) for n in notes]), 1, 127).astype(np.int64)
    _apply(song, notes, offsets, velocities)
    return song.to_bytes()


def changes(before: bytes, after: bytes, beat_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per note of `before` (in its (track, channel, pitch, onset) order): onset moved (ms), velocity
    moved, and the note's onset tick."""
    def key(n):  # type: ignore[no-untyped-def]
        return (n.track, n.channel, n.pitch, n.start_tick)

    a = sorted(MidiEventFile.from_bytes(before).live_notes(), key=key)
    b = sorted(MidiEventFile.from_bytes(after).live_notes(), key=key)
    if len(a) != len(b) or any((x.track, x.channel, x.pitch) != (y.track, y.channel, y.pitch) for x, y in zip(a, b)):
        raise AssertionError("the humanised file does not hold the same notes")
    ms_per_tick = beat_s * 1000 / TICKS_PER_QUARTER
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


def main(argv: list[str] | None = None) -> None:
    from scipy.stats import wasserstein_distance

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/POP909"))
    parser.add_argument("--model", type=Path, default=PRETRAINED_DIR)
    parser.add_argument("--songs", type=int, default=0, help="only the first N held-out songs (0: all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    model = GrooveModel.from_pretrained(args.model)
    t = model.tables
    timing_std = float(np.sqrt(np.mean(np.square(t.timing_std_ms)) + t.chord_spread_ms ** 2))
    velocity_std = float(np.sqrt(np.mean(np.square(t.velocity_std)) + t.level_std ** 2))
    folders = [f for f in song_folders(args.data) if held_out(f)]
    if args.songs:
        folders = folders[: args.songs]
    rows = {"model": {}, "jitter": {}}
    collected = {name: {"accent": [], "offset": [], "real_accent": [], "real_offset": [], "metric": [],
                        "timing_metric": [], "lag1": [], "real_lag1": []} for name in rows}
    songs = timing_songs = 0
    for folder in folders:
        song = read_song(folder)
        if song is None:
            continue
        songs += 1
        quantised, keep = quantised_midi(song)
        flat = np.array([np.median(song.velocity[song.track == tr]) for tr in song.track])
        real_accent = real_in_file_order(song, keep, song.velocity - np.floor(flat))
        metric = real_in_file_order(song, keep, song.metric)
        usable, detrended_offsets = detrended(song, model.config.max_offset_ms)
        performed = song.performed_timing
        timing_songs += performed
        outputs = {"model": model.generate(quantised, 1.0, args.seed),
                   "jitter": jitter(quantised, timing_std, velocity_std, song.beat_s, args.seed)}
        for name, output in outputs.items():
            moved_ms, moved_velocity, _ = changes(quantised, output, song.beat_s)
            c = collected[name]
            c["accent"].append(moved_velocity)
            c["real_accent"].append(real_accent)
            c["metric"].append(metric)
            if performed:
                real_offsets = real_in_file_order(song, keep, detrended_offsets)
                ok = real_in_file_order(song, keep, usable.astype(float)) > 0
                c["offset"].append(moved_ms[ok])
                c["real_offset"].append(real_offsets[ok])
                c["timing_metric"].append(metric[ok])
                c["lag1"].append(lag1_by_chord(moved_ms, song, keep))
                c["real_lag1"].append(lag1_by_chord(np.where(ok, real_offsets, 0.0), song, keep))
    for name, c in collected.items():
        accent, real = np.concatenate(c["accent"]), np.concatenate(c["real_accent"])
        metric = np.concatenate(c["metric"])
        row = rows[name]
        row["velocity_wasserstein"] = float(wasserstein_distance(accent, real))
        row["velocity_std"] = float(accent.std())
        row["velocity_note_correlation"] = float(np.corrcoef(accent, real)[0, 1])
        profile, real_profile = class_profile(accent, metric), class_profile(real, metric)
        row["velocity_position_mean_error"] = float(np.nanmean(np.abs(profile - real_profile)))
        if c["offset"]:
            offset, real_offset = np.concatenate(c["offset"]), np.concatenate(c["real_offset"])
            row["timing_wasserstein_ms"] = float(wasserstein_distance(offset, real_offset))
            row["timing_std_ms"] = float(offset.std())
            row["timing_lag1"] = float(np.mean(c["lag1"]))
            tm = np.concatenate(c["timing_metric"])
            row["timing_position_mean_error_ms"] = float(np.nanmean(np.abs(class_profile(offset, tm) - class_profile(real_offset, tm))))
    real_row = {"velocity_std": float(np.concatenate(collected["model"]["real_accent"]).std())}
    if collected["model"]["real_offset"]:
        real_row["timing_std_ms"] = float(np.concatenate(collected["model"]["real_offset"]).std())
        real_row["timing_lag1"] = float(np.mean(collected["model"]["real_lag1"]))
    rows["real"] = real_row
    print(f"{songs} held-out songs ({timing_songs} with performed timing), seed {args.seed}")
    names = ["velocity_wasserstein", "velocity_std", "velocity_note_correlation", "velocity_position_mean_error",
             "timing_wasserstein_ms", "timing_std_ms", "timing_lag1", "timing_position_mean_error_ms"]
    print(f"{'':32s}{'model':>10s}{'jitter':>10s}{'real':>10s}")
    for key in names:
        print(f"{key:32s}" + "".join(f"{rows[n][key]:10.2f}" if key in rows[n] else f"{'-':>10s}"
                                     for n in ("model", "jitter", "real")))
    if args.json:
        args.json.write_text(json.dumps({"songs": songs, "timing_songs": timing_songs, **rows}, indent=1))


if __name__ == "__main__":
    main()
