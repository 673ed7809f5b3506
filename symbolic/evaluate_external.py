"""Control accuracy judged from outside: `python -m symbolic.evaluate_external [--limit N] [--json out.json]`.

A fixed grid of prompts (pop/rock ensembles, pads, synth leads, string quartet, jazz trio, folk,
chorale-like ensembles; 24 major/minor keys; several meters; half of them with a chord progression)
is generated with the shipped checkpoint (or --model). Every clip is judged on its MIDI bytes by tools
that are not the project's:
- music21 `analyze('key')` on the pitched tracks: key exact (tonic and mode);
- pretty_midi / mido: meter, tempo, bar count, programs, density bin and range bin (the bins of
  symbolic.attributes, measured on the file's notes), notes per bar per track, bars with a bass note;
- chords: music21's own chord-symbol parser gives root and third of each bar's chord; a beat follows
  the chord when both pitch classes sound during it (any pitched track).
The project's extractor (symbolic.attributes.extract) is reported beside it, with their disagreement.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from symbolic.attributes import (
    DENSITY_EDGES_ONSETS_PER_QUARTER,
    PITCH_CLASS_NAMES,
    RANGE_EDGES_OCTAVES,
    Attributes,
    Key,
    bin_index,
    density_level,
    intensity_to_level,
    range_level,
)

BASS_PROGRAMS = set(range(32, 40)) | {43, 58}


@dataclass(frozen=True)
class Ensemble:
    name: str
    programs: tuple[int, ...]
    time_signatures: tuple[tuple[int, int], ...]
    tempo_bpm: tuple[float, float]
    style: str | None = None


ENSEMBLES = (
    Ensemble("piano+bass+drums", (0, 33, -1), ((4, 4),), (90, 128)),
    Ensemble("rock band (distortion)", (30, 34, -1), ((4, 4),), (100, 150)),
    Ensemble("rock band (overdrive+clean)", (27, 29, 33, -1), ((4, 4),), (96, 140)),
    Ensemble("synth pop (saw lead)", (81, 38, -1), ((4, 4),), (100, 128)),
    Ensemble("pad+lead+synth bass+drums", (81, 89, 38, -1), ((4, 4),), (84, 124)),
    Ensemble("pads+piano+bass", (0, 32, 88), ((4, 4), (3, 4)), (66, 100)),
    Ensemble("string quartet", (40, 41, 42), ((4, 4), (3, 4)), (60, 110)),
    Ensemble("strings pad+piano", (0, 48), ((4, 4), (3, 4)), (60, 96)),
    Ensemble("jazz trio", (0, 32, -1), ((4, 4),), (96, 160)),
    Ensemble("jazz quartet (sax)", (0, 32, 65, -1), ((4, 4),), (100, 170)),
    Ensemble("electric piano soul", (4, 33, 48, -1), ((4, 4),), (72, 104)),
    Ensemble("acoustic guitar+voice lead", (25, 53), ((4, 4), (3, 4)), (70, 110)),
    Ensemble("folk fiddle+flute", (40, 73), ((6, 8), (4, 4), (3, 4)), (100, 180), "folk"),
    Ensemble("celtic band", (25, 40, 78, -1), ((6, 8), (4, 4)), (110, 180)),
    Ensemble("folk accordion+guitar+bass", (21, 24, 32), ((3, 4), (2, 4), (4, 4)), (96, 150)),
    Ensemble("brass trio", (56, 57, 58), ((4, 4), (2, 4)), (80, 120)),
    Ensemble("piano solo", (0,), ((4, 4), (3, 4)), (60, 120)),
    Ensemble("choir", (52,), ((4, 4), (3, 4)), (60, 90)),
)

# Progressions as Roman numerals (per bar), by mode; 8 bars = the 4-chord loop twice.
PROGRESSIONS = {
    "major": (("I", "V", "vi", "IV"), ("I", "vi", "IV", "V"), ("I", "IV", "V", "I"), ("vi", "IV", "I", "V"),
              ("I", "IV", "ii", "V")),
    "minor": (("i", "VI", "III", "VII"), ("i", "iv", "V", "i"), ("i", "VII", "VI", "V"), ("i", "iv", "VII", "III"),
              ("i", "VI", "iv", "V")),
}


@dataclass
class Prompt:
    ensemble: str
    attributes: Attributes
    chords: list[str] | None = None  # absolute chord symbols per bar (music21-readable)
    density_given: bool = False
    range_given: bool = False
    extra: dict = field(default_factory=dict)


def chord_symbols(key: Key, numerals: tuple[str, ...], bars: int) -> list[str]:
    """Absolute symbols ("Am", "F", "G") for Roman numerals in a key, via music21 (not the project)."""
    from music21 import key as m21key
    from music21 import roman

    tonic = PITCH_CLASS_NAMES[key.tonic_pitch_class].replace("b", "-")
    m21 = m21key.Key(tonic if key.mode == "major" else tonic.lower())
    symbols = []
    for index in range(bars):
        numeral = roman.RomanNumeral(numerals[index % len(numerals)], m21)
        root = numeral.root().name.replace("-", "b")
        symbols.append(root + ("m" if numeral.quality == "minor" else ""))
    return symbols


def build_grid() -> list[Prompt]:
    """The fixed grid: 9 prompts per ensemble (162); keys, meters, tempi, bars, density, range and
    chords vary along deterministic cycles, so every ensemble meets several of each."""
    keys = [Key(tonic, mode) for mode in ("major", "minor") for tonic in range(12)]
    prompts: list[Prompt] = []
    index = 0
    for ensemble_index, ensemble in enumerate(ENSEMBLES):
        for variant in range(9):
            key = keys[(index * 7 + ensemble_index) % len(keys)]
            time_signature = ensemble.time_signatures[variant % len(ensemble.time_signatures)]
            low, high = ensemble.tempo_bpm
            tempo_bpm = float(round(low + (high - low) * ((variant * 37) % 9) / 8.0))
            bars = (8, 8, 4, 8, 16, 8, 8, 4, 8)[variant]
            attributes = Attributes(instruments=list(ensemble.programs), key=key, time_signature=time_signature,
                                    tempo_bpm=tempo_bpm, bars=bars, style=ensemble.style)
            prompt = Prompt(ensemble.name, attributes)
            if variant % 3 == 1:
                attributes.rhythm_intensity = (0.25, 0.5, 0.75, 1.0)[(index // 3) % 4]
                prompt.density_given = True
            if variant % 3 == 2:
                pitched = [p for p in ensemble.programs if p >= 0]
                wide = len(pitched) >= 2 and any(p in BASS_PROGRAMS or p in (0, 42, 48, 88) for p in pitched)
                attributes.pitch_range_octaves = (3.2, 3.7, 2.7)[(index // 3) % 3] if wide else (1.3, 1.8, 2.2)[(index // 3) % 3]
                prompt.range_given = True
            if variant in (0, 2, 3, 5, 7):
                numerals = PROGRESSIONS[key.mode][(index + ensemble_index) % len(PROGRESSIONS[key.mode])]
                prompt.chords = chord_symbols(key, numerals, bars)
            prompts.append(prompt)
            index += 1
    return prompts


# A second grid, held out from the work on the first: ensembles named in words (parsed by the project's
# text parser as a user's prompt would be), other chord loops, other keys, bar counts, densities and ranges.
HELDOUT_ENSEMBLES = (
    "a rock band", "a jazz trio", "a string quartet", "synth pop with a saw lead", "a big band",
    "reggae with organ, guitar, bass and drums", "lofi hip hop with electric piano, bass and drums",
    "a slow waltz for piano and cello", "a funk groove with clavinet, slap bass and drums",
    "a ballad for nylon guitar and flute", "a chamber piece for oboe, clarinet and bassoon",
    "a hymn for church organ and choir", "a duet for marimba and vibraphone",
    "a country band with banjo, fiddle, acoustic guitar and bass", "a march for brass band",
    "a tango for accordion, violin and double bass",
)
HELDOUT_PROGRESSIONS = {
    "major": (("I", "IV", "vi", "V"), ("I", "iii", "IV", "V"), ("ii", "V", "I", "vi"), ("IV", "I", "V", "vi"),
              ("I", "vi", "ii", "V")),
    "minor": (("i", "iv", "VI", "V"), ("i", "VII", "VI", "VII"), ("i", "III", "VII", "iv"), ("iv", "i", "V", "i"),
              ("i", "VI", "VII", "i")),
}


def build_heldout_grid() -> list[Prompt]:
    """160 prompts: 10 per worded ensemble; keys, bars, tempi, densities, ranges and chord loops on cycles
    of their own (none of the first grid's loops)."""
    from symbolic.text import parse_text

    keys = [Key(tonic, mode) for mode in ("major", "minor") for tonic in range(12)]
    prompts: list[Prompt] = []
    index = 0
    for ensemble_index, words in enumerate(HELDOUT_ENSEMBLES):
        parsed = parse_text(words).attributes
        pitched = [p for p in parsed.instruments if p >= 0]
        wide = len(pitched) >= 2 and any(p in BASS_PROGRAMS or p in (0, 19, 42, 48, 88) for p in pitched)
        for variant in range(10):
            key = keys[(index * 5 + 3 * ensemble_index + 1) % len(keys)]
            tempo_bpm = parsed.tempo_bpm or float(70 + (index * 23) % 81)
            bars = (8, 6, 12, 8, 4, 16, 8, 6, 8, 12)[variant]
            attributes = Attributes(instruments=list(parsed.instruments), key=key,
                                    time_signature=parsed.time_signature or ((4, 4), (3, 4), (4, 4), (6, 8))[variant % 4],
                                    tempo_bpm=tempo_bpm, bars=bars, style=parsed.style)
            prompt = Prompt(words, attributes)
            if variant % 4 == 1:
                attributes.rhythm_intensity = (0.3, 0.55, 0.8, 0.95, 0.1)[(index // 4) % 5]
                prompt.density_given = True
            if variant % 4 == 3:
                attributes.pitch_range_octaves = ((2.8, 3.3, 3.8) if wide else (1.2, 1.7, 2.4))[(index // 4) % 3]
                prompt.range_given = True
            if variant in (0, 2, 5, 7, 8):
                numerals = HELDOUT_PROGRESSIONS[key.mode][(index + ensemble_index) % 5]
                prompt.chords = chord_symbols(key, numerals, bars)
            prompts.append(prompt)
            index += 1
    return prompts


# ---- judging from the MIDI bytes ------------------------------------------------------------------
@dataclass
class Judged:
    bars: int
    time_signature: tuple[int, int]
    tempo_bpm: float
    programs: list[int]  # -1 = drums
    key: Key | None
    density_level: int
    range_level: int | None
    bars_with_notes: dict[int, float]  # program -> fraction of bars with an onset
    notes_per_bar: dict[int, float]
    chord_beats: tuple[int, int] = (0, 0)  # followed, judged


def _music21_key(pm) -> Key | None:  # type: ignore[no-untyped-def]
    """music21's key for the pitched tracks (drums removed: music21 would read them as pitches)."""
    import pretty_midi
    from music21 import converter

    pitched = pretty_midi.PrettyMIDI(resolution=pm.resolution, initial_tempo=pm.get_tempo_changes()[1][0])
    pitched.instruments = [instrument for instrument in pm.instruments if not instrument.is_drum and instrument.notes]
    if not pitched.instruments:
        return None
    handle, path = tempfile.mkstemp(suffix=".mid")
    os.close(handle)
    try:
        pitched.write(path)
        found = converter.parse(path).analyze("key")
    finally:
        os.unlink(path)
    return Key(found.tonic.pitchClass, found.mode)


def _file_ticks(midi: bytes) -> tuple[int, int]:
    """(length in ticks as the file's tracks end, ticks per quarter), read with mido."""
    import mido

    file = mido.MidiFile(file=io.BytesIO(midi))
    return max(sum(message.time for message in track) for track in file.tracks), file.ticks_per_beat


def chord_tones(symbol: str) -> tuple[int, int] | None:
    """(root, third) pitch classes of a chord symbol by music21's harmony parser."""
    from music21 import harmony

    if symbol in ("N", "", "NC"):
        return None
    chord = harmony.ChordSymbol(symbol.replace("b", "-") if len(symbol) > 1 and symbol[1] == "b" else symbol)
    third = chord.third
    return chord.root().pitchClass, (third.pitchClass if third is not None else chord.root().pitchClass)


def beat_quarters(time_signature: tuple[int, int]) -> float:
    numerator, denominator = time_signature
    if denominator == 8 and numerator % 3 == 0:
        return 1.5
    return 4.0 / denominator


def judge(midi: bytes, chords: list[str] | None) -> Judged:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    tempo_bpm = float(pm.get_tempo_changes()[1][0])
    signature = pm.time_signature_changes[0] if pm.time_signature_changes else None
    time_signature = (signature.numerator, signature.denominator) if signature else (4, 4)
    quarter_s = 60.0 / tempo_bpm
    bar_q = time_signature[0] * 4.0 / time_signature[1]
    ticks, tpq = _file_ticks(midi)
    bars = max(1, int(np.ceil((ticks - tpq / 8) / (bar_q * tpq))))  # end-of-track may trail by a tick
    programs = []
    bars_with_notes: dict[int, float] = {}
    notes_per_bar: dict[int, float] = {}
    pitched_notes = []
    for instrument in pm.instruments:
        if not instrument.notes:
            continue
        program = -1 if instrument.is_drum else instrument.program
        programs.append(program)
        onset_bars = {int(note.start / quarter_s / bar_q + 1e-6) for note in instrument.notes}
        bars_with_notes[program] = len([b for b in onset_bars if b < bars]) / bars
        notes_per_bar[program] = len(instrument.notes) / bars
        if not instrument.is_drum:
            pitched_notes.extend(instrument.notes)
    density = 0
    range_bin = None
    if pitched_notes:
        onsets = {int(round(note.start / quarter_s * 4)) for note in pitched_notes}
        density = bin_index(len(onsets) / (bars * bar_q), DENSITY_EDGES_ONSETS_PER_QUARTER)
        pitches = [note.pitch for note in pitched_notes]
        range_bin = bin_index((max(pitches) - min(pitches)) / 12.0, RANGE_EDGES_OCTAVES)
    followed = judged = 0
    if chords:
        beat_q = beat_quarters(time_signature)
        starts = np.array([note.start / quarter_s for note in pitched_notes])
        ends = np.array([note.end / quarter_s for note in pitched_notes])
        pcs = np.array([note.pitch % 12 for note in pitched_notes])
        for bar, symbol in enumerate(chords[:bars]):
            tones = chord_tones(symbol)
            if tones is None:
                continue
            for beat in range(int(round(bar_q / beat_q))):
                low = bar * bar_q + beat * beat_q
                high = low + beat_q
                sounding = set(pcs[(starts < high - 1e-6) & (ends > low + 1e-6)].tolist()) if len(pcs) else set()
                judged += 1
                followed += int(tones[0] in sounding and tones[1] in sounding)
    return Judged(bars, time_signature, tempo_bpm, sorted(programs, key=lambda p: (p == -1, p)), _music21_key(pm),
                  density, range_bin, bars_with_notes, notes_per_bar, (followed, judged))


def key_relation(wanted: Key, found: Key | None) -> str:
    """How a key heard relates to the one asked for (for the per-miss breakdown)."""
    if found is None:
        return "no key"
    if found == wanted:
        return "exact"
    interval = (found.tonic_pitch_class - wanted.tonic_pitch_class) % 12
    if found.mode == wanted.mode:
        return {7: "dominant", 5: "subdominant"}.get(interval, f"same mode, tonic +{interval}")
    if wanted.mode == "major" and interval == 9 or wanted.mode == "minor" and interval == 3:
        return "relative " + found.mode
    if interval == 0:
        return "parallel " + found.mode
    return f"{found.mode}, tonic +{interval}"


# ---- the run ---------------------------------------------------------------------------------------
def generate_one(composer, prompt: Prompt, seed: int):  # type: ignore[no-untyped-def]
    from symbolic.decoding import Sampling

    attributes = prompt.attributes
    if prompt.chords is not None and "chords" in Attributes.__dataclass_fields__:
        attributes = attributes.copy(chords=" ".join(prompt.chords))
    return composer.generate(attributes, Sampling(seed=seed))


def evaluate(composer, prompts: list[Prompt], seed: int) -> dict:  # type: ignore[no-untyped-def]
    rows = []
    latencies = []
    for index, prompt in enumerate(prompts):
        started = time.perf_counter()
        result = generate_one(composer, prompt, seed + index)
        latencies.append(time.perf_counter() - started)
        returned_chords = getattr(result, "chords", None)
        chords = prompt.chords or (list(returned_chords) if returned_chords else None)
        judged = judge(result.midi, chords)
        request = prompt.attributes
        measured = result.measured  # the project's own extractor
        wanted_density = (intensity_to_level(request.rhythm_intensity) if prompt.density_given
                          else result.requested.extra.get("density_level"))
        wanted_range = range_level(request.pitch_range_octaves) if prompt.range_given else result.requested.extra.get("range_level")
        project_density = density_level(measured.extra.get("onsets_per_quarter", 0.0))
        project_range = range_level(measured.pitch_range_octaves) if measured.pitch_range_octaves is not None else None
        pitched = [p for p in request.instruments if p >= 0]
        bass = [p for p in pitched if p in BASS_PROGRAMS]
        sparse = prompt.density_given and intensity_to_level(request.rhythm_intensity) == 0
        rows.append({
            "ensemble": prompt.ensemble,
            "hard": {
                "bars": judged.bars == request.bars,
                "time_signature": judged.time_signature == tuple(request.time_signature),
                "tempo": abs(judged.tempo_bpm - request.tempo_bpm) < 0.5,
                "instruments": judged.programs == sorted(request.instruments, key=lambda p: (p == -1, p)),
            },
            "key_external": judged.key == request.key,
            "key_project": measured.key == request.key,
            "key_found": str(judged.key),
            "key_relation": key_relation(request.key, judged.key),
            "key_mode": request.key.mode,
            "density_given": prompt.density_given,
            "density_external": judged.density_level == wanted_density,
            "density_project": project_density == wanted_density,
            "range_given": prompt.range_given,
            "range_external": judged.range_level == wanted_range,
            "range_project": project_range == wanted_range,
            "tracks_full": None if sparse else [judged.bars_with_notes.get(p, 0.0) >= 0.75 for p in pitched],
            "bar_fill": None if sparse else [judged.bars_with_notes.get(p, 0.0) for p in pitched],
            "bass_bars": [judged.bars_with_notes.get(p, 0.0) for p in bass],
            "notes_per_bar": {str(p): round(v, 2) for p, v in judged.notes_per_bar.items()},
            "chords_given": prompt.chords is not None,
            "chord_beats": judged.chord_beats,
        })
    return summarise(rows, latencies)


def _rate(values: list) -> float | None:
    values = [float(v) for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarise(rows: list[dict], latencies: list[float]) -> dict:
    hard = {name: _rate([row["hard"][name] for row in rows]) for name in rows[0]["hard"]}
    with_density = [row for row in rows if row["density_given"]]
    with_range = [row for row in rows if row["range_given"]]

    def beats(selected: list[dict]) -> float | None:
        followed = sum(row["chord_beats"][0] for row in selected)
        judged = sum(row["chord_beats"][1] for row in selected)
        return followed / judged if judged else None

    summary = {
        "prompts": len(rows),
        "hard": hard,
        "hard_all": _rate([all(row["hard"].values()) for row in rows]),
        "key_external": _rate([row["key_external"] for row in rows]),
        "key_project": _rate([row["key_project"] for row in rows]),
        "key_disagreement": _rate([row["key_external"] != row["key_project"] for row in rows]),
        "density_external_given": _rate([row["density_external"] for row in with_density]),
        "density_project_given": _rate([row["density_project"] for row in with_density]),
        "density_external_all": _rate([row["density_external"] for row in rows]),
        "density_disagreement": _rate([row["density_external"] != row["density_project"] for row in rows]),
        "range_external_given": _rate([row["range_external"] for row in with_range]),
        "range_project_given": _rate([row["range_project"] for row in with_range]),
        "range_external_all": _rate([row["range_external"] for row in rows]),
        "range_disagreement": _rate([row["range_external"] != row["range_project"] for row in rows]),
        "tracks_with_notes_in_75pct_bars": _rate([v for row in rows for v in (row["tracks_full"] or [])]),
        "track_bars_with_notes": _rate([v for row in rows for v in (row["bar_fill"] or [])]),
        "tracks_at_most_one_bar": _rate([v <= 1.0 / 8 for row in rows for v in (row["bar_fill"] or [])]),
        "bass_bars_with_a_note": _rate([v for row in rows for v in row["bass_bars"]]),
        "chord_beats_followed_given": beats([row for row in rows if row["chords_given"]]),
        "chord_beats_followed_sampled": beats([row for row in rows if not row["chords_given"]]),
        "key_external_by": {
            f"{mode}, {'given chords' if given else 'sampled chords'}": _rate(
                [row["key_external"] for row in rows if row["key_mode"] == mode and row["chords_given"] == given])
            for mode in ("major", "minor") for given in (False, True)},
        "key_misses": dict(Counter(
            f"{row['key_relation']} ({row['key_mode']}, {'given' if row['chords_given'] else 'sampled'} chords)"
            for row in rows if not row["key_external"]).most_common()),
        "latency_s_median": float(np.median(latencies)),
        "per_ensemble": {},
    }
    for name in dict.fromkeys(row["ensemble"] for row in rows):
        selected = [row for row in rows if row["ensemble"] == name]
        summary["per_ensemble"][name] = {
            "n": len(selected),
            "key": _rate([row["key_external"] for row in selected]),
            "tracks_full": _rate([v for row in selected for v in (row["tracks_full"] or [])]),
            "bass": _rate([v for row in selected for v in row["bass_bars"]]),
            "chords": beats(selected),
        }
    summary["rows"] = rows
    return summary


def _pct(value: float | None) -> str:
    return "   n/a" if value is None else f"{value * 100:5.1f}%"


def print_summary(summary: dict) -> None:
    print(f"\n{summary['prompts']} prompts; median generation {summary['latency_s_median'] * 1000:.0f} ms")
    print(f"  {'measure':<44} {'external':>9} {'project':>9} {'disagree':>9}")
    for name, value in summary["hard"].items():
        print(f"  {'hard: ' + name:<44} {_pct(value):>9}")
    print(f"  {'hard: all four at once':<44} {_pct(summary['hard_all']):>9}")
    print(f"  {'key exact (tonic+mode)':<44} {_pct(summary['key_external']):>9} {_pct(summary['key_project']):>9} "
          f"{_pct(summary['key_disagreement']):>9}")
    print(f"  {'density bin (prompts that give it)':<44} {_pct(summary['density_external_given']):>9} "
          f"{_pct(summary['density_project_given']):>9} {_pct(summary['density_disagreement']):>9}")
    print(f"  {'density bin (all, vs returned level)':<44} {_pct(summary['density_external_all']):>9}")
    print(f"  {'range bin (prompts that give it)':<44} {_pct(summary['range_external_given']):>9} "
          f"{_pct(summary['range_project_given']):>9} {_pct(summary['range_disagreement']):>9}")
    print(f"  {'range bin (all, vs returned level)':<44} {_pct(summary['range_external_all']):>9}")
    print(f"  {'pitched tracks with notes in >=75% of bars':<44} {_pct(summary['tracks_with_notes_in_75pct_bars']):>9}")
    print(f"  {'pitched track-bars with a note':<44} {_pct(summary['track_bars_with_notes']):>9}")
    print(f"  {'pitched tracks with notes in <=1/8 of bars':<44} {_pct(summary['tracks_at_most_one_bar']):>9}")
    print(f"  {'bass: bars with >=1 bass note':<44} {_pct(summary['bass_bars_with_a_note']):>9}")
    print(f"  {'chord beats followed (given chords)':<44} {_pct(summary['chord_beats_followed_given']):>9}")
    print(f"  {'chord beats followed (returned chords)':<44} {_pct(summary['chord_beats_followed_sampled']):>9}")
    for name, value in summary["key_external_by"].items():
        print(f"  {'key exact, ' + name:<44} {_pct(value):>9}")
    print("  key misses, what music21 heard instead:")
    for name, count in summary["key_misses"].items():
        print(f"    {count:3d}  {name}")
    print(f"\n  {'ensemble':<30} {'n':>3} {'key':>7} {'tracks':>7} {'bass':>7} {'chords':>7}")
    for name, row in summary["per_ensemble"].items():
        print(f"  {name:<30} {row['n']:>3} {_pct(row['key']):>7} {_pct(row['tracks_full']):>7} "
              f"{_pct(row['bass']):>7} {_pct(row['chords']):>7}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path(__file__).parent / "pretrained" / "default")
    parser.add_argument("--limit", type=int, default=0, help="judge every k-th prompt so about N are run (0 = all)")
    parser.add_argument("--grid", choices=("main", "heldout"), default="main",
                        help="main: the 162-prompt grid; heldout: 160 worded prompts kept apart from tuning")
    parser.add_argument("--seed", type=int, default=None, help="first seed (default 1 main, 1001 held out)")
    parser.add_argument("--json", type=Path, help="also write the summary (and every row) here")
    args = parser.parse_args(argv)
    import torch

    from symbolic.composer import Composer

    torch.set_num_threads(1)
    composer = Composer.from_pretrained(args.model)
    prompts = build_grid() if args.grid == "main" else build_heldout_grid()
    seed = args.seed if args.seed is not None else (1 if args.grid == "main" else 1001)
    if args.limit and args.limit < len(prompts):
        stride = len(prompts) / args.limit
        prompts = [prompts[int(i * stride)] for i in range(args.limit)]
    print(f"model {args.model}: {args.grid} grid, {len(prompts)} prompts")
    summary = evaluate(composer, prompts, seed)
    print_summary(summary)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()
