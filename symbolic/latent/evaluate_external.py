"""The independent judge of the latent space, on material it never trained on (one command):

    python -m symbolic.latent.evaluate_external [--model-dir symbolic/pretrained/latent] [--output FILE]

Material (all held out from training):
- POP909 melodies: the MELODY track of every tenth song (NNN % 10 == 0), on the song's beat grid;
- POP909 bass lines: the lowest voice of those songs' PIANO track below MIDI 60 (pop909.bottom_line);
- folk tunes (control): held-out tunes of the folk corpus cache (data.prepare; tunes split by hash).
Excerpts of 2, 4 and 16 bars (folk: 2 and 4) need a note in every bar (16 bars: in 12 of them) and two
notes per bar on average; they are spread over the songs, at most EXCERPTS_PER_SONG per song and length.

Each excerpt goes the way a user's file goes: written as a MIDI file (pretty_midi, 120 bpm), read by
representation.midi_to_clip, reconstructed by LatentSpace, written by clip_to_midi, and read back with
pretty_midi. Measures on what comes back, computed here and not with the model's own code:
- grid accuracy: the share of sixteenth steps whose state (rest, onset of pitch p, pitch p held) is the
  input's;
- note F1: mir_eval transcription F1 (pitch and onset within half a sixteenth, offsets ignored);
  greedy decoding, and sampled decoding (temperature 1.0, one seed per excerpt).
- interpolation (pairs of 2-bar pop melodies from different songs, 8 clips each): the share of pairs in
  which the similarity (grid accuracy) to A never rises and to B never falls by more than 1/16 from one
  clip to the next; the mean similarity of the first blend to A's reconstruction (a jump shows as a low
  value); the share of blend notes in the scale of A's or B's song key (key_audio.txt), beside the
  inputs' own share.
- vary at distance 0.1: the share of variations equal to the input's reconstruction (should be 0).
- attribute vectors: for each offered attribute, shifted +1 and -1 standard deviation from the
  reconstruction; the share of clips whose attribute moved the requested way, and the mean change of the
  other attributes in their standard deviations (side effects).
"""

from __future__ import annotations

import argparse
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symbolic.latent.representation import NUM_PITCHES, TimeSignature, grid_to_notes

EXCERPTS_PER_SONG = 2
MAX_EXCERPTS = {2: 120, 4: 80, 16: 30}
TEMPO_BPM = 120.0
SECONDS_PER_STEP = 60.0 / TEMPO_BPM / 4
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


@dataclass(frozen=True)
class Excerpt:
    source: str  # "pop melody", "pop bass", "folk"
    song: str
    tokens: np.ndarray
    time_signature: TimeSignature
    scale: frozenset[int] | None = None  # pitch classes of the song's key, where known


# -- material ---------------------------------------------------------------------------------------

def _good(tokens: np.ndarray, bars: int, steps_per_bar: int) -> bool:
    onsets = tokens < NUM_PITCHES
    per_bar = onsets.reshape(bars, steps_per_bar).any(axis=1)
    needed = bars if bars <= 4 else int(0.75 * bars)
    return per_bar.sum() >= needed and onsets.sum() >= 2 * bars


def _song_scale(song_dir: Path) -> frozenset[int] | None:
    best, best_length = None, 0.0
    for line in (song_dir / "key_audio.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) < 3 or ":" not in parts[2]:
            continue
        tonic_text, mode = parts[2].split(":")
        tonic = PITCH_CLASSES.get(tonic_text[0].upper())
        if tonic is None:
            continue
        tonic += tonic_text[1:].count("#") - tonic_text[1:].count("b")
        length = float(parts[1]) - float(parts[0])
        if length > best_length:
            best_length = length
            best = frozenset((tonic + degree) % 12 for degree in (MINOR if mode.startswith("min") else MAJOR))
    return best


def _cut(grid: np.ndarray, bars: int, steps_per_bar: int, rng: np.random.Generator) -> list[np.ndarray]:
    length = bars * steps_per_bar
    starts = [s for s in range(0, len(grid) - length + 1, steps_per_bar)
              if _good(grid[s:s + length], bars, steps_per_bar)]
    if not starts:
        return []
    chosen = rng.choice(starts, size=min(EXCERPTS_PER_SONG, len(starts)), replace=False)
    result = []
    for start in sorted(chosen):
        window = grid[start:start + length].copy()
        first = int(np.argmax(window != 129))  # a leading note-off belongs to the bar before
        if window[first] == 128:
            window[first] = 129
        result.append(window)
    return result


def pop_excerpts(root: Path | None, seed: int) -> dict[tuple[str, int], list[Excerpt]]:
    from symbolic.latent import pop909

    rng = np.random.default_rng(seed)
    found: dict[tuple[str, int], list[Excerpt]] = {}
    for song_dir in pop909.song_dirs(root):
        if not pop909.is_held_out(song_dir.name):
            continue
        lines = pop909.song_lines(song_dir)
        if lines is None:
            continue
        scale = _song_scale(song_dir)
        steps_per_bar = lines.time_signature.steps_per_bar
        for kind, grid in (("pop melody", lines.melody), ("pop bass", lines.bass)):
            for bars in (2, 4, 16):
                for tokens in _cut(grid, bars, steps_per_bar, rng):
                    found.setdefault((kind, bars), []).append(
                        Excerpt(kind, lines.song, tokens, lines.time_signature, scale))
    return {key: _spread(items, MAX_EXCERPTS[key[1]], rng) for key, items in found.items()}


def folk_excerpts(seed: int) -> dict[tuple[str, int], list[Excerpt]]:
    from symbolic.latent import data as latent_data

    rng = np.random.default_rng(seed)
    path = latent_data.prepare()
    found: dict[tuple[str, int], list[Excerpt]] = {}
    for group in latent_data.load(path, held_out=True):
        for tokens, tune in zip(group.tokens, group.tune_ids):
            found.setdefault(("folk", group.num_bars), []).append(
                Excerpt("folk", str(tune), tokens.astype(np.int64), group.time_signature))
    result = {}
    for key, items in found.items():
        # one excerpt per tune first, so a long tune does not fill the set
        by_tune: dict[str, Excerpt] = {}
        for item in rng.permutation(len(items)):
            by_tune.setdefault(items[item].song, items[item])
        result[key] = _spread(list(by_tune.values()), MAX_EXCERPTS[key[1]], rng)
    return result


def _spread(items: list[Excerpt], limit: int, rng: np.random.Generator) -> list[Excerpt]:
    if len(items) <= limit:
        return items
    return [items[i] for i in sorted(rng.choice(len(items), size=limit, replace=False))]


# -- through MIDI, measured here ----------------------------------------------------------------------

def excerpt_midi(excerpt: Excerpt) -> bytes:
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=TEMPO_BPM)
    meter = excerpt.time_signature
    midi.time_signature_changes.append(pretty_midi.TimeSignature(meter.numerator, meter.denominator, 0.0))
    program = 33 if excerpt.source == "pop bass" else 0
    instrument = pretty_midi.Instrument(program=program, name=excerpt.source)
    for pitch, start, end in grid_to_notes(excerpt.tokens):
        instrument.notes.append(pretty_midi.Note(90, int(pitch), start * SECONDS_PER_STEP, end * SECONDS_PER_STEP))
    midi.instruments.append(instrument)
    end_s = len(excerpt.tokens) * SECONDS_PER_STEP
    midi.text_events.append(pretty_midi.Text("end", end_s))
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def read_notes(midi_bytes: bytes, track_name: str | None = None) -> list[tuple[int, int, int]]:
    """(pitch, start_step, end_step) of every pitched note (of the tracks named track_name, when given), on
    the sixteenth grid of the file's own ticks."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes))
    ticks_per_step = midi.resolution / 4
    notes = []
    for instrument in midi.instruments:
        if instrument.is_drum or (track_name is not None and instrument.name != track_name):
            continue
        for note in instrument.notes:
            start = int(round(midi.time_to_tick(note.start) / ticks_per_step))
            end = int(round(midi.time_to_tick(note.end) / ticks_per_step))
            notes.append((note.pitch, start, max(end, start + 1)))
    return sorted(notes, key=lambda n: (n[1], -n[0]))


def grid_states(notes: list[tuple[int, int, int]], num_steps: int) -> np.ndarray:
    """Per sixteenth: 0 rest, pitch + 1 for an onset, -(pitch + 1) for a held pitch (top voice)."""
    states = np.zeros(num_steps, dtype=np.int64)
    for pitch, start, end in sorted(notes, key=lambda n: (n[1], n[0])):
        for step in range(max(start, 0), min(end, num_steps)):
            if step == start:
                states[step] = pitch + 1
            elif states[step] <= 0:
                states[step] = -(pitch + 1)
    return states


def grid_accuracy(reference: list[tuple[int, int, int]], estimate: list[tuple[int, int, int]],
                  num_steps: int) -> float:
    return float(np.mean(grid_states(reference, num_steps) == grid_states(estimate, num_steps)))


def note_f1(reference: list[tuple[int, int, int]], estimate: list[tuple[int, int, int]]) -> float:
    import mir_eval

    if not reference and not estimate:
        return 1.0
    if not reference or not estimate:
        return 0.0

    def arrays(notes: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        intervals = np.array([[s * SECONDS_PER_STEP, e * SECONDS_PER_STEP] for _, s, e in notes])
        return intervals, mir_eval.util.midi_to_hz(np.array([p for p, _, _ in notes], dtype=float))

    (ref_i, ref_p), (est_i, est_p) = arrays(reference), arrays(estimate)
    _, _, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_i, ref_p, est_i, est_p, onset_tolerance=SECONDS_PER_STEP / 2, offset_ratio=None)
    return float(f1)


def attributes(notes: list[tuple[int, int, int]], num_steps: int, steps_per_bar: int) -> dict[str, float]:
    """The judge's own attribute measures (same names as the attribute vectors)."""
    onsets = [n for n in notes if 0 <= n[1] < num_steps]
    bars = max(1, num_steps // steps_per_bar)
    if not onsets:
        return {"notes_per_bar": 0.0, "rhythm_intensity": 0.0, "pitch_range_octaves": 0.0, "mean_pitch": 0.0}
    pitches = np.array([p for p, _, _ in onsets], dtype=float)
    return {"notes_per_bar": len(onsets) / bars, "rhythm_intensity": len({s for _, s, _ in onsets}) / num_steps,
            "pitch_range_octaves": float(pitches.max() - pitches.min()) / 12.0, "mean_pitch": float(pitches.mean())}


# -- the measures ----------------------------------------------------------------------------------

def _clip(excerpt: Excerpt):  # type: ignore[no-untyped-def]
    from symbolic.latent.representation import midi_to_clip

    return midi_to_clip(excerpt_midi(excerpt))


def reconstruction(space, excerpts: list[Excerpt]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from symbolic.latent.representation import clip_to_midi
    from symbolic.latent.space import Decoding

    scores: dict[str, list[float]] = {"greedy_grid": [], "greedy_f1": [], "sampled_grid": [], "sampled_f1": []}
    for index, excerpt in enumerate(excerpts):
        reference = read_notes(excerpt_midi(excerpt))
        clip = _clip(excerpt)
        for name, decoding in (("greedy", Decoding()), ("sampled", Decoding(temperature=1.0, seed=index + 1))):
            estimate = read_notes(clip_to_midi(space.reconstruct(clip, decoding)))
            scores[f"{name}_grid"].append(grid_accuracy(reference, estimate, len(excerpt.tokens)))
            scores[f"{name}_f1"].append(note_f1(reference, estimate))
    result = {key: round(float(np.mean(values)), 4) for key, values in scores.items()}
    result["excerpts"] = len(excerpts)
    return result


def interpolation(space, melodies: list[Excerpt], pairs: int, seed: int, steps: int = 8) -> dict:  # type: ignore[no-untyped-def]
    from symbolic.latent.representation import clip_to_midi

    rng = np.random.default_rng(seed)
    candidates = [(i, j) for i in range(len(melodies)) for j in range(len(melodies))
                  if i < j and melodies[i].song != melodies[j].song]
    chosen = [candidates[k] for k in rng.choice(len(candidates), size=min(pairs, len(candidates)), replace=False)]
    tolerance = 1.0 / 16
    monotone = first_jump = 0.0
    in_key, inputs_in_key = [], []
    for i, j in chosen:
        a, b = melodies[i], melodies[j]
        num_steps = len(a.tokens)
        notes_a, notes_b = read_notes(excerpt_midi(a)), read_notes(excerpt_midi(b))
        blend = [read_notes(clip_to_midi(clip)) for clip in space.interpolate(_clip(a), _clip(b), steps)]
        to_a = [grid_accuracy(notes_a, notes, num_steps) for notes in blend]
        to_b = [grid_accuracy(notes_b, notes, num_steps) for notes in blend]
        ok = all(to_a[k + 1] <= to_a[k] + tolerance and to_b[k + 1] >= to_b[k] - tolerance for k in range(steps - 1))
        monotone += ok
        first_jump += grid_accuracy(blend[0], blend[1], num_steps)
        if a.scale is not None and b.scale is not None:
            scale = a.scale | b.scale
            for notes in blend[1:-1]:
                if notes:
                    in_key.append(np.mean([p % 12 in scale for p, _, _ in notes]))
            inputs_in_key.append(np.mean([p % 12 in a.scale for p, _, _ in notes_a]))
            inputs_in_key.append(np.mean([p % 12 in b.scale for p, _, _ in notes_b]))
    count = max(len(chosen), 1)
    return {"pairs": len(chosen), "steps": steps, "monotone_pairs": round(monotone / count, 4),
            "first_blend_vs_start_reconstruction": round(first_jump / count, 4),
            "blend_notes_in_key_of_a_or_b": round(float(np.mean(in_key)), 4) if in_key else None,
            "input_notes_in_their_key": round(float(np.mean(inputs_in_key)), 4) if inputs_in_key else None}


def vary_repeats(space, excerpts: list[Excerpt], distance: float = 0.1, per_clip: int = 2) -> dict:  # type: ignore[no-untyped-def]
    from symbolic.latent.space import Decoding

    same = total = same_as_input = 0
    for index, excerpt in enumerate(excerpts):
        clip = _clip(excerpt)
        original = space.reconstruct(clip).tokens
        for variation in space.vary(clip, per_clip, distance, decoding=Decoding(seed=index + 1)):
            same += np.array_equal(variation.tokens, original)
            same_as_input += np.array_equal(variation.tokens, clip.tokens)
            total += 1
    return {"distance": distance, "variations": total, "equal_to_reconstruction": round(same / max(total, 1), 4),
            "equal_to_input": round(same_as_input / max(total, 1), 4)}


def attribute_shifts(space, excerpts: list[Excerpt]) -> dict:  # type: ignore[no-untyped-def]
    from symbolic.latent.representation import clip_to_midi

    from symbolic.latent.space import CLIP_SHIFTS

    names = sorted(set(space.attribute_vectors) | set(CLIP_SHIFTS))
    if not names:
        return {}
    base, moved = [], {(name, sign): [] for name in names for sign in (1, -1)}
    for excerpt in excerpts:
        clip = _clip(excerpt)
        steps, per_bar = len(excerpt.tokens), excerpt.time_signature.steps_per_bar
        base.append(attributes(read_notes(clip_to_midi(space.reconstruct(clip))), steps, per_bar))
        for name in names:
            for sign in (1, -1):
                shifted = space.vary(clip, 1, 0.0, shifts={name: float(sign)})[0]
                moved[(name, sign)].append(attributes(read_notes(clip_to_midi(shifted)), steps, per_bar))
    spread = {key: float(np.std([b[key] for b in base])) or 1.0 for key in base[0]}
    result = {}
    for name in names:
        entry: dict[str, object] = {}
        for sign in (1, -1):
            after = moved[(name, sign)]
            deltas = np.array([a[name] - b[name] for a, b in zip(after, base)])
            entry[f"requested_direction_{'+' if sign > 0 else '-'}"] = round(float(np.mean(deltas * sign > 0)), 4)
            entry[f"side_effects_{'+' if sign > 0 else '-'}_sd"] = {
                other: round(float(np.mean([a[other] - b[other] for a, b in zip(after, base)])) / spread[other], 3)
                for other in base[0] if other != name}
        entry["requested_direction"] = round((entry["requested_direction_+"] + entry["requested_direction_-"]) / 2, 4)
        result[name] = entry
    return result


def table(report: dict) -> str:
    lines = ["material            bars  excerpts  greedy grid  greedy F1  sampled grid  sampled F1"]
    for key, row in report["reconstruction"].items():
        source, bars = key.rsplit(" x", 1)
        lines.append(f"{source:<18} {bars:>4}  {row['excerpts']:>8}  {row['greedy_grid']:>11.3f}  "
                     f"{row['greedy_f1']:>9.3f}  {row['sampled_grid']:>12.3f}  {row['sampled_f1']:>10.3f}")
    if "interpolation" in report:
        i = report["interpolation"]
        lines.append(f"interpolation: {i['monotone_pairs']:.0%} of {i['pairs']} pairs monotone (1/16 tolerance); "
                     f"first blend vs start reconstruction {i['first_blend_vs_start_reconstruction']:.3f}; "
                     f"blend notes in key {i['blend_notes_in_key_of_a_or_b']} (inputs {i['input_notes_in_their_key']})")
    for key, v in report.get("vary", {}).items():
        lines.append(f"vary {key}: {v['equal_to_reconstruction']:.0%} of {v['variations']} variations equal the "
                     f"reconstruction at distance {v['distance']}")
    for name, entry in report.get("attribute_shifts", {}).items():
        lines.append(f"attribute {name}: requested direction {entry['requested_direction']:.0%} "
                     f"(+ {entry['requested_direction_+']:.0%}, - {entry['requested_direction_-']:.0%}); "
                     f"side effects of +1 sd: {entry['side_effects_+_sd']}")
    return "\n".join(lines)


def main() -> None:
    import torch

    from symbolic.latent.space import PRETRAINED_DIR, LatentSpace

    parser = argparse.ArgumentParser(description="Independent evaluation of the latent space on held-out material.")
    parser.add_argument("--model-dir", type=Path, default=PRETRAINED_DIR)
    parser.add_argument("--pop909", type=Path, default=None, help="POP909 folder (default ../shared/data/POP909)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=40, help="interpolation pairs")
    parser.add_argument("--attribute-clips", type=int, default=40, help="clips per material for attribute shifts")
    parser.add_argument("--skip-16", action="store_true", help="leave out the 16-bar excerpts")
    parser.add_argument("--max-excerpts", type=int, default=None, help="at most this many excerpts per set")
    parser.add_argument("--parts", default="reconstruction,interpolation,vary,attributes",
                        help="which measures to run (comma-separated)")
    parser.add_argument("--output", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.monotonic()
    space = LatentSpace.from_pretrained(args.model_dir)
    material = {**pop_excerpts(args.pop909, args.seed), **folk_excerpts(args.seed)}
    if args.max_excerpts is not None:
        material = {key: items[:args.max_excerpts] for key, items in material.items()}
    order = [("pop melody", 2), ("pop melody", 4), ("pop melody", 16), ("pop bass", 2), ("pop bass", 4),
             ("pop bass", 16), ("folk", 2), ("folk", 4)]
    parts = set(args.parts.split(","))
    report: dict = {"model_dir": str(args.model_dir), "reconstruction": {}}
    for key in order:
        if key in material and not (args.skip_16 and key[1] == 16) and "reconstruction" in parts:
            report["reconstruction"][f"{key[0]} x{key[1]}"] = reconstruction(space, material[key])
    if "interpolation" in parts:
        report["interpolation"] = interpolation(space, material[("pop melody", 2)], args.pairs, args.seed)
    if "vary" in parts:
        report["vary"] = {kind: vary_repeats(space, material[(kind, 2)][:40]) for kind in ("pop melody", "folk")}
    if "attributes" in parts:
        clips = material[("pop melody", 2)][:args.attribute_clips] + material[("folk", 2)][:args.attribute_clips]
        report["attribute_shifts"] = attribute_shifts(space, clips)
    report["seconds"] = round(time.monotonic() - started, 1)
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"({report['seconds']} s)")


if __name__ == "__main__":
    main()
