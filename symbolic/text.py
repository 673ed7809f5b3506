"""Free text -> Attributes, offline, by rules and the instrument-name table.

`parse_text("a lively jig in D major for fiddle and flute, 16 bars")` returns the attributes with
what was understood (phrase -> attribute) and the words that were ignored, so a client can show
them back to the user for correction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ostinato.errors import InvalidInput, LimitExceeded
from symbolic.attributes import PITCH_CLASS_NAMES, Attributes, Key
from symbolic.data.augment import STYLE_TEMPO_BPM
from symbolic.instruments import ALIASES, program_name

MAX_TEXT_CHARS = 1000

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "sixteen": 16, "twenty": 20, "twenty-four": 24, "thirty-two": 32,
}
_MODE_WORDS = {
    "major": "major", "maj": "major", "minor": "minor", "min": "minor", "m": "minor", "dorian": "dorian",
    "mixolydian": "mixolydian", "lydian": "lydian", "phrygian": "phrygian", "locrian": "locrian",
    "aeolian": "minor", "ionian": "major",
}
_STYLE_WORDS = {
    "slip jig": "slip jig", "slip-jig": "slip jig", "jig": "jig", "jigs": "jig", "slide": "slide",
    "reel": "reel", "reels": "reel", "hornpipe": "hornpipe", "strathspey": "strathspey", "polka": "polka",
    "waltz": "waltz", "march": "march", "air": "air", "slow air": "air", "lament": "air", "ballad": "air",
    "chorale": "chorale", "hymn": "chorale", "folk": "folk", "folk tune": "folk",
}
_TEMPO_WORDS = {"slow": 0.0, "slowly": 0.0, "gentle": 0.2, "relaxed": 0.25, "moderate": 0.5, "medium": 0.5,
                "steady": 0.5, "lively": 0.85, "upbeat": 0.8, "fast": 0.95, "quick": 0.9, "brisk": 0.85,
                "energetic": 0.9}
_DENSITY_WORDS = {"sparse": 0.0, "simple": 0.25, "calm": 0.25, "busy": 0.75, "dense": 1.0, "intricate": 0.75,
                  "flowing": 0.75}
_POLYPHONY_WORDS = {"monophonic": 1.0, "solo": 1.0, "unaccompanied": 1.0, "chordal": 3.0, "chords": 3.0,
                    "harmonised": 3.0, "harmonized": 3.0, "four-part": 4.0, "four part": 4.0}
_METER_WORDS = {"common time": (4, 4), "cut time": (2, 2), "triple time": (3, 4), "in three": (3, 4),
                "compound time": (6, 8)}
_STOPWORDS = set("""a an the for and with in of on to by me please some piece tune song music write make
compose generate create play give i want would like that is it its which about around roughly approximately
key time signature at bpm tempo bars bar measures measure long plus""".split())


@dataclass
class ParsedText:
    attributes: Attributes
    understood: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _number(text: str) -> int:
    return int(text) if text.isdigit() else _NUMBER_WORDS[text.lower()]


_NUMBER = r"(\d+|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")"


def parse_text(text: str, max_bars: int = 64) -> ParsedText:
    """Maps a request in words to attributes. Unknown words are reported, not guessed."""
    if len(text) > MAX_TEXT_CHARS:
        raise LimitExceeded("text", len(text), MAX_TEXT_CHARS, "characters")
    lowered = text.lower()
    consumed = [False] * len(lowered)
    understood: list[str] = []
    attributes = Attributes()

    def take(match: re.Match, what: str) -> None:
        for index in range(match.start(), match.end()):
            consumed[index] = True
        understood.append(f"'{text[match.start():match.end()].strip()}' -> {what}")

    def free(match: re.Match) -> bool:
        return not any(consumed[match.start():match.end()])

    match = re.search(_NUMBER + r"[\s-]*(bars?|measures?)\b", lowered)
    if match:
        bars = _number(match.group(1))
        if bars < 1:
            raise InvalidInput("the text asks for 0 bars; ask for at least 1")
        attributes.bars = bars
        take(match, f"bars {bars}")
    match = re.search(r"(\d+(?:\.\d+)?)\s*(bpm|beats per minute)", lowered)
    if match:
        attributes.tempo_bpm = float(match.group(1))
        take(match, f"tempo {attributes.tempo_bpm:g} bpm")
    match = re.search(r"(\d+(?:\.\d+)?)\s*(seconds|secs?|s|minutes?|mins?)\b", lowered)
    if match and free(match):
        seconds = float(match.group(1)) * (60.0 if match.group(2).startswith("min") else 1.0)
        attributes.duration_s = seconds
        take(match, f"duration {seconds:g} s")
    match = re.search(r"\b(\d{1,2})\s*/\s*(\d{1,2})\b", lowered)
    if match:
        attributes.time_signature = (int(match.group(1)), int(match.group(2)))
        take(match, f"time signature {match.group(1)}/{match.group(2)}")
    for words, meter in _METER_WORDS.items():
        match = re.search(rf"\b{words}\b", lowered)
        if match and attributes.time_signature is None:
            attributes.time_signature = meter
            take(match, f"time signature {meter[0]}/{meter[1]}")

    key_pattern = (r"\b(?:(?:in|key of)\s+)?([a-g])\s*(#|b|♯|♭|sharp|flat)?[\s-]*("
                   + "|".join(sorted(_MODE_WORDS, key=len, reverse=True)) + r")?\b")
    for match in re.finditer(key_pattern, lowered):
        prefixed = match.group(0).startswith(("in ", "key of"))
        mode_word = match.group(3)
        if mode_word == "m":  # "Em" means E minor only when written with a capital letter
            original = text[match.start(1):match.end(3)].replace(" ", "")
            mode_word = "m" if re.fullmatch(r"[A-G][#b♯♭]?m", original) else None
        if not (prefixed or mode_word) or not free(match):
            continue
        if match.group(1) == "a" and not mode_word and not match.group(2):
            continue  # "in a ..." is an article, not A
        tonic = "c d e f g a b".split().index(match.group(1))
        tonic = [0, 2, 4, 5, 7, 9, 11][tonic]
        accidental = match.group(2) or ""
        if accidental in ("#", "♯", "sharp"):
            tonic = (tonic + 1) % 12
        elif accidental in ("b", "♭", "flat"):
            tonic = (tonic - 1) % 12
        mode = _MODE_WORDS.get(mode_word or "", None)
        attributes.key = Key(tonic, mode) if mode else Key(tonic, None)  # type: ignore[arg-type]
        take(match, f"key {PITCH_CLASS_NAMES[tonic]} {mode or '(mode open)'}")
        break

    for words in sorted(_STYLE_WORDS, key=len, reverse=True):
        match = re.search(rf"\b{re.escape(words)}\b", lowered)
        if match and free(match):
            attributes.style = _STYLE_WORDS[words]
            take(match, f"style {attributes.style}")
            break

    programs: list[int] = []
    for name in sorted(ALIASES, key=len, reverse=True):
        for match in re.finditer(rf"\b{re.escape(name)}\b", lowered):
            if free(match):
                program = ALIASES[name]
                if program not in programs:
                    programs.append(program)
                take(match, f"instrument {program_name(program)}")
    if programs:
        attributes.instruments = programs

    for words, level in _TEMPO_WORDS.items():
        match = re.search(rf"\b{words}\b", lowered)
        if match and free(match) and attributes.tempo_bpm is None:
            low, high = STYLE_TEMPO_BPM.get(attributes.style or "folk", (70, 160))
            if attributes.style is None:
                low, high = 60, 170
            attributes.tempo_bpm = float(round(low + (high - low) * level))
            take(match, f"tempo {attributes.tempo_bpm:g} bpm")
    for words, level in _DENSITY_WORDS.items():
        match = re.search(rf"\b{words}\b", lowered)
        if match and free(match):
            attributes.rhythm_intensity = level
            take(match, f"rhythm intensity {level:g}")
    for words, value in _POLYPHONY_WORDS.items():
        match = re.search(rf"\b{words}\b", lowered)
        if match and free(match):
            attributes.polyphony = value
            take(match, f"polyphony {value:g}")
    match = re.search(r"\b(narrow|small|wide|large|big)\s+range\b", lowered)
    if match and free(match):
        attributes.pitch_range_octaves = 1.0 if match.group(1) in ("narrow", "small") else 2.5
        take(match, f"pitch range {attributes.pitch_range_octaves:g} octaves")
    match = re.search(r"(\d+(?:\.\d+)?)\s*octaves?", lowered)
    if match and free(match):
        attributes.pitch_range_octaves = float(match.group(1))
        take(match, f"pitch range {attributes.pitch_range_octaves:g} octaves")

    if attributes.bars is not None and attributes.bars > max_bars:
        raise LimitExceeded("bars", attributes.bars, max_bars, "bars")
    leftover = "".join(ch if not used else " " for ch, used in zip(text, consumed))
    ignored = [word for word in re.findall(r"[A-Za-z0-9#'/-]+", leftover) if word.lower() not in _STOPWORDS]
    return ParsedText(attributes, understood, ignored)
