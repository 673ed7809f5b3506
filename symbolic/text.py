"""Free text -> Attributes, offline, by rules and the instrument-name table.

`parse_text("a lively jig in D major for fiddle and flute, 16 bars")` returns the attributes with
what was understood (phrase -> attribute) and the words that were ignored, so a client can show
them back to the user for correction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ostinato.errors import InvalidInput, LimitExceeded
from symbolic.attributes import DRUM_PROGRAM, PITCH_CLASS_NAMES, Attributes, Key, tonic_pitch_class
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
# What a style word says beyond the style: its meter (when the text names none) and its tempo range in
# quarter notes per minute, within which tempo words (slow ... fast) fall. Musicians' ranges: a slow
# waltz is ~85 bpm, a Viennese one ~180; a reel in 4/4 runs 160-240.
STYLE_METER_AND_TEMPO: dict[str, tuple[tuple[int, int] | None, tuple[int, int]]] = {
    "waltz": ((3, 4), (84, 180)), "jig": ((6, 8), (120, 200)), "slip jig": ((9, 8), (120, 200)),
    "slide": ((12, 8), (150, 210)), "reel": ((4, 4), (160, 240)), "hornpipe": ((4, 4), (110, 170)),
    "strathspey": ((4, 4), (100, 140)), "polka": ((2, 4), (120, 170)), "march": ((2, 4), (100, 130)),
    "air": (None, (50, 90)), "chorale": (None, (56, 96)), "folk": (None, (80, 150)),
}
# Words for styles the model has no token for: they set meter and tempo range only.
_GENRE_WORDS: dict[str, tuple[tuple[int, int] | None, tuple[int, int]]] = {
    "minuet": ((3, 4), (96, 132)), "mazurka": ((3, 4), (120, 170)), "tango": ((2, 4), (110, 130)),
    "bossa nova": ((4, 4), (110, 140)), "bossa": ((4, 4), (110, 140)), "rock": ((4, 4), (100, 150)),
    "pop": ((4, 4), (80, 130)), "swing": ((4, 4), (110, 200)), "funk": ((4, 4), (90, 120)),
    "blues": ((4, 4), (60, 120)), "shuffle": ((4, 4), (90, 140)), "lullaby": ((3, 4), (60, 84)),
    "barcarolle": ((6, 8), (80, 120)), "tarantella": ((6, 8), (160, 220)), "gigue": ((6, 8), (120, 200)),
    "sarabande": ((3, 4), (56, 84)), "gavotte": ((4, 4), (96, 130)), "bourree": ((2, 2), (100, 140)),
    "disco": ((4, 4), (110, 130)), "reggae": ((4, 4), (70, 100)), "samba": ((2, 4), (90, 110)),
}
DEFAULT_TEMPO_RANGE_BPM = (60, 170)

# Ensembles -> their instruments (one program each: two violins share one part in this model).
ENSEMBLES: dict[str, list[int]] = {
    "string quartet": [40, 41, 42], "string trio": [40, 41, 42], "piano trio": [0, 40, 42],
    "piano quartet": [0, 40, 41, 42], "piano quintet": [0, 40, 41, 42], "jazz trio": [0, 32, DRUM_PROGRAM],
    "jazz quartet": [65, 0, 32, DRUM_PROGRAM], "jazz combo": [56, 65, 0, 32, DRUM_PROGRAM],
    "rock band": [29, 33, DRUM_PROGRAM], "power trio": [30, 33, DRUM_PROGRAM],
    "pop band": [4, 27, 33, DRUM_PROGRAM], "funk band": [27, 4, 36, DRUM_PROGRAM],
    "big band": [56, 57, 65, 0, 32, DRUM_PROGRAM], "brass quintet": [56, 60, 57, 58],
    "brass band": [56, 60, 57, 58, DRUM_PROGRAM], "wind quintet": [73, 68, 71, 60, 70],
    "woodwind quintet": [73, 68, 71, 60, 70], "folk band": [40, 73, 21, 24], "ceili band": [40, 73, 21, 0, DRUM_PROGRAM],
    "trad session": [40, 73, 78, 21], "bluegrass band": [105, 40, 25, 32], "string orchestra": [48, 42, 43],
    "orchestra": [48, 73, 60, 56, 47], "synth pop": [81, 89, 38, DRUM_PROGRAM],
}
# Adjective + instrument phrases that pick a General MIDI program (matched before plain names, so a
# "distorted electric guitar" is not just an "electric guitar").
_ADJECTIVE_PROGRAMS: tuple[tuple[str, int], ...] = (
    (r"(?:distorted|distortion|fuzz|fuzzy|heavy|metal)\s+(?:electric\s+)?guitars?", 30),
    (r"(?:overdriven|overdrive|crunchy|crunch|driven|rock)\s+(?:electric\s+)?guitars?", 29),
    (r"clean\s+(?:electric\s+)?guitars?", 27), (r"(?:muted|palm[- ]muted)\s+(?:electric\s+)?guitars?", 28),
    (r"jazz\s+guitars?", 26), (r"(?:nylon|nylon[- ]string|classical|spanish)\s+guitars?", 24),
    (r"(?:steel|steel[- ]string|folk)\s+guitars?", 25), (r"acoustic\s+guitars?", 25),
    (r"electric\s+guitars?", 27), (r"acoustic\s+pianos?", 0), (r"electric\s+pianos?|e-pianos?|rhodes", 4),
    (r"electric\s+grand(?:\s+piano)?", 2), (r"honky[- ]tonk\s+piano", 3), (r"bright\s+piano", 1),
    (r"(?:acoustic|upright|double|stand-up)\s+bass(?:es)?", 32), (r"(?:fingered|finger|electric)\s+bass(?:es)?", 33),
    (r"(?:picked|pick)\s+bass(?:es)?", 34), (r"fretless\s+bass(?:es)?", 35), (r"slap\s+bass(?:es)?", 36),
    (r"(?:synth|analog|moog)\s+bass(?:es)?", 38), (r"(?:saw|sawtooth|supersaw)\s+(?:synth\s+)?(?:lead|synth)s?", 81),
    (r"square(?:[- ]wave)?\s+(?:synth\s+)?(?:lead|synth)s?", 80), (r"calliope\s+(?:lead|synth)?", 82),
    (r"chiff\s+(?:lead|synth)?", 83), (r"charang\s+(?:lead|synth)?", 84), (r"(?:fifths|5ths)\s+lead", 86),
    (r"(?:bass\s*\+\s*lead|bass and lead synth)", 87), (r"(?:new age)\s+pad", 88), (r"warm\s+pad", 89),
    (r"(?:polysynth|poly synth)(?:\s+pad)?", 90), (r"choir\s+pad", 91), (r"bowed\s+pad", 92),
    (r"metallic\s+pad", 93), (r"halo\s+pad", 94), (r"sweep\s+pad", 95),
    (r"synth(?:esizer)?\s+strings?", 50), (r"synth(?:esizer)?\s+brass", 62), (r"(?:muted|harmon)\s+trumpets?", 59),
    (r"(?:pizzicato|plucked)\s+strings?", 45), (r"tremolo\s+strings?", 44), (r"(?:rock|drawbar|b3)\s+organs?", 18),
    (r"(?:pipe|church)\s+organs?", 19), (r"(?:percussive)\s+organs?", 17),
)

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
key time signature at bpm tempo bars bar measures measure long plus over under from""".split())


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
        tonic = tonic_pitch_class(match.group(1), match.group(2) or "")
        mode = _MODE_WORDS.get(mode_word or "", None)
        attributes.key = Key(tonic, mode) if mode else Key(tonic, None)  # type: ignore[arg-type]
        take(match, f"key {PITCH_CLASS_NAMES[tonic]} {mode or '(mode open)'}")
        break

    programs: list[int] = []
    for words in sorted(ENSEMBLES, key=len, reverse=True):
        for match in re.finditer(rf"\b{re.escape(words)}s?\b", lowered):
            if free(match):
                programs += [p for p in ENSEMBLES[words] if p not in programs]
                take(match, f"instruments {', '.join(program_name(p) for p in ENSEMBLES[words])}")

    tempo_range = DEFAULT_TEMPO_RANGE_BPM
    meter: tuple[int, int] | None = None
    for words in sorted(list(_STYLE_WORDS) + list(_GENRE_WORDS), key=len, reverse=True):
        match = re.search(rf"\b{re.escape(words)}\b", lowered)
        if match and free(match):
            if words in _STYLE_WORDS:
                attributes.style = _STYLE_WORDS[words]
                meter, tempo_range = STYLE_METER_AND_TEMPO.get(attributes.style, (None, tempo_range))
                what = f"style {attributes.style}"
            else:
                meter, tempo_range = _GENRE_WORDS[words]
                what = f"a {words}"
            if meter is not None and attributes.time_signature is None:
                attributes.time_signature = meter
                what += f", time signature {meter[0]}/{meter[1]}"
            take(match, what)
            break

    for pattern, program in _ADJECTIVE_PROGRAMS:
        for match in re.finditer(rf"\b{pattern}\b", lowered):
            if free(match):
                if program not in programs:
                    programs.append(program)
                take(match, f"instrument {program_name(program)}")
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
            low, high = tempo_range  # "slow" is slow for this style: a slow waltz, a slow reel
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
