"""Reading an arrangement file: TOML -> JSON Schema check -> musical checks -> `Arrangement`.

Every problem is found before any work starts and reported with the line and the field:

    piece.toml:14: sections[1].bars: 0 is less than the minimum of 1

Files named by tracks (clips, recordings) are read here, from the arrangement's folder or, for a
request that arrived over the network, from the files sent with it (never from elsewhere on disk).
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ostinato.errors import InvalidInput
from server.arrangement import model as m
from symbolic.attributes import DRUM_PROGRAM, MODES, TIME_SIGNATURES, Key
from symbolic.drums import grooves_for
from symbolic.instruments import program_for_name

SCHEMA_PATH = Path(__file__).resolve().parent / "schema.json"
MAX_TOTAL_BARS = 256
MAX_FILE_BYTES = 8 * 1024 * 1024
DENSITY_WORDS = {"very low": 0.0, "low": 0.25, "medium": 0.5, "high": 0.75, "very high": 1.0}
_PITCH_CLASS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_MODE_WORDS = {"maj": "major", "min": "minor", "m": "minor", "": "major"}


@dataclass(frozen=True)
class Problem:
    line: int | None
    field: str
    message: str

    def render(self, source_name: str) -> str:
        where = f"{source_name}:{self.line}" if self.line else source_name
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ArrangementError(InvalidInput):
    """An invalid arrangement file; `problems` lists each (line, field, message)."""

    def __init__(self, source_name: str, problems: list[Problem]) -> None:
        self.source_name = source_name
        self.problems = problems
        lines = [p.render(source_name) for p in problems[:10]]
        if len(problems) > 10:
            lines.append(f"... and {len(problems) - 10} more")
        super().__init__("invalid arrangement:\n" + "\n".join(lines))


# ---- where each field is written ------------------------------------------------------------------
_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\" -]+?)\s*\]\]?\s*(#.*)?$")
_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_.\"-]+(?:\s*\.\s*[A-Za-z0-9_\"-]+)*)\s*=")


def _split_dotted(text: str) -> tuple[str, ...]:
    return tuple(part.strip().strip('"') for part in text.split("."))


def field_lines(text: str) -> dict[tuple, int]:
    """(path...) -> 1-based line where it is written, for tables, array-of-table items and keys.

    Covers the TOML an arrangement uses (tables, arrays of tables, dotted keys, inline tables on
    one line); a field inside an inline table or a multi-line array maps to its key's line.
    """
    lines: dict[tuple, int] = {}
    counters: dict[tuple, int] = {}
    current: tuple = ()
    depth = 0  # open brackets of a multi-line value
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        if depth > 0:
            depth += line.count("[") + line.count("{") - line.count("]") - line.count("}")
            continue
        header = _HEADER_RE.match(line)
        if header and not _KEY_RE.match(line):
            names = _split_dotted(header.group(2))
            if header.group(1) == "[[":
                parent = _resolve(names[:-1], counters)
                array = parent + (names[-1],)
                counters[array] = counters.get(array, -1) + 1
                current = array + (counters[array],)
            else:
                current = _resolve(names, counters)
            lines.setdefault(current, number)
            continue
        key = _KEY_RE.match(line)
        if key:
            path = current + _split_dotted(key.group(1))
            lines.setdefault(path, number)
            value = line[key.end():]
            depth = max(0, value.count("[") + value.count("{") - value.count("]") - value.count("}"))
    return lines


def _resolve(names: tuple[str, ...], counters: dict[tuple, int]) -> tuple:
    """A dotted table name with the current index of each array of tables along it."""
    path: tuple = ()
    for name in names:
        path = path + (name,)
        if path in counters:
            path = path + (counters[path],)
    return path


def _strip_comment(line: str) -> str:
    quote = None
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "#":
            return line[:index]
    return line


def line_of(lines: Mapping[tuple, int], path: tuple) -> int | None:
    """The line of the longest written prefix of `path`."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def field_name(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# ---- schema ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def _schema_problems(document: dict, lines: Mapping[tuple, int]) -> list[Problem]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    problems = []
    for error in validator.iter_errors(document):
        path = tuple(error.absolute_path)
        message = error.message
        if error.validator == "additionalProperties":
            unexpected = re.findall(r"'([^']+)'", message)
            if unexpected:
                path = path + (unexpected[0],)
                message = f"unknown field (allowed: {', '.join(sorted(error.schema.get('properties', {})))})"
        elif error.validator == "not" and path and path[0] == "sections":
            message = "a section either repeats (repeat) or varies (vary) an earlier one, not both"
        elif error.validator == "pattern" and path and path[-1] == "key":
            message = f"{error.instance!r} is not a key: write a tonic and a mode, e.g. \"F major\", \"Ab minor\", \"D dorian\""
        elif error.validator == "oneOf" and path and path[-1] == "density":
            message = f"{error.instance!r}: use a number 0-1 or one of {', '.join(DENSITY_WORDS)}"
        elif error.validator == "oneOf" and path and path[-1] == "of":
            message = f"{error.instance!r}: name a track (of = \"bass\") or a list of tracks (of = [\"bass\", \"piano\"])"
        elif error.validator == "oneOf" and path and path[-1] == "instrument":
            message = f"{error.instance!r}: use an instrument name or a GM program 0-127"
        problems.append(Problem(line_of(lines, path), field_name(path), message))
    return sorted(problems, key=lambda p: (p.line or 0, p.field))


# ---- values ---------------------------------------------------------------------------------------
def parse_key(text: str) -> Key:
    match = re.fullmatch(r"\s*([A-Ga-g])([#b]?)\s*([A-Za-z]*)\s*", text)
    if not match:
        raise InvalidInput(f"{text!r} is not a key")
    tonic = _PITCH_CLASS[match.group(1).lower()] + {"#": 1, "b": -1, "": 0}[match.group(2)]
    word = match.group(3).lower()
    mode = _MODE_WORDS.get(word, word)
    if mode not in MODES:
        raise InvalidInput(f"unknown mode {word!r}; use one of {', '.join(MODES)}")
    return Key(tonic % 12, mode)


def parse_time_signature(text: str) -> tuple[int, int]:
    numerator, denominator = (int(part) for part in text.split("/"))
    if (numerator, denominator) not in TIME_SIGNATURES:
        supported = ", ".join(f"{n}/{d}" for n, d in TIME_SIGNATURES)
        raise InvalidInput(f"{text} is not supported; use one of {supported}")
    return numerator, denominator


def _is_chord(symbol: str, key: Key) -> bool:
    from symbolic.chords import parse_chord

    try:
        parse_chord(symbol, key)  # None is "N" (no chord in that bar)
    except ValueError:
        return False
    return True


def key_interval(source: Key, target: Key) -> int:
    """Semitones from one tonic to another, the nearer way (-5..+6)."""
    step = (target.tonic_pitch_class - source.tonic_pitch_class) % 12
    return step - 12 if step > 6 else step


# ---- the arrangement ------------------------------------------------------------------------------
class _Checker:
    def __init__(self, lines: Mapping[tuple, int]) -> None:
        self.lines = lines
        self.problems: list[Problem] = []

    def fail(self, path: tuple, message: str) -> None:
        self.problems.append(Problem(line_of(self.lines, path), field_name(path), message))

    def attempt(self, path: tuple, parse, value):  # type: ignore[no-untyped-def]
        try:
            return parse(value)
        except InvalidInput as error:
            self.fail(path, str(error))
            return None


def load_arrangement(text: str, *, source_name: str = "arrangement.toml", base_dir: Path | None = None,
                     files: Mapping[str, bytes] | None = None, capabilities: Mapping[str, bool] | None = None,
                     ) -> m.Arrangement:
    """Parses and checks an arrangement; raises ArrangementError listing every problem found.

    Args:
        text: the TOML text.
        source_name: the file name shown in error messages.
        base_dir: where relative file names are read from (the CLI: the arrangement's folder).
        files: file name (as written) -> bytes, for requests that carry their files (the RPC); when
            given, the disk is not read.
        capabilities: source -> available on this server (drumify, melody_audio, accompanist...);
            a source that is not available is refused here, before any work.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"line (\d+)", str(error))
        raise ArrangementError(source_name, [Problem(int(found.group(1)) if found else None, "",
                                                     f"TOML syntax: {error}")]) from None
    lines = field_lines(text)
    problems = _schema_problems(document, lines)
    if problems:
        raise ArrangementError(source_name, problems)
    check = _Checker(lines)
    arrangement = _build(document, check, base_dir, files, capabilities or {}, source_name)
    if check.problems:
        raise ArrangementError(source_name, sorted(check.problems, key=lambda p: (p.line or 0, p.field)))
    assert arrangement is not None
    return arrangement


def load_arrangement_file(path: Path, capabilities: Mapping[str, bool] | None = None) -> m.Arrangement:
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"cannot read the arrangement {path}: {error}") from error
    return load_arrangement(text, source_name=path.name, base_dir=path.parent, capabilities=capabilities)


def referenced_files(text: str) -> list[str]:
    """File names the tracks of an arrangement refer to (what a client sends with an Arrange call)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    tracks = document.get("tracks", [])
    return [t["file"] for t in tracks if isinstance(t, dict) and isinstance(t.get("file"), str)]


def _read_file(name: str, base_dir: Path | None, files: Mapping[str, bytes] | None) -> bytes:
    if files is not None:
        if name not in files:
            raise InvalidInput(f"the file {name!r} was not sent with the arrangement")
        data = files[name]
    else:
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise InvalidInput(f"{name!r}: name a file inside the arrangement's folder (no absolute paths or '..')")
        path = (base_dir or Path.cwd()) / relative
        try:
            data = path.read_bytes()
        except OSError as error:
            raise InvalidInput(f"cannot read {path}: {error.strerror or error}") from None
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(f"{name!r} is {len(data) / 1e6:.1f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB")
    if not data:
        raise InvalidInput(f"{name!r} is empty")
    return data


def _build(document: dict, check: _Checker, base_dir: Path | None, files: Mapping[str, bytes] | None,
           capabilities: Mapping[str, bool], source_name: str) -> m.Arrangement | None:
    piece = document["piece"]
    piece_key = check.attempt(("piece", "key"), parse_key, piece["key"])
    piece_meter = check.attempt(("piece", "time_signature"), parse_time_signature, piece.get("time_signature", "4/4"))
    tracks = _tracks(document["tracks"], check, base_dir, files, capabilities)
    names = list(dict.fromkeys(raw["name"] for raw in document["tracks"]))  # a track with a problem still has its name
    sections: list[m.SectionSpec] = []
    if piece_key is None or piece_meter is None:
        return None
    previous: m.SectionSpec | None = None
    seen: dict[str, m.SectionSpec] = {}
    note_tracks = [t.name for t in tracks if t.source in m.NOTE_SOURCES]
    entering_later = {name for raw in document["sections"] for name in raw.get("enter", [])}
    for index, raw in enumerate(document["sections"]):
        path = ("sections", index)
        name = raw["name"]
        if name in seen:
            check.fail(path + ("name",), f"a section named {name!r} comes earlier: give each section its own name")
            continue
        source_name_ref = raw.get("repeat") or raw.get("vary")
        source = None
        if source_name_ref is not None:
            field = "repeat" if "repeat" in raw else "vary"
            source = seen.get(source_name_ref)
            if source is None:
                earlier = ", ".join(seen) or "none"
                check.fail(path + (field,), f"no earlier section is named {source_name_ref!r} (earlier: {earlier})")
                continue
        bars = raw.get("bars")
        if bars is None:
            if source is None:
                check.fail(path, "'bars' is a required property (unless the section repeats or varies another)")
                continue
            bars = source.bars
        elif source is not None and bars != source.bars:
            check.fail(path + ("bars",), f"{bars} bars, but {source.name!r} has {source.bars}: a repeat keeps the length")
            continue
        transpose = int(raw.get("transpose", 0))
        if transpose and source is None:
            check.fail(path + ("transpose",), "transpose applies to a repeat or a variation (repeat = ... or vary = ...)")
        inherited = previous
        if "key" in raw:
            key = check.attempt(path + ("key",), parse_key, raw["key"])
            if key is None:
                continue
            if source is not None and "transpose" not in raw:
                transpose = key_interval(source.key, key)
        elif source is not None:
            key = source.key.transposed(transpose)
        else:
            key = inherited.key if inherited else piece_key
        tempo_bpm = float(raw.get("tempo_bpm", inherited.tempo_bpm if inherited else piece["tempo_bpm"]))
        meter = piece_meter if inherited is None else inherited.time_signature
        if "time_signature" in raw:
            meter = check.attempt(path + ("time_signature",), parse_time_signature, raw["time_signature"])
            if meter is None:
                continue
        if source is not None and meter != source.time_signature:
            check.fail(path + ("time_signature",), f"{source.name!r} is in {source.time_signature[0]}/"
                       f"{source.time_signature[1]}: a repeat keeps the meter")
            continue
        playing = _section_tracks(raw, path, check, names, inherited, source, entering_later)
        density = raw.get("density")
        if isinstance(density, str):
            density = DENSITY_WORDS[density]
        variation = None
        if "vary" in raw:
            spec = raw.get("variation", {})
            for track_index, track_name in enumerate(spec.get("tracks", [])):
                if track_name not in note_tracks:
                    check.fail(path + ("variation", "tracks", track_index), f"no track named {track_name!r} plays notes")
            variation = m.Variation(spec.get("method", m.VARIATION_INFILL), float(spec.get("amount", 0.25)),
                                    tuple(spec.get("tracks", [])))
        elif "variation" in raw:
            check.fail(path + ("variation",), "a variation needs vary = \"<earlier section>\"")
        for track_name in playing:
            track = next((t for t in tracks if t.name == track_name), None)
            if track is not None and track.source in (m.SOURCE_GROOVE, m.SOURCE_DRUMIFY) and \
                    not grooves_for(meter, track.style):
                check.fail(path + ("time_signature",), f"the groove library has no {meter[0]}/{meter[1]} groove "
                           f"for {track_name!r}: compose the drums (source = \"compose\") instead")
        chords = tuple(raw.get("chords", ()))
        if len(chords) > bars:
            check.fail(path + ("chords",), f"{len(chords)} chords for {bars} bars: at most one chord per bar")
        for position, symbol in enumerate(chords):
            if not _is_chord(symbol, key):
                check.fail(path + ("chords", position), f"{symbol!r} is not a chord: write a symbol (\"C\", \"Am7\", "
                           "\"F#dim\", \"Bb/D\") or a numeral of the key (\"I\", \"vi\", \"V7\")")
        section = m.SectionSpec(
            name=name, bars=int(bars), key=key, tempo_bpm=tempo_bpm, time_signature=meter,
            tracks=playing, density=None if density is None else float(density), chords=chords,
            repeat=raw.get("repeat"), vary=raw.get("vary"), variation=variation, transpose=transpose,
            fill=bool(raw.get("fill", index < len(document["sections"]) - 1)), key_given="key" in raw)
        seen[name] = section
        sections.append(section)
        previous = section
    total = sum(s.bars for s in sections)
    if total > MAX_TOTAL_BARS:
        check.fail(("sections",), f"the piece has {total} bars; the limit is {MAX_TOTAL_BARS}")
    context_bars = int(piece.get("context_bars", 4))
    seed = int(piece.get("seed", 0)) or 1
    return m.Arrangement(title=piece.get("title", source_name.rsplit(".", 1)[0]), seed=seed, key=piece_key,
                         tempo_bpm=float(piece["tempo_bpm"]), tracks=tuple(tracks),
                         sections=tuple(sections), context_bars=context_bars, source_name=source_name)


def _section_tracks(raw: dict, path: tuple, check: _Checker, names: list[str],
                    previous: m.SectionSpec | None, source: m.SectionSpec | None,
                    entering_later: set[str]) -> tuple[str, ...]:
    for field in ("tracks", "enter", "leave"):
        for position, name in enumerate(raw.get(field, [])):
            if name not in names:
                check.fail(path + (field, position), f"no track is named {name!r} (tracks: {', '.join(names)})")
    if "tracks" in raw:
        playing = set(raw["tracks"])
        if "enter" in raw or "leave" in raw:
            check.fail(path + ("tracks",), "give either tracks (the full list) or enter/leave, not both")
    elif source is not None:
        playing = set(source.tracks)
    elif previous is not None:
        playing = set(previous.tracks)
    else:
        playing = set(names) - entering_later  # a track that enters later is silent until then
    playing |= set(raw.get("enter", []))
    playing -= set(raw.get("leave", []))
    if not playing:
        check.fail(path, "no track plays in this section")
    return tuple(name for name in names if name in playing)


def _tracks(raw_tracks: list[dict], check: _Checker, base_dir: Path | None, files: Mapping[str, bytes] | None,
            capabilities: Mapping[str, bool]) -> list[m.TrackSpec]:
    tracks: list[m.TrackSpec] = []
    seen_names: set[str] = set()
    programs: dict[int, str] = {}
    for index, raw in enumerate(raw_tracks):
        path = ("tracks", index)
        name = raw["name"]
        if name in seen_names:
            check.fail(path + ("name",), f"a track named {name!r} comes earlier")
            continue
        seen_names.add(name)
        source = raw.get("source", m.SOURCE_COMPOSE)
        program = _track_program(raw, path, source, check)
        if program is None:
            continue
        if source in (m.SOURCE_GROOVE, m.SOURCE_DRUMIFY) and program != DRUM_PROGRAM:
            check.fail(path + ("instrument",), f"a {source} track plays drums: write instrument = \"drums\"")
        if source in m.NOTE_SOURCES:
            if program in programs:
                check.fail(path + ("instrument",), f"{programs[program]!r} already plays this instrument; each "
                           "track needs its own (one drum track at most)")
            programs[program] = name
        if source in (m.SOURCE_DRUMIFY, m.SOURCE_MELODY_AUDIO, m.SOURCE_ACCOMPANIST) and not capabilities.get(source):
            what = {m.SOURCE_DRUMIFY: "Drumify", m.SOURCE_MELODY_AUDIO: "the melody model",
                    m.SOURCE_ACCOMPANIST: "the accompaniment model"}[source]
            check.fail(path + ("source",), f"{source} needs {what}, which this server does not have")
        if source == m.SOURCE_AUDIO and not capabilities.get(source, True):
            check.fail(path + ("source",), "audio tracks need transcription (basic-pitch), which this server lacks")
        data = None
        if source in (m.SOURCE_MIDI, m.SOURCE_AUDIO):
            if "file" not in raw:
                check.fail(path, f"a {source} track needs file = \"...\"")
                continue
            try:
                data = _read_file(raw["file"], base_dir, files)
            except InvalidInput as error:
                check.fail(path + ("file",), str(error))
                continue
        elif "file" in raw:
            check.fail(path + ("file",), f"file is for midi and audio tracks, not {source}")
        _check_track_fields(raw, path, source, check)
        of = raw.get("of", ())
        tracks.append(m.TrackSpec(
            name=name, program=program, source=source, file=raw.get("file"), data=data,
            midi_track=raw.get("midi_track"), follow_key=bool(raw.get("follow_key", True)),
            style=raw.get("style"), text=raw.get("text", ""), of=(of,) if isinstance(of, str) else tuple(of),
            part=raw.get("part")))
    _check_followed_tracks(raw_tracks, tracks, check)
    return tracks


_FIELDS_FOR = {"style": (m.SOURCE_GROOVE, m.SOURCE_DRUMIFY), "of": (m.SOURCE_DRUMIFY,) + m.AUDIO_LAYER_SOURCES,
               "text": (m.SOURCE_MELODY_AUDIO,), "part": (m.SOURCE_ACCOMPANIST,),
               "midi_track": (m.SOURCE_MIDI,), "follow_key": (m.SOURCE_MIDI, m.SOURCE_AUDIO)}


def _track_program(raw: dict, path: tuple, source: str, check: _Checker) -> int | None:
    """The track's GM program (-1 drums); an audio layer may leave its instrument out."""
    instrument = raw.get("instrument")
    if instrument is None:
        if source in m.AUDIO_LAYER_SOURCES:
            return DRUM_PROGRAM if raw.get("part") == "drums" else 0
        check.fail(path, "'instrument' is a required property (every track but an audio layer names one)")
        return None
    return check.attempt(path + ("instrument",), program_for_name,
                         str(instrument) if isinstance(instrument, int) else instrument)


def _check_track_fields(raw: dict, path: tuple, source: str, check: _Checker) -> None:
    """Fields that only some sources read, and the values they take."""
    for field, sources in _FIELDS_FOR.items():
        if field in raw and source not in sources:
            check.fail(path + (field,), f"{field} is for {' and '.join(sources)} tracks, not {source}")
    from symbolic.groove import known_styles

    style = raw.get("style")
    if style is not None and source in _FIELDS_FOR["style"] and style not in known_styles():
        check.fail(path + ("style",), f"unknown groove style {style!r} (styles: {', '.join(known_styles())})")
    if source == m.SOURCE_ACCOMPANIST and "part" not in raw:
        check.fail(path, "an accompanist layer plays drums or backing: write part = \"drums\" or part = \"backing\"")
    if source == m.SOURCE_MELODY_AUDIO:
        of = raw.get("of")
        if of is None or (isinstance(of, list) and len(of) != 1):
            check.fail(path + ("of",) if of is not None else path,
                       "a melody_audio layer follows one track's melody: of = \"<track>\"")


def _check_followed_tracks(raw_tracks: list[dict], tracks: list[m.TrackSpec], check: _Checker) -> None:
    """Every name in `of` is a track with pitched notes (not drums, not another audio layer)."""
    pitched = {t.name for t in tracks if t.source in m.NOTE_SOURCES and t.program != DRUM_PROGRAM}
    all_names = [raw["name"] for raw in raw_tracks]
    for index, raw in enumerate(raw_tracks):
        of = raw.get("of")
        if of is None:
            continue
        names = [of] if isinstance(of, str) else of
        for position, followed in enumerate(names):
            where = ("tracks", index, "of") if isinstance(of, str) else ("tracks", index, "of", position)
            if followed == raw["name"]:
                check.fail(where, "a track cannot follow itself")
            elif followed not in all_names:
                check.fail(where, f"no track is named {followed!r} (tracks: {', '.join(all_names)})")
            elif followed not in pitched:
                check.fail(where, f"{followed!r} plays no pitched notes to follow (drums and audio layers cannot be followed)")
