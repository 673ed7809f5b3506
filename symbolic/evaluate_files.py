"""Continue and infill on real multitrack files (POP909 songs held out of every training count):
statuses, instruments kept, the untouched part of the file kept (notes, tempo map, meters, keys,
programs, controllers), judged with mido and pretty_midi rather than the project's own reader.

    python -m symbolic.evaluate_files --songs 20 --data ../shared/data/POP909
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import mido
import numpy as np
import pretty_midi

from ostinato.errors import InvalidInput
from symbolic.composer import Composer
from symbolic.decoding import Sampling
from symbolic.midi_file import MidiEventFile


def other_events(midi: bytes) -> list[list[tuple[int, str]]]:
    """Every event that is not a note, per track with absolute ticks (end-of-track left out)."""
    tracks = []
    for track in mido.MidiFile(file=io.BytesIO(midi)).tracks:
        tick, events = 0, []
        for message in track:
            tick += message.time
            if message.type not in ("note_on", "note_off", "end_of_track"):
                events.append((tick, str(message.copy(time=0))))
        tracks.append(events)
    return tracks


def note_rows(midi: bytes) -> list[tuple[int, int, int, int, int, int]]:
    """(track, channel, pitch, start tick, end tick, velocity) of every note, paired by mido's events."""
    rows = []
    for index, track in enumerate(mido.MidiFile(file=io.BytesIO(midi)).tracks):
        tick, sounding = 0, {}
        for message in track:
            tick += message.time
            if message.type == "note_on" and message.velocity > 0:
                sounding.setdefault((message.channel, message.note), []).append((tick, message.velocity))
            elif message.type in ("note_on", "note_off") and sounding.get((message.channel, message.note)):
                start, velocity = sounding[(message.channel, message.note)].pop(0)
                rows.append((index, message.channel, message.note, start, tick, velocity))
    return sorted(rows)


def _tempo_map(midi: bytes) -> list[tuple[float, float]]:
    times, tempos = pretty_midi.PrettyMIDI(io.BytesIO(midi)).get_tempo_changes()
    return [(round(float(t), 4), round(float(b), 3)) for t, b in zip(times, tempos)]


def evaluate_song(composer: Composer, path: Path, seed: int) -> dict:
    midi = path.read_bytes()
    song = MidiEventFile.from_bytes(midi)
    bar_map = song.bars()
    bars = len(bar_map)
    boundary = int(bar_map.end_tick[-1])
    result: dict = {"song": path.stem, "bars": bars, "tracks": len(song.parts())}
    last_start = int(bar_map.start_tick[max(0, bars - 4)])
    playing = {n.track for n in song.notes if n.start_tick >= last_start}
    started = time.perf_counter()
    try:
        continued = composer.continue_clip(midi, 4, Sampling(seed=seed))
        result["continue_s"] = round(time.perf_counter() - started, 2)
        rows = note_rows(continued.midi)
        result["continue"] = "ok"
        result["continue_notes_kept"] = [r for r in rows if r[3] < boundary] == note_rows(midi)
        result["continue_events_kept"] = other_events(continued.midi) == other_events(midi)
        result["continue_tempo_map_kept"] = _tempo_map(continued.midi) == _tempo_map(midi)
        new_tracks = {r[0] for r in rows if r[3] >= boundary}
        result["continue_instruments_kept"] = f"{len(playing & new_tracks)}/{len(playing)}"
    except InvalidInput as error:
        result["continue"] = f"invalid: {error}"
    rng = np.random.default_rng(seed)
    gap = int(rng.integers(4, max(5, bars - 6)))
    ranges = [(int(bar_map.start_tick[b]), int(bar_map.end_tick[b])) for b in (gap, gap + 1)]
    in_gap = {n.track for n in song.notes if ranges[0][0] <= n.start_tick < ranges[1][1]}
    started = time.perf_counter()
    try:
        infilled = composer.infill(midi, [gap, gap + 1], sampling=Sampling(seed=seed))
        result["infill_s"] = round(time.perf_counter() - started, 2)
        rows = note_rows(infilled.midi)

        def outside(row: tuple) -> bool:
            return not ranges[0][0] <= row[3] < ranges[1][1]

        result["infill"] = "ok"
        result["infill_bar"] = gap
        result["infill_notes_kept"] = [r for r in rows if outside(r)] == [r for r in note_rows(midi) if outside(r)]
        result["infill_events_kept"] = other_events(infilled.midi) == other_events(midi)
        result["infill_tracks_kept"] = len(mido.MidiFile(file=io.BytesIO(infilled.midi)).tracks) == len(
            mido.MidiFile(file=io.BytesIO(midi)).tracks)
        regenerated = {r[0] for r in rows if not outside(r)}
        result["infill_instruments_kept"] = f"{len(in_gap & regenerated)}/{len(in_gap)}"
    except InvalidInput as error:
        result["infill"] = f"invalid: {error}"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/POP909")
    parser.add_argument("--songs", type=int, default=20)
    parser.add_argument("--model", type=Path, default=Path(__file__).resolve().parent / "pretrained" / "default")
    parser.add_argument("--json", type=Path, help="write the per-song rows here")
    args = parser.parse_args(argv)
    composer = Composer.from_pretrained(args.model)
    # POP909 songs held out of the chord statistics (symbolic.pop909.held_out: every 10th song)
    songs = sorted(p for p in args.data.iterdir() if p.is_dir() and p.name.isdigit() and int(p.name) % 10 == 1)
    rows = [evaluate_song(composer, song / f"{song.name}.mid", seed=index + 1)
            for index, song in enumerate(songs[: args.songs])]
    for row in rows:
        print(json.dumps(row))
    summary = {}
    for kind in ("continue", "infill"):
        done = [r for r in rows if r.get(kind) == "ok"]
        kept = [tuple(map(int, r[f"{kind}_instruments_kept"].split("/"))) for r in done]
        summary[kind] = {
            "ok": f"{len(done)}/{len(rows)}",
            "notes_kept": sum(r[f"{kind}_notes_kept"] for r in done),
            "events_kept (tempo map, meters, keys, programs, controllers)": sum(r[f"{kind}_events_kept"] for r in done),
            "instruments_kept": f"{sum(a for a, _ in kept)}/{sum(b for _, b in kept)}",
            "median_s": float(np.median([r[f"{kind}_s"] for r in done])) if done else None,
        }
    summary["continue"]["tempo_map_kept"] = sum(r.get("continue_tempo_map_kept", False) for r in rows)
    summary["infill"]["tracks_kept"] = sum(r.get("infill_tracks_kept", False) for r in rows)
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
