"""A drum-groove library authored by this project's own code (no third-party drum data exists on PyPI).

Every groove here is *generated data*: hand-written patterns on a step grid, one or more per
(style, time signature), varied by code at generation time — fills at phrase ends, a crash after a
fill, ghost notes, open hi-hats, and humanised velocities and (optionally) micro-timing. The training
set mixes these grooves into a fraction of the folk tunes as a GM drum track aligned to the bars.

`python -m symbolic.drums --out DIR` writes the whole library as MIDI files to look at or listen to.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symbolic.attributes import DRUM_PROGRAM, NoteTable, bar_quarters

# General MIDI percussion keys.
KICK, SIDE_STICK, SNARE, CLAP, FLOOR_TOM, CLOSED_HAT, LOW_TOM, PEDAL_HAT, MID_TOM, OPEN_HAT = (
    36, 37, 38, 39, 41, 42, 45, 44, 47, 46)
HIGH_TOM, CRASH, RIDE, TAMBOURINE, SHAKER = 50, 49, 51, 54, 70

_VELOCITY = {"X": 112, "x": 90, "o": 45}


@dataclass(frozen=True)
class Groove:
    """One bar of pattern: drum key -> step string ('X' accent, 'x' hit, 'o' ghost, '.' rest)."""

    style: str
    time_signature: tuple[int, int]
    steps: dict[int, str]


def steps_per_bar(time_signature: tuple[int, int]) -> int:
    """Sixteenth-note grid steps in one bar."""
    return int(round(bar_quarters(time_signature) * 4))


def _g(style: str, ts: tuple[int, int], **lines: str) -> Groove:
    names = {"kick": KICK, "snare": SNARE, "hat": CLOSED_HAT, "open": OPEN_HAT, "ride": RIDE,
             "stick": SIDE_STICK, "tom": LOW_TOM, "floor": FLOOR_TOM, "tamb": TAMBOURINE,
             "shaker": SHAKER, "clap": CLAP, "pedal": PEDAL_HAT}
    steps = {names[name]: line.replace(" ", "") for name, line in lines.items()}
    for line in steps.values():
        assert len(line) == steps_per_bar(ts), (style, ts, line)
    return Groove(style, ts, steps)


GROOVES: tuple[Groove, ...] = (
    # 4/4
    _g("rock", (4, 4), kick="X... .... x.x. ....", snare=".... X... .... X...", hat="x.x. x.x. x.x. x.x."),
    _g("pop", (4, 4), kick="X... ..x. X... ....", snare=".... X... .... X..o", hat="xxxx xxxx xxxx xxxx"),
    _g("ballad", (4, 4), kick="X... .... X... ....", stick=".... x... .... x...", hat="x.x. x.x. x.x. x.x."),
    _g("folk", (4, 4), kick="X... .... X... ....", floor="..x. x.x. ..x. x.x.", tamb=".... x... .... x..."),
    _g("reel", (4, 4), kick="X... x... X... x...", snare="..o. x.o. ..o. x.o.", hat="x.x. x.x. x.x. x.x."),
    _g("shuffle", (4, 4), kick="X... .... X... ....", snare=".... X... .... X...", ride="x..x x..x x..x x..x"),
    _g("march", (4, 4), kick="X... .... X... ....", snare="x.xx x... x.xx x.x."),
    # 2/2 (cut time)
    _g("reel", (2, 2), kick="X... x... X... x...", snare="..o. x.o. ..o. x.o.", hat="x.x. x.x. x.x. x.x."),
    _g("rock", (2, 2), kick="X... .... x.x. ....", snare=".... X... .... X...", hat="x.x. x.x. x.x. x.x."),
    # 2/4
    _g("polka", (2, 4), kick="X... x...", snare="..x. ..x.", hat="x.x. x.x."),
    _g("march", (2, 4), kick="X... x...", snare="x.xx x.x."),
    _g("folk", (2, 4), kick="X... ....", floor="..x. x.x.", tamb=".... x..."),
    # 3/4
    _g("waltz", (3, 4), kick="X... .... ....", snare=".... x... x...", hat="x... x... x..."),
    _g("ballad", (3, 4), kick="X... .... ....", stick=".... x... x...", ride="x.x. x.x. x.x."),
    _g("folk", (3, 4), kick="X... .... ....", floor=".... x... x...", tamb="..x. ..x. ..x."),
    # 6/8 (one step = a sixteenth; an eighth is two steps)
    _g("jig", (6, 8), kick="X..... x.....", floor="..x.x. ..x.x.", tamb="....x. ....x."),
    _g("rock", (6, 8), kick="X..... ......", snare="...... X.....", hat="x.x.x. x.x.x."),
    _g("folk", (6, 8), kick="X..... x.....", floor="..x.x...x.x.", shaker="x.x.x.x.x.x."),
    # 9/8
    _g("slip jig", (9, 8), kick="X..... x..... x.....", floor="..x.x...x.x...x.x.", tamb="....x.....x.....x."),
    # 12/8
    _g("shuffle", (12, 8), kick="X..... ...... x..... ......", snare="...... X..... ...... X.....",
       ride="x.x.x. x.x.x. x.x.x. x.x.x."),
    _g("jig", (12, 8), kick="X..... x..... X..... x.....", floor="..x.x. ..x.x. ..x.x. ..x.x."),
    # 3/8
    _g("folk", (3, 8), kick="X.....", floor="..x.x."),
    # 5/4
    _g("rock", (5, 4), kick="X... .... x... .... ....", snare=".... X... .... X... X...",
       hat="x.x. x.x. x.x. x.x. x.x."),
    # 6/4
    _g("folk", (6, 4), kick="X... .... .... X... .... ....", floor=".... x... x... .... x... x..."),
    # 3/2
    _g("ballad", (3, 2), kick="X....... ........ ........", stick="........ x....... x.......",
       hat="x...x... x...x... x...x..."),
)

# Which groove style suits a tune style.
STYLE_TO_GROOVE = {
    "jig": "jig", "slide": "jig", "slip jig": "slip jig", "reel": "reel", "hornpipe": "shuffle",
    "strathspey": "march", "polka": "polka", "march": "march", "waltz": "waltz", "air": "ballad",
    "folk": "folk", "chorale": "ballad",
}


def grooves_for(time_signature: tuple[int, int], style: str | None = None) -> list[Groove]:
    """Grooves in this meter, the style's own first when it has one."""
    fitting = [g for g in GROOVES if g.time_signature == tuple(time_signature)]
    if style is not None:
        wanted = STYLE_TO_GROOVE.get(style, style)
        preferred = [g for g in fitting if g.style == wanted]
        if preferred:
            return preferred
    return fitting


def _fill(steps: int, rng: random.Random) -> dict[int, str]:
    """A fill over the last half bar: a run down the toms or a snare roll."""
    half = steps // 2
    kind = rng.choice(("toms", "snare", "sparse"))
    lines = {SNARE: ["."] * steps, HIGH_TOM: ["."] * steps, MID_TOM: ["."] * steps, FLOOR_TOM: ["."] * steps}
    stride = 1 if kind == "snare" else 2
    for index, step in enumerate(range(steps - half, steps, stride)):
        if kind == "toms":
            drum = (HIGH_TOM, MID_TOM, FLOOR_TOM)[min(2, index * 3 // max(1, half // 2))]
        elif kind == "snare":
            drum = SNARE
        else:
            drum = SNARE if index % 2 == 0 else FLOOR_TOM
        lines[drum][step] = "X" if index == 0 else "x"
    return {drum: "".join(line) for drum, line in lines.items()}


def render_groove(groove: Groove, bars: int, tempo_bpm: float, seed: int, phrase_bars: int = 4,
                  humanise_timing: bool = False) -> NoteTable:
    """Plays a groove for `bars` bars with fills, crashes, ghost notes and humanised velocities."""
    rng = random.Random(seed)
    steps = steps_per_bar(groove.time_signature)
    step_q = 0.25
    onsets, pitches, velocities = [], [], []
    seconds_per_q = 60.0 / tempo_bpm
    fill_every = phrase_bars if rng.random() < 0.8 else phrase_bars * 2
    for bar in range(bars):
        lines = dict(groove.steps)
        is_fill = (bar + 1) % fill_every == 0 and bar > 0
        if is_fill:
            fill = _fill(steps, rng)
            half = steps // 2
            lines = {drum: line[: steps - half] + "." * half for drum, line in lines.items()}
            lines[KICK] = groove.steps.get(KICK, "." * steps)[: steps - half] + "." * (half - 1) + "x"
            for drum, line in fill.items():
                existing = lines.get(drum, "." * steps)
                lines[drum] = "".join(b if b != "." else a for a, b in zip(existing, line))
        for drum, line in lines.items():
            for step, char in enumerate(line):
                if char == "." or (char == "o" and rng.random() < 0.3):
                    continue
                if drum in (CLOSED_HAT, SHAKER) and rng.random() < 0.04:
                    drum_played = OPEN_HAT if drum == CLOSED_HAT else drum
                else:
                    drum_played = drum
                onset = bar * steps * step_q + step * step_q
                if humanise_timing:
                    onset = max(0.0, onset + rng.gauss(0.0, 0.008) / seconds_per_q)
                velocity = int(np.clip(_VELOCITY[char] + rng.gauss(0, 7), 20, 127))
                onsets.append(onset)
                pitches.append(drum_played)
                velocities.append(velocity)
        if bar > 0 and bar % fill_every == 0 and rng.random() < 0.7:
            onsets.append(bar * steps * step_q)
            pitches.append(CRASH)
            velocities.append(110)
        # an occasional extra ghost snare keeps repeated bars from being identical
        if SNARE in groove.steps and rng.random() < 0.25 and not is_fill:
            step = rng.randrange(steps)
            onsets.append(bar * steps * step_q + step * step_q)
            pitches.append(SNARE)
            velocities.append(40)
    order = np.argsort(np.array(onsets), kind="stable")
    count = len(onsets)
    return NoteTable(
        onset_q=np.array(onsets, dtype=float)[order],
        duration_q=np.full(count, 0.25),
        pitch=np.array(pitches, dtype=int)[order],
        program=np.full(count, DRUM_PROGRAM, dtype=int),
        velocity=np.array(velocities, dtype=int)[order],
    )


def main(argv: list[str] | None = None) -> None:
    from symbolic.midi_io import table_to_midi

    parser = argparse.ArgumentParser(description="Write the generated drum-groove library as MIDI files.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--bars", type=int, default=8)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for index, groove in enumerate(GROOVES):
        numerator, denominator = groove.time_signature
        table = render_groove(groove, args.bars, 110.0, seed=index, humanise_timing=True)
        path = args.out / f"{groove.style.replace(' ', '_')}_{numerator}-{denominator}_{index}.mid"
        path.write_bytes(table_to_midi(table, groove.time_signature, 110.0))
        print(path)


if __name__ == "__main__":
    main()
