"""Measures beat trackers alone, in one run: the learned tracker against librosa's dynamic programming.

Training-side only. Inputs no tracker trained on:
  * held-out POP909 renders of `prepare` (every 10th song; .cache/accompanist/data/test.npz): the drumless
    mix (what the accompanist tracks for drums), the melody alone (what the hybrid backing tracks) and
    the mix with its drum stem; reference = POP909's annotated beats (beat_midi), time-scaled with the clip.
    Clips 0-29 are the ones `evaluate` uses; 30-88 are reported apart.
  * the click tracks of `evaluate` (woodblock, 70-180 bpm) and clicks of other GM sounds at 60-190 bpm;
  * a tempo change: two held-out drumless clips of different tempi joined (as `evaluate` does), scored per
    half, and a click track whose tempo jumps from 55 to 133 bpm half-way.
Measures (mir_eval): beat F-measure (70 ms), AMLt (any metrical level), downbeat F (70 ms, annotated
downbeats). Trackers: `learned` (beat_model.BeatTracker) and `librosa_dp` (beats.track_beats, the
tracker before it: librosa's DP with an 85 bpm prior, on the same audio).

    dev-cpu .venv/bin/python -m audio_render.accompanist.train.beat_evaluate [--model DIR] [--clips 89]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from audio_render.accompanist.train.evaluate import RATE_HZ, WINDOW_S, click_track, print_report, render_tracks


def scores(reference: np.ndarray, downbeats: np.ndarray | None, grid, duration_s: float) -> dict[str, float]:
    import mir_eval

    reference = reference[(reference >= 0) & (reference < duration_s)]
    estimated = np.asarray(grid.beat_times_s, dtype=float)
    row = {"f": float(mir_eval.beat.f_measure(reference, estimated, f_measure_threshold=WINDOW_S)),
           "amlt": float(mir_eval.beat.continuity(reference, estimated)[3]) if reference.size > 1 and estimated.size > 1 else 0.0}
    if downbeats is not None:
        downbeats = downbeats[(downbeats >= 0) & (downbeats < duration_s)]
        row["downbeat_f"] = float(mir_eval.beat.f_measure(downbeats, estimated[np.asarray(grid.downbeat, bool)],
                                                          f_measure_threshold=WINDOW_S))
    return row


def mean_rows(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(float(np.mean([row[key] for row in rows])), 4) for key in rows[0]} | {"n": len(rows)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="a beat tracker directory (default: the shipped one)")
    parser.add_argument("--data", type=Path, default=Path(".cache/accompanist/data"))
    parser.add_argument("--clips", type=int, default=89, help="held-out clips (the first 30 are evaluate's)")
    parser.add_argument("--soundfont", default="/usr/share/sounds/sf2/FluidR3_GM.sf2")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from audio_render.accompanist.beat_model import PRETRAINED_BEATS_DIR, BeatTracker
    from audio_render.accompanist.beats import BeatGrid, track_beats

    tracker = BeatTracker.from_pretrained(args.model or PRETRAINED_BEATS_DIR)
    trackers = {"learned": tracker.track, "librosa_dp": track_beats}
    arrays = np.load(args.data / "test.npz")
    meta = json.loads((args.data / "test_meta.json").read_text())[: args.clips]
    rows: dict[str, list[dict[str, float]]] = {}
    seconds = {name: 0.0 for name in trackers}
    started = time.time()

    def run(group: str, audio: np.ndarray, reference: np.ndarray, downbeats: np.ndarray | None) -> None:
        for name, track in trackers.items():
            begin = time.perf_counter()
            grid = track(audio, RATE_HZ)
            seconds[name] += time.perf_counter() - begin
            rows.setdefault(f"{group}/{name}", []).append(scores(reference, downbeats, grid, audio.size / RATE_HZ))

    for index, clip in enumerate(meta):
        melody = arrays["audio_melody"][index].astype(np.float32) / 32767
        accompaniment = arrays["audio_accompaniment"][index].astype(np.float32) / 32767
        drums = arrays["audio_drums"][index].astype(np.float32) / 32767
        beats = np.array(clip["beat_times_s"])
        downbeats = beats[np.array(clip["downbeat"], bool)]
        part = "clips_0_29" if index < 30 else "clips_30_88"
        run(f"drumless_{part}", melody + accompaniment, beats, downbeats)
        run(f"with_drums_{part}", melody + accompaniment + drums, beats, downbeats)
        if np.sqrt(np.mean(melody ** 2)) > 2e-3:
            run(f"melody_alone_{part}", melody, beats, downbeats)
        if index % 20 == 0:
            print(f"{index + 1}/{len(meta)} clips, {time.time() - started:.0f} s", flush=True)
    per_tempo: dict[str, dict[str, float]] = {}
    for tempo in (70, 90, 110, 130, 150, 180):
        clicks, click_beats = click_track(tempo, 10.24, args.soundfont)
        run("clicks_woodblock_70_180", clicks, click_beats, click_beats[::4])
        per_tempo[str(tempo)] = {name: round(rows[f"clicks_woodblock_70_180/{name}"][-1]["f"], 3) for name in trackers}
    for tempo, (program, drum, key) in zip((60, 85, 120, 145, 165, 190), ((0, True, 37), (0, True, 75), (13, False, 96),
                                                                         (0, True, 56), (0, True, 42), (0, True, 76))):
        click_beats = np.arange(0.3, 10.1, 60.0 / tempo)
        audio = render_tracks([(program, drum, [(t, t + 0.08, key, 100) for t in click_beats])], 10.24, args.soundfont)
        run("clicks_other_sounds_60_190", audio, click_beats, None)
        per_tempo[f"{tempo} (other sound)"] = {name: round(rows[f"clicks_other_sounds_60_190/{name}"][-1]["f"], 3)
                                               for name in trackers}
    # Tempo changes: evaluate's joined held-out pairs (slowest with fastest), and a click track 55 -> 133 bpm.
    order = np.argsort([60 / np.median(np.diff(clip["beat_times_s"])) for clip in meta])
    for pair in range(min(5, len(order) // 2)):
        first, second = int(order[pair]), int(order[-1 - pair])
        halves = [(arrays["audio_melody"][i].astype(np.float32) + arrays["audio_accompaniment"][i].astype(np.float32)) / 32767
                  for i in (first, second)]
        split_s = halves[0].size / RATE_HZ
        joined = np.concatenate(halves)
        beats_a = np.array(meta[first]["beat_times_s"])
        beats_b = np.array(meta[second]["beat_times_s"]) + split_s
        beats_a, beats_b = beats_a[(beats_a >= 0) & (beats_a < split_s)], beats_b[beats_b >= split_s]
        for name, track in trackers.items():
            grid = track(joined, RATE_HZ)
            times = np.asarray(grid.beat_times_s)
            first_half = scores(beats_a, None, BeatGrid(times[times < split_s], np.zeros(0, bool)), split_s)
            second_half = scores(beats_b - split_s, None, BeatGrid(times[times >= split_s] - split_s, np.zeros(0, bool)), split_s)
            rows.setdefault(f"tempo_change_pop909/{name}", []).append({"f_before": first_half["f"], "f_after": second_half["f"]})
    click_beats = np.r_[np.arange(0.25, 10.24, 60 / 55), np.arange(10.24 + 0.2, 20.4, 60 / 133)]
    notes = [(t, t + 0.08, 84 if i % 4 == 0 else 77, 100) for i, t in enumerate(click_beats)]
    audio = render_tracks([(115, False, notes)], 20.48, args.soundfont)
    for name, track in trackers.items():
        times = np.asarray(track(audio, RATE_HZ).beat_times_s)
        before = click_beats[click_beats < 10.24]
        after = click_beats[click_beats >= 10.24]
        rows.setdefault(f"tempo_change_clicks_55_133/{name}", []).append({
            "f_before": scores(before, None, BeatGrid(times[times < 10.24], np.zeros(0, bool)), 10.24)["f"],
            "f_after": scores(after - 10.24, None, BeatGrid(times[times >= 10.24] - 10.24, np.zeros(0, bool)), 10.24)["f"]})
    report = {name: mean_rows(values) for name, values in sorted(rows.items())}
    report["clicks_f_per_tempo"] = per_tempo
    audio_s = sum(len(v) for k, v in rows.items() if k.endswith("/learned")) * 10.24
    report["tracking_s_per_audio_s"] = {name: round(value / audio_s, 4) for name, value in seconds.items()}
    report["model"] = str(args.model or PRETRAINED_BEATS_DIR)
    report["eval_s"] = round(time.time() - started, 1)
    print_report(report, args.out)


if __name__ == "__main__":
    main()
