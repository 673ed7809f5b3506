"""The independent judge of the drum and trio latent spaces, on held-out material only (one command):

    python -m symbolic.latent.evaluate_families --drum-dir DIR [--output FILE] [--families drums,trio]

Material:
- drums: performances of the held-out drummers (drum_data.HELD_OUT_DRUMMERS) among the drum files under
  DIR (the Groove MIDI Dataset), quantised to sixteenths; excerpts of 2, 4 and 16 bars with a hit in
  every bar (16 bars: in 12 of them), at most EXCERPTS_PER_SONG per file and length;
- trio: held-out POP909 songs (every tenth) with their paired drums (trio_data), excerpts of 2, 4 and 16
  bars where melody, bass and drums each sound in every bar (16 bars: in 12 of them).

Each excerpt goes the way a user's file goes: written as a MIDI file, read by read_drum_clip / read_trio,
reconstructed, written by drum_clip_to_midi / trio_to_midi, and read back here with pretty_midi (pitched
tracks by their names "melody" and "bass", drums by the drum flag). Measures, computed here:
- melody and bass: grid accuracy and note F1 (evaluate_external.grid_accuracy / note_f1);
- drums: step accuracy (the share of sixteenths whose set of struck GM keys is the input's) and hit F1
  (precision/recall of (key, step) hits); the input is the excerpt as written, so the 9-piece reduction
  of the kit is not counted against the model (it is a representation choice, said in Notices);
- greedy and sampled (temperature 1, one seed per excerpt) decoding;
- interpolation (pairs of 2-bar excerpts from different files or songs, 8 clips): the share of pairs in
  which the likeness to A never rises and to B never falls by more than 1/16 from one clip to the next
  (for trios the mean likeness of the three parts), and that the endpoints equal the reconstructions.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np

from symbolic.latent.drum_representation import DrumClip, drum_clip_to_midi, read_drum_clip
from symbolic.latent.evaluate_external import EXCERPTS_PER_SONG, grid_accuracy, note_f1, read_notes
from symbolic.latent.representation import NO_EVENT, NOTE_OFF, NUM_PITCHES, MelodyClip, TimeSignature
from symbolic.latent.space import Decoding
from symbolic.latent.trio_representation import TrioClip, read_trio, trio_to_midi

MAX_EXCERPTS = {2: 120, 4: 80, 16: 30}
BARS = (2, 4, 16)
TEMPO_BPM = 120.0


# -- material -----------------------------------------------------------------------------------------

def _bars_sounding(parts: list[np.ndarray], bars: int, steps_per_bar: int) -> bool:
    needed = bars if bars <= 4 else int(0.75 * bars)
    return all(part.reshape(bars, steps_per_bar).any(axis=1).sum() >= needed for part in parts)


def _starts(parts: list[np.ndarray], bars: int, steps_per_bar: int, rng: np.random.Generator) -> list[int]:
    length = bars * steps_per_bar
    starts = [s for s in range(0, len(parts[0]) - length + 1, steps_per_bar)
              if _bars_sounding([p[s:s + length] for p in parts], bars, steps_per_bar)]
    if not starts:
        return []
    return sorted(rng.choice(starts, size=min(EXCERPTS_PER_SONG, len(starts)), replace=False).tolist())


def _spread(items: list, limit: int, rng: np.random.Generator) -> list:
    if len(items) <= limit:
        return items
    return [items[i] for i in sorted(rng.choice(len(items), size=limit, replace=False))]


def drum_excerpts(drum_dir: Path, seed: int) -> dict[int, list[tuple[str, DrumClip]]]:
    from symbolic.latent import drum_data

    rng = np.random.default_rng(seed)
    found: dict[int, list[tuple[str, DrumClip]]] = {bars: [] for bars in BARS}
    for path in sorted(Path(drum_dir).rglob("*.mid")):
        relative = path.relative_to(drum_dir)
        if not drum_data.is_held_out(f"{relative}#gmd", drum_data.drummer_of(relative)):
            continue
        clip = read_drum_clip(path.read_bytes(), max_bars=100_000).clip
        steps_per_bar = clip.time_signature.steps_per_bar
        for bars in BARS:
            for start in _starts([clip.tokens > 0], bars, steps_per_bar, rng):
                tokens = clip.tokens[start:start + bars * steps_per_bar].copy()
                found[bars].append((str(relative), DrumClip(tokens, clip.time_signature, TEMPO_BPM)))
    return {bars: _spread(items, MAX_EXCERPTS[bars], rng) for bars, items in found.items()}


def _line(tokens: np.ndarray, program: int) -> MelodyClip:
    window = tokens.copy()
    sounding = np.flatnonzero(window != NO_EVENT)
    if len(sounding) and window[sounding[0]] == NOTE_OFF:
        window[sounding[0]] = NO_EVENT
    return MelodyClip(window, TimeSignature(4, 4), TEMPO_BPM, program)


def trio_excerpts(drum_dir: Path, pop909_root: Path | None, seed: int) -> dict[int, list[tuple[str, TrioClip]]]:
    from symbolic.latent import trio_data

    rng = np.random.default_rng(seed)
    songs = trio_data.load_songs(trio_data.prepare(drum_dir, root=pop909_root), held_out=True)
    found: dict[int, list[tuple[str, TrioClip]]] = {bars: [] for bars in BARS}
    for song in songs:
        parts = [song.melody < NUM_PITCHES, song.bass < NUM_PITCHES, song.drums > 0]
        for bars in BARS:
            for start in _starts(parts, bars, 16, rng):
                end = start + bars * 16
                clip = TrioClip(_line(song.melody[start:end], 0), _line(song.bass[start:end], 33),
                                DrumClip(song.drums[start:end].copy(), TimeSignature(4, 4), TEMPO_BPM))
                found[bars].append((f"{song.song} ({song.drum_source} drums)", clip))
    return {bars: _spread(items, MAX_EXCERPTS[bars], rng) for bars, items in found.items()}


# -- reading back, measuring --------------------------------------------------------------------------

def read_back(midi_bytes: bytes) -> dict[str, list]:
    """Notes per part as pretty_midi reads them: 'melody', 'bass' (by track name), 'drums' (drum tracks,
    as (key, step) hits)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes))
    ticks_per_step = midi.resolution / 4
    parts: dict[str, list] = {"melody": read_notes(midi_bytes, "melody"), "bass": read_notes(midi_bytes, "bass"),
                              "drums": []}
    for instrument in midi.instruments:
        if instrument.is_drum:
            parts["drums"] += [(n.pitch, int(round(midi.time_to_tick(n.start) / ticks_per_step)))
                               for n in instrument.notes]
    return parts


def drum_scores(reference: list[tuple[int, int]], estimate: list[tuple[int, int]], num_steps: int) -> tuple[float, float]:
    """(step accuracy, hit F1) of drum hits (key, step)."""
    ref, est = set(reference), set(estimate)
    ref_steps = [frozenset(k for k, s in ref if s == step) for step in range(num_steps)]
    est_steps = [frozenset(k for k, s in est if s == step) for step in range(num_steps)]
    accuracy = float(np.mean([a == b for a, b in zip(ref_steps, est_steps)]))
    if not ref and not est:
        return accuracy, 1.0
    matched = len(ref & est)
    precision, recall = matched / max(len(est), 1), matched / max(len(ref), 1)
    return accuracy, 0.0 if matched == 0 else 2 * precision * recall / (precision + recall)


def likeness(a: dict[str, list], b: dict[str, list], num_steps: int, parts: tuple[str, ...]) -> float:
    values = []
    for part in parts:
        if part == "drums":
            values.append(drum_scores(a[part], b[part], num_steps)[0])
        else:
            values.append(grid_accuracy(a[part], b[part], num_steps))
    return float(np.mean(values))


def _io(family: str):  # type: ignore[no-untyped-def]
    if family == "drums":
        return drum_clip_to_midi, lambda data: read_drum_clip(data).clip, ("drums",)
    return trio_to_midi, lambda data: read_trio(data).clip, ("melody", "bass", "drums")


def reconstruction(space, family: str, excerpts: list) -> dict:  # type: ignore[no-untyped-def]
    write, read, parts = _io(family)
    scores: dict[str, list[float]] = {}
    for index, (_, excerpt) in enumerate(excerpts):
        data = write(excerpt)
        reference = read_back(data)
        clip = read(data)
        for name, decoding in (("greedy", Decoding()), ("sampled", Decoding(temperature=1.0, seed=index + 1))):
            estimate = read_back(write(space.reconstruct(clip, decoding)))
            for part in parts:
                if part == "drums":
                    accuracy, f1 = drum_scores(reference[part], estimate[part], excerpt.num_steps)
                else:
                    accuracy = grid_accuracy(reference[part], estimate[part], excerpt.num_steps)
                    f1 = note_f1(reference[part], estimate[part])
                scores.setdefault(f"{part} {name} grid", []).append(accuracy)
                scores.setdefault(f"{part} {name} F1", []).append(f1)
    result = {key: round(float(np.mean(values)), 4) for key, values in scores.items()}
    result["excerpts"] = len(excerpts)
    return result


def interpolation(space, family: str, excerpts: list, pairs: int, seed: int, steps: int = 8) -> dict:  # type: ignore[no-untyped-def]
    write, read, parts = _io(family)
    rng = np.random.default_rng(seed)
    candidates = [(i, j) for i in range(len(excerpts)) for j in range(i + 1, len(excerpts))
                  if excerpts[i][0] != excerpts[j][0] and excerpts[i][1].time_signature == excerpts[j][1].time_signature]
    chosen = [candidates[k] for k in rng.choice(len(candidates), size=min(pairs, len(candidates)), replace=False)]
    monotone = endpoints = 0
    for i, j in chosen:
        a, b = (read(write(excerpts[k][1])) for k in (i, j))
        num_steps = a.num_steps
        blend = space.interpolate(a, b, steps)
        notes = [read_back(write(clip)) for clip in blend]
        ends = read_back(write(a)), read_back(write(b))
        to_a = [likeness(ends[0], n, num_steps, parts) for n in notes]
        to_b = [likeness(ends[1], n, num_steps, parts) for n in notes]
        monotone += all(to_a[k + 1] <= to_a[k] + 1 / 16 and to_b[k + 1] >= to_b[k] - 1 / 16 for k in range(steps - 1))
        endpoints += notes[0] == read_back(write(space.reconstruct(a))) and \
            notes[-1] == read_back(write(space.reconstruct(b)))
    count = max(len(chosen), 1)
    return {"pairs": len(chosen), "steps": steps, "monotone_pairs": round(monotone / count, 4),
            "endpoints_are_reconstructions": round(endpoints / count, 4)}


def table(report: dict) -> str:
    lines = []
    for family, rows in report["reconstruction"].items():
        for bars, row in rows.items():
            parts = ("drums",) if family == "drums" else ("melody", "bass", "drums")
            cells = "  ".join(f"{part} greedy {row[f'{part} greedy grid']:.3f}/{row[f'{part} greedy F1']:.3f} "
                              f"sampled {row[f'{part} sampled grid']:.3f}/{row[f'{part} sampled F1']:.3f}"
                              for part in parts)
            lines.append(f"{family} x{bars} ({row['excerpts']} excerpts; grid/F1): {cells}")
    for family, entry in report.get("interpolation", {}).items():
        lines.append(f"{family} interpolation: {entry['monotone_pairs']:.0%} of {entry['pairs']} pairs monotone "
                     f"(1/16 tolerance); endpoints = reconstructions in {entry['endpoints_are_reconstructions']:.0%}")
    return "\n".join(lines)


def main() -> None:
    import torch

    from symbolic.latent.drum_space import PRETRAINED_DRUMS_DIR, DrumSpace
    from symbolic.latent.trio import PRETRAINED_TRIO_DIR, TrioSpace

    parser = argparse.ArgumentParser(description="Independent evaluation of the drum and trio latent spaces.")
    parser.add_argument("--drum-dir", type=Path, required=True, help="drum MIDI files (GMD) holding the held-out drummers")
    parser.add_argument("--pop909", type=Path, default=None)
    parser.add_argument("--drums-model", type=Path, default=PRETRAINED_DRUMS_DIR)
    parser.add_argument("--trio-model", type=Path, default=PRETRAINED_TRIO_DIR)
    parser.add_argument("--families", default="drums,trio")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--max-excerpts", type=int, default=None)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.monotonic()
    report: dict = {"reconstruction": {}, "interpolation": {}}
    for family in args.families.split(","):
        if family == "drums":
            space = DrumSpace.from_pretrained(args.drums_model)
            material = drum_excerpts(args.drum_dir, args.seed)
        else:
            space = TrioSpace.from_pretrained(args.trio_model, drums_dir=args.drums_model)
            material = trio_excerpts(args.drum_dir, args.pop909, args.seed)
        if args.max_excerpts is not None:
            material = {bars: items[:args.max_excerpts] for bars, items in material.items()}
        report["reconstruction"][family] = {bars: reconstruction(space, family, items) for bars, items in material.items()}
        report["interpolation"][family] = interpolation(space, family, material[2], args.pairs, args.seed)
    report["seconds"] = round(time.monotonic() - started, 1)
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"({report['seconds']} s)")


if __name__ == "__main__":
    main()
