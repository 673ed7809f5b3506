"""Instrument names musicians use, mapped to General MIDI programs (-1 = drum kit)."""

from __future__ import annotations

import re

from ostinato.errors import InvalidInput
from symbolic.attributes import DRUM_PROGRAM

GM_PROGRAM_NAMES = (
    "acoustic grand piano", "bright acoustic piano", "electric grand piano", "honky-tonk piano",
    "electric piano 1", "electric piano 2", "harpsichord", "clavinet", "celesta", "glockenspiel",
    "music box", "vibraphone", "marimba", "xylophone", "tubular bells", "dulcimer", "drawbar organ",
    "percussive organ", "rock organ", "church organ", "reed organ", "accordion", "harmonica",
    "tango accordion", "acoustic guitar (nylon)", "acoustic guitar (steel)", "electric guitar (jazz)",
    "electric guitar (clean)", "electric guitar (muted)", "overdriven guitar", "distortion guitar",
    "guitar harmonics", "acoustic bass", "electric bass (finger)", "electric bass (pick)",
    "fretless bass", "slap bass 1", "slap bass 2", "synth bass 1", "synth bass 2", "violin", "viola",
    "cello", "contrabass", "tremolo strings", "pizzicato strings", "orchestral harp", "timpani",
    "string ensemble 1", "string ensemble 2", "synth strings 1", "synth strings 2", "choir aahs",
    "voice oohs", "synth voice", "orchestra hit", "trumpet", "trombone", "tuba", "muted trumpet",
    "french horn", "brass section", "synth brass 1", "synth brass 2", "soprano sax", "alto sax",
    "tenor sax", "baritone sax", "oboe", "english horn", "bassoon", "clarinet", "piccolo", "flute",
    "recorder", "pan flute", "blown bottle", "shakuhachi", "whistle", "ocarina", "lead 1 (square)",
    "lead 2 (sawtooth)", "lead 3 (calliope)", "lead 4 (chiff)", "lead 5 (charang)", "lead 6 (voice)",
    "lead 7 (fifths)", "lead 8 (bass + lead)", "pad 1 (new age)", "pad 2 (warm)", "pad 3 (polysynth)",
    "pad 4 (choir)", "pad 5 (bowed)", "pad 6 (metallic)", "pad 7 (halo)", "pad 8 (sweep)",
    "fx 1 (rain)", "fx 2 (soundtrack)", "fx 3 (crystal)", "fx 4 (atmosphere)", "fx 5 (brightness)",
    "fx 6 (goblins)", "fx 7 (echoes)", "fx 8 (sci-fi)", "sitar", "banjo", "shamisen", "koto",
    "kalimba", "bagpipe", "fiddle", "shanai", "tinkle bell", "agogo", "steel drums", "woodblock",
    "taiko drum", "melodic tom", "synth drum", "reverse cymbal", "guitar fret noise", "breath noise",
    "seashore", "bird tweet", "telephone ring", "helicopter", "applause", "gunshot",
)

# Everyday names (and plurals people type) -> program. Longer names are matched first by the text parser.
ALIASES: dict[str, int] = {
    "piano": 0, "grand piano": 0, "keys": 0, "electric piano": 4, "rhodes": 4, "harpsichord": 6,
    "organ": 19, "church organ": 19, "hammond": 16, "hammond organ": 16, "accordion": 21,
    "concertina": 21, "melodeon": 21, "harmonica": 22, "guitar": 24, "nylon guitar": 24,
    "classical guitar": 24, "acoustic guitar": 25, "steel guitar": 25, "mandolin": 25, "bouzouki": 25,
    "electric guitar": 27, "jazz guitar": 26, "bass": 32, "double bass": 32, "upright bass": 32,
    "bass guitar": 33, "electric bass": 33, "fretless bass": 35, "synth bass": 38, "violin": 40,
    "fiddle": 40, "viola": 41, "cello": 42, "contrabass": 43, "strings": 48, "string ensemble": 48,
    "string section": 48, "harp": 46, "timpani": 47, "choir": 52, "voices": 52, "voice": 53,
    "trumpet": 56, "trombone": 57, "tuba": 58, "horn": 60, "french horn": 60, "brass": 61,
    "saxophone": 65, "sax": 65, "alto sax": 65, "tenor sax": 66, "oboe": 68, "english horn": 69,
    "bassoon": 70, "clarinet": 71, "piccolo": 72, "flute": 73, "recorder": 74, "pan flute": 75,
    "tin whistle": 78, "whistle": 78, "penny whistle": 78, "low whistle": 78, "ocarina": 79,
    "synth lead": 80, "lead synth": 81, "pad": 89, "synth pad": 89, "banjo": 105, "sitar": 104,
    "bagpipe": 109, "bagpipes": 109, "pipes": 109, "uilleann pipes": 109, "vibraphone": 11,
    "marimba": 12, "xylophone": 13, "glockenspiel": 9, "celesta": 8, "dulcimer": 15,
    "hammered dulcimer": 15, "kalimba": 108, "koto": 107,
    "drums": DRUM_PROGRAM, "drum kit": DRUM_PROGRAM, "drum": DRUM_PROGRAM, "percussion": DRUM_PROGRAM,
    "bodhran": DRUM_PROGRAM, "kit": DRUM_PROGRAM, "beat": DRUM_PROGRAM, "groove": DRUM_PROGRAM,
}
for _program, _name in enumerate(GM_PROGRAM_NAMES):
    ALIASES.setdefault(_name, _program)
_PLURALS = {name + "s": program for name, program in ALIASES.items() if not name.endswith("s")}
for _name, _program in _PLURALS.items():
    ALIASES.setdefault(_name, _program)


def normalise_name(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip().lower().replace("_", " ").replace("-", " "))


def program_for_name(name: str) -> int:
    """GM program for an instrument name; raises InvalidInput for a name we do not know."""
    key = normalise_name(name)
    if key in ALIASES:
        return ALIASES[key]
    hyphenated = name.strip().lower()
    if hyphenated in ALIASES:
        return ALIASES[hyphenated]
    if key.isdigit() and 0 <= int(key) <= 127:
        return int(key)
    raise InvalidInput(
        f"unknown instrument {name!r}: use a General MIDI program number (0-127), 'drums', or a name "
        f"such as piano, fiddle, flute, tin whistle, accordion, acoustic bass, strings, choir"
    )


def program_name(program: int) -> str:
    if program == DRUM_PROGRAM:
        return "drums"
    return GM_PROGRAM_NAMES[program]


def role_of(program: int) -> str:
    """The role a program usually plays: melody, harmony, bass or drums."""
    if program == DRUM_PROGRAM:
        return "drums"
    if 32 <= program <= 39 or program in (43, 58, 70):
        return "bass"
    if program in (0, 1, 2, 4, 5, 6, 16, 17, 18, 19, 20, 24, 25, 26, 27, 46, 48, 49, 52, 88, 89):
        return "harmony"
    return "melody"
