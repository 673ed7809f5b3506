"""Control from the DAW: notes, controllers and program changes on a control channel become commands
(make a clip, continue what I played, vary, infill, drums, accompaniment, stop a lane, mute/solo a
port), with attributes picked from the DAW too (the key from the notes held, density from a knob).

The mapping lives in a small TOML or JSON file (`ostinato bridge --mapping controls.toml`); with no
file, DEFAULT_MAPPING applies. This module is pure: messages in, `ControlAction`s (or a refusal
saying why) out; the CLI turns actions into session requests.

    control_channel = 16          # 1-16; everything on it is a command, never captured
    launch = "bar"                # where a new clip starts: "bar" or "phrase"
    phrase_bars = 4
    lane = 0                      # the clip-launcher lane clips go to
    loop = true                   # new clips loop until replaced
    bars = 4                      # length of generated clips / continuations

    [notes]                       # note number (or name, "C1") -> command
    36 = "generate"
    [programs]                    # program number (0-127) -> command
    0 = "generate"
    [cc]                          # controller number -> what it sets
    1 = "density"                 # 0-127 -> sparse..dense for the next clip
    [mute]                        # controller number -> output port (1-based); value >= 64 mutes
    [solo]
"""

from __future__ import annotations

import json
import threading
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from daw_bridge import midi
from ostinato.errors import InvalidInput

COMMANDS = ("generate", "continue", "vary", "infill", "drumify", "accompany", "stop")
SETTINGS = ("density", "bars", "launch", "loop", "lane")
_NOTE_NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
MODE_NAMES = ("major", "minor")

# Krumhansl-Kessler key profiles (probe-tone ratings), C major and C minor.
_MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
_MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)


@dataclass(frozen=True)
class ControlMapping:
    """What each control message means. Channels are 0-based here (the file says 1-16)."""

    control_channel: int = 15
    notes: dict[int, str] = field(default_factory=dict)
    programs: dict[int, str] = field(default_factory=dict)
    controllers: dict[int, str] = field(default_factory=dict)
    mute: dict[int, int] = field(default_factory=dict)  # controller -> 0-based output port
    solo: dict[int, int] = field(default_factory=dict)
    launch_bars: int = 1  # 1: the next bar; phrase_bars: the next phrase
    phrase_bars: int = 4
    lane: int = 0
    loop: bool = True
    bars: int = 4
    infill_bars: tuple[int, ...] = (1,)
    source: str = "the default mapping"


DEFAULT_MAPPING = ControlMapping(
    notes={36: "generate", 37: "continue", 38: "vary", 39: "infill", 40: "drumify", 41: "accompany", 42: "stop"},
    programs={0: "generate", 1: "continue", 2: "vary", 3: "infill", 4: "drumify", 5: "accompany", 6: "stop"},
    controllers={1: "density", 14: "bars", 15: "launch"},
    mute={20: 0, 21: 1, 22: 2, 23: 3},
    solo={24: 0, 25: 1, 26: 2, 27: 3},
)


def parse_note(value: object, where: str) -> int:
    """A note number 0-127, or a name such as "C1", "F#2", "Bb-1" (C4 = 60, middle C)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 127:
        return value
    text = str(value).strip()
    if text.isdigit() and 0 <= int(text) <= 127:
        return int(text)
    if text and text[0].upper() in _NOTE_NAMES:
        pitch_class = _NOTE_NAMES[text[0].upper()]
        rest = text[1:]
        while rest[:1] in ("#", "b"):
            pitch_class += 1 if rest[0] == "#" else -1
            rest = rest[1:]
        try:
            octave = int(rest)
        except ValueError:
            octave = None
        if octave is not None:
            number = (octave + 1) * 12 + pitch_class
            if 0 <= number <= 127:
                return number
    raise InvalidInput(f"{where}: {value!r} is not a MIDI note (0-127, or a name like C1 or F#2)")


def load_mapping(path: Path) -> ControlMapping:
    """Reads a mapping file (.toml or .json). Raises InvalidInput naming the file and the entry when it
    is missing, unreadable or means something impossible."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInput(f"mapping file {name}: cannot read it ({error.strerror or error})") from error
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(text)
        else:
            raw = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise InvalidInput(f"mapping file {name} is not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'}: {error}") from error
    if not isinstance(raw, dict):
        raise InvalidInput(f"mapping file {name}: the top level must be a table of settings")
    return mapping_from_dict(raw, name)


def mapping_from_dict(raw: dict, source: str) -> ControlMapping:
    known = {"control_channel", "notes", "programs", "cc", "mute", "solo", "launch", "phrase_bars", "lane", "loop",
             "bars", "infill_bars"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidInput(f"mapping file {source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")

    def integer(key: str, low: int, high: int, default: int) -> int:
        value = raw.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InvalidInput(f"mapping file {source}: {key} = {value!r} must be a whole number {low}-{high}")
        return value

    def table(key: str) -> dict:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            raise InvalidInput(f"mapping file {source}: [{key}] must be a table")
        return value

    def number_0_127(text: object, where: str) -> int:
        try:
            value = int(str(text))
        except ValueError:
            raise InvalidInput(f"{where}: {text!r} is not a number 0-127") from None
        if not 0 <= value <= 127:
            raise InvalidInput(f"{where}: {value} is not a number 0-127")
        return value

    def command(value: object, where: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            raise InvalidInput(f"{where}: {value!r} is not one of {', '.join(allowed)}")
        return str(value)

    notes = {parse_note(k, f"mapping file {source} [notes]"): command(v, f"mapping file {source} [notes] {k}", COMMANDS)
             for k, v in table("notes").items()}
    programs = {number_0_127(k, f"mapping file {source} [programs]"): command(v, f"mapping file {source} [programs] {k}", COMMANDS)
                for k, v in table("programs").items()}
    controllers = {number_0_127(k, f"mapping file {source} [cc]"): command(v, f"mapping file {source} [cc] {k}", SETTINGS)
                   for k, v in table("cc").items()}
    ports: dict[str, dict[int, int]] = {}
    for key in ("mute", "solo"):
        ports[key] = {}
        for k, v in table(key).items():
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 16:
                raise InvalidInput(f"mapping file {source} [{key}] {k}: output port {v!r} must be 1-16")
            ports[key][number_0_127(k, f"mapping file {source} [{key}]")] = v - 1
    taken = [cc for cc in controllers if cc in ports["mute"] or cc in ports["solo"]] + \
        [cc for cc in ports["mute"] if cc in ports["solo"]]
    if taken:
        raise InvalidInput(f"mapping file {source}: controller {taken[0]} is mapped twice")
    launch = raw.get("launch", "bar")
    if launch not in ("bar", "phrase"):
        raise InvalidInput(f"mapping file {source}: launch = {launch!r} must be \"bar\" or \"phrase\"")
    phrase_bars = integer("phrase_bars", 1, 16, 4)
    loop = raw.get("loop", True)
    if not isinstance(loop, bool):
        raise InvalidInput(f"mapping file {source}: loop = {loop!r} must be true or false")
    infill = raw.get("infill_bars", [1])
    if not isinstance(infill, list) or not infill or not all(isinstance(b, int) and 0 <= b < 64 for b in infill):
        raise InvalidInput(f"mapping file {source}: infill_bars must be a list of bar indexes 0-63, e.g. [1]")
    if not (notes or programs or controllers or ports["mute"] or ports["solo"]):
        raise InvalidInput(f"mapping file {source} maps nothing: add [notes], [programs] or [cc] entries")
    return ControlMapping(
        control_channel=integer("control_channel", 1, 16, 16) - 1,
        notes=notes,
        programs=programs,
        controllers=controllers,
        mute=ports["mute"],
        solo=ports["solo"],
        launch_bars=phrase_bars if launch == "phrase" else 1,
        phrase_bars=phrase_bars,
        lane=integer("lane", 0, 15, 0),
        loop=loop,
        bars=integer("bars", 1, 64, 4),
        infill_bars=tuple(infill),
        source=source,
    )


def estimate_key(pitches: list[int]) -> tuple[int, str] | None:
    """(tonic pitch class, "major" | "minor") that best fits the pitch classes (Krumhansl-Schmuckler
    correlation with the key profiles); None with fewer than two distinct pitch classes."""
    classes = [0.0] * 12
    for pitch in pitches:
        classes[pitch % 12] += 1.0
    if sum(1 for c in classes if c) < 2:
        return None
    best: tuple[float, int, str] | None = None
    for mode, profile in (("major", _MAJOR_PROFILE), ("minor", _MINOR_PROFILE)):
        for tonic in range(12):
            rotated = [profile[(pc - tonic) % 12] for pc in range(12)]
            score = _correlation(classes, rotated)
            if best is None or score > best[0] + 1e-12:
                best = (score, tonic, mode)
    assert best is not None
    return best[1], best[2]


def _correlation(xs: list[float], ys: list[float]) -> float:
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    num = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
    den = (sum((x - mean_x) ** 2 for x in xs) * sum((y - mean_y) ** 2 for y in ys)) ** 0.5
    return num / den if den else 0.0


@dataclass(frozen=True)
class ControlAction:
    """A command from the DAW, with the attributes picked there.

    kind: one of COMMANDS, or "mix" (mute/solo an output port).
    """

    kind: str
    key: tuple[int, str] | None = None
    density: float | None = None
    bars: int = 4
    launch_bars: int = 1
    lane: int = 0
    loop: bool = True
    infill_bars: tuple[int, ...] = (1,)
    output_port: int | None = None
    mute: bool | None = None
    solo: bool | None = None


@dataclass(frozen=True)
class ControlResult:
    """What one control-channel message did: an action to carry out, a setting changed (`said`),
    or a refusal (`refused`, saying what the message was and why it means nothing)."""

    action: ControlAction | None = None
    said: str = ""
    refused: str = ""


class ControlMapper:
    """Reads the DAW's messages: those on the control channel become ControlResults; notes held on
    the other channels are tracked for the key. Thread-safe (the input thread feeds it)."""

    def __init__(self, mapping: ControlMapping = DEFAULT_MAPPING) -> None:
        self.mapping = mapping
        self._held: dict[tuple[int, int], int] = {}
        self._density: float | None = None
        self._bars = mapping.bars
        self._launch_bars = mapping.launch_bars
        self._loop = mapping.loop
        self._lane = mapping.lane
        self._lock = threading.Lock()

    def held_pitches(self) -> list[int]:
        with self._lock:
            return sorted(pitch for (_, pitch), count in self._held.items() if count > 0)

    def handle(self, data: bytes) -> ControlResult | None:
        """None: not a control message (the caller plays/captures it). Otherwise what it did."""
        channel = midi.channel_of(data)
        if channel is None:
            return None
        if channel != self.mapping.control_channel:
            self._track(data)
            return None
        status = data[0] & 0xF0
        with self._lock:
            if midi.is_note_on(data):
                return self._command(self.mapping.notes.get(data[1]), f"note {data[1]}")
            if midi.is_note_off(data):
                return ControlResult()  # a trigger's release means nothing more
            if status == 0xC0 and len(data) >= 2:
                return self._command(self.mapping.programs.get(data[1]), f"program change {data[1]}")
            if status == midi.CONTROL_CHANGE and len(data) == 3:
                return self._controller(data[1], data[2])
        return self._refuse(f"message {data.hex(' ')}")

    def _track(self, data: bytes) -> None:
        key = (data[0] & 0x0F, data[1]) if len(data) == 3 else None
        with self._lock:
            if midi.is_note_on(data):
                self._held[key] = self._held.get(key, 0) + 1  # type: ignore[index]
            elif midi.is_note_off(data) and self._held.get(key):  # type: ignore[arg-type]
                self._held[key] -= 1  # type: ignore[index]
                if not self._held[key]:  # type: ignore[index]
                    del self._held[key]  # type: ignore[arg-type]

    def _refuse(self, what: str) -> ControlResult:
        return ControlResult(refused=f"{what} on control channel {self.mapping.control_channel + 1} means nothing in "
                                     f"{self.mapping.source}; ignored (the session keeps playing)")

    def _command(self, kind: str | None, what: str) -> ControlResult:
        if kind is None:
            return self._refuse(what)
        held = sorted(pitch for (_, pitch), count in self._held.items() if count > 0)
        action = ControlAction(
            kind=kind,
            key=estimate_key(held),
            density=self._density,
            bars=self._bars,
            launch_bars=self._launch_bars,
            lane=self._lane,
            loop=self._loop,
            infill_bars=self.mapping.infill_bars,
        )
        return ControlResult(action=action)

    def _controller(self, number: int, value: int) -> ControlResult:
        mapping = self.mapping
        if number in mapping.mute:
            return ControlResult(action=ControlAction("mix", output_port=mapping.mute[number], mute=value >= 64))
        if number in mapping.solo:
            return ControlResult(action=ControlAction("mix", output_port=mapping.solo[number], solo=value >= 64))
        setting = mapping.controllers.get(number)
        if setting is None:
            return self._refuse(f"controller {number}")
        if setting == "density":
            self._density = round(value / 127, 3)
            return ControlResult(said=f"density {self._density:.2f} for the next clip")
        if setting == "bars":
            self._bars = 1 + value * 15 // 127  # 1-16 bars across the knob
            return ControlResult(said=f"{self._bars} bar(s) for the next clip")
        if setting == "launch":
            self._launch_bars = mapping.phrase_bars if value >= 64 else 1
            return ControlResult(said=f"next clips launch on the next {'phrase' if value >= 64 else 'bar'}")
        if setting == "loop":
            self._loop = value >= 64
            return ControlResult(said=f"next clips {'loop' if self._loop else 'play once'}")
        self._lane = value % 16  # "lane"
        return ControlResult(said=f"next clips go to lane {self._lane}")


def with_source(mapping: ControlMapping, source: str) -> ControlMapping:
    return replace(mapping, source=source)
