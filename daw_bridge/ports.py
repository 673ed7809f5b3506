"""MIDI ports through python-rtmidi, with the API chosen by configuration.

JACK, ALSA and CoreMIDI let the bridge create virtual ports that the DAW sees as a MIDI device. The
Windows MultiMedia API cannot create ports: there the bridge connects by name to ports that a
loopback driver (loopMIDI, loopBe1) provides, and the DAW uses the other end of the loopback.
"""

from __future__ import annotations

import enum
import logging
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Callable

import rtmidi

from ostinato.errors import InvalidInput, MissingAsset


class MidiApi(enum.Enum):
    JACK = "jack"
    ALSA = "alsa"
    COREMIDI = "coremidi"
    WINDOWS_MM = "windows-mm"

    @property
    def rtmidi_api(self) -> int:
        return {
            MidiApi.JACK: rtmidi.API_UNIX_JACK,
            MidiApi.ALSA: rtmidi.API_LINUX_ALSA,
            MidiApi.COREMIDI: rtmidi.API_MACOSX_CORE,
            MidiApi.WINDOWS_MM: rtmidi.API_WINDOWS_MM,
        }[self]

    @property
    def has_virtual_ports(self) -> bool:
        return self is not MidiApi.WINDOWS_MM

    @classmethod
    def parse(cls, name: str) -> "MidiApi":
        for api in cls:
            if api.value == name.lower():
                return api
        raise InvalidInput(f"unknown MIDI API {name!r}; choose one of {', '.join(a.value for a in cls)}")


@dataclass(frozen=True)
class PortConfig:
    """Which ports the bridge opens.

    Args:
        api: the MIDI API.
        client_name: the client name the DAW sees (JACK/ALSA client, CoreMIDI source owner).
        port_name: base name of the ports: "<port_name> out" (or "out 1", "out 2"... with one port per
            track) and "<port_name> in".
        output_ports: 1 puts every track on one port, on the clip's own channels; N > 1 opens N ports
            and sends track t to port min(t, N - 1).
        connect_output: connect to an existing output port whose name contains this text instead of
            creating a virtual one (required on Windows: the loopback driver's port, e.g. "loopMIDI").
        connect_input: likewise for the input.
        open_input: whether to open an input port at all (clock follower and capture need it).
    """

    api: MidiApi = MidiApi.JACK
    client_name: str = "Ostinato"
    port_name: str = "Ostinato"
    output_ports: int = 1
    connect_output: str | None = None
    connect_input: str | None = None
    open_input: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.output_ports <= 16:
            raise InvalidInput(f"output_ports must be 1-16, got {self.output_ports}")
        if not self.api.has_virtual_ports and self.connect_output is None:
            raise InvalidInput(
                "the Windows MultiMedia API cannot create virtual MIDI ports: install a loopback driver "
                "such as loopMIDI, create a port there, and pass its name (e.g. --connect-output loopMIDI)"
            )


InputCallback = Callable[[bytes, float], None]

# Long enough for a few cycles of any usual MIDI system (JACK periods are 1-25 ms).
SETTLE_S = 0.08


# How fast the MIDI system's clock and the monotonic clock may drift apart (crystals: tens of ppm).
MAX_DRIFT = 1e-4


class InputPoller:
    """Reads an rtmidi input from a Python thread instead of an rtmidi callback.

    With a callback, the MIDI system's own thread must take the GIL for every message: python-rtmidi
    frees a cancelled callback while that thread may be about to call it (a use-after-free that
    corrupted the interpreter under load), and it holds the GIL while closing a port, which a
    synchronous JACK server answers only after every client's callback has run (seconds of stall).
    Polling keeps the MIDI system's thread out of Python entirely. Arrival times come from rtmidi's
    own per-message time deltas, taken in the MIDI system's thread, anchored to the monotonic clock
    at the earliest the poll could have seen them, so the poll interval adds no jitter.

    Args:
        midi_in: an open rtmidi.MidiIn (no callback set).
        on_message: called with (bytes, monotonic arrival time) from the polling thread.
        interval_s: sleep between polls when nothing is waiting.
    """

    def __init__(self, midi_in: "rtmidi.MidiIn", on_message: Callable[[bytes, float], None], interval_s: float = 0.0005,
                 name: str = "ostinato-midi-in") -> None:
        self._in = midi_in
        self._on_message = on_message
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._stream_s = 0.0  # sum of rtmidi's deltas: the MIDI system's clock, from the first message
        self._offset_s: float | None = None  # monotonic = stream + offset
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._in.get_message()
            if message is None:
                time.sleep(self._interval_s)
                continue
            data, delta_s = message
            now = time.monotonic()
            self._stream_s += delta_s
            # A message cannot have arrived after we saw it: the smallest (poll time - stream time)
            # is the best anchor. Let it creep up only as fast as two clocks can drift apart
            # (MAX_DRIFT of the stream time elapsed), so polls held up for seconds by a busy machine
            # do not drag the anchor late (it once crept a whole clock tick in ten busy seconds, and
            # snapped back when the polls caught up: a tick that looked doubled).
            candidate = now - self._stream_s
            if self._offset_s is None or candidate < self._offset_s:
                self._offset_s = candidate
            else:
                self._offset_s += min(candidate - self._offset_s, MAX_DRIFT * delta_s)
            try:
                self._on_message(bytes(data), min(now, self._stream_s + self._offset_s))
            except Exception:  # noqa: BLE001 - one bad message must not stop the input
                logging.getLogger("ostinato.daw_bridge").exception("input handler failed on %s", bytes(data).hex())

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(1.0)


def _check_api(api: MidiApi) -> None:
    if api.rtmidi_api not in rtmidi.get_compiled_api():
        raise MissingAsset(
            f"this python-rtmidi build has no {api.value} support (it has: "
            f"{', '.join(rtmidi.get_api_name(a) for a in rtmidi.get_compiled_api())})"
        )


def find_port(names: list[str], wanted: str, direction: str) -> int:
    matches = [i for i, name in enumerate(names) if wanted.lower() in name.lower()]
    if not matches:
        raise MissingAsset(
            f"no MIDI {direction} port named like {wanted!r}; available: {', '.join(names) or 'none'}"
        )
    return matches[0]


def new_client(kind: type, api: MidiApi, client_name: str):  # type: ignore[no-untyped-def]
    try:
        return kind(api.rtmidi_api, name=client_name)
    except (SystemError, rtmidi.RtMidiError, RuntimeError) as error:
        hint = ""
        if api is MidiApi.JACK:
            hint = " Is a JACK server running (jackd, or JACK_DEFAULT_SERVER set to its name)?"
        elif api is MidiApi.ALSA:
            hint = " ALSA needs /dev/snd/seq (the snd-seq kernel module)."
        raise MissingAsset(f"cannot open the {api.value} MIDI API ({error}).{hint}") from error


def client_name_for(config: PortConfig, role: str) -> str:
    """The MIDI client that carries one port. python-rtmidi opens one client per port; on JACK, clients
    with one name get renamed (`Ostinato-01`), so each port's client is named after its role there:
    `Ostinato out`, `Ostinato out 2`, `Ostinato in`. Other APIs keep the one client name."""
    return f"{config.client_name} {role}" if config.api is MidiApi.JACK else config.client_name


def _output_roles(count: int) -> list[str]:
    return ["out"] if count == 1 else [f"out {index + 1}" for index in range(count)]


def _listing(api: MidiApi) -> tuple[set[str], set[str]]:
    """(sources, destinations): every output and input port the MIDI system shows, full names."""
    lister_in = new_client(rtmidi.MidiIn, api, "Ostinato lister")
    lister_out = new_client(rtmidi.MidiOut, api, "Ostinato lister")
    try:
        return set(lister_in.get_ports()), set(lister_out.get_ports())
    finally:
        del lister_in, lister_out


def _our_port(new: set[str], every: set[str], client: str, port: str) -> str:
    """The full name of the port we just opened: among ports named `port` under `client` (or JACK's
    renamed `client-NN`), the one that was not there before we opened ours."""
    def ours(full: str) -> bool:
        owner, _, short = full.rpartition(":")
        return short == port and (owner == client or (owner.startswith(client + "-") and owner[len(client) + 1:].isdigit()))

    fresh = sorted(name for name in new if ours(name))
    if fresh:
        return fresh[0]
    known = sorted(name for name in every if ours(name))
    return known[0] if known else f"{client}:{port}"


def list_ports(api: MidiApi) -> tuple[list[str], list[str]]:
    """(sources the bridge can read, destinations it can send to) on `api`, sorted, as full names."""
    _check_api(api)
    sources, destinations = _listing(api)
    return sorted(sources), sorted(destinations)


class PortSet:
    """The bridge's open ports. `send(data, output)` is safe from one sending thread."""

    def __init__(self, config: PortConfig, on_input: InputCallback | None = None) -> None:
        _check_api(config.api)
        self.config = config
        self._outputs: list[rtmidi.MidiOut] = []
        self._input: rtmidi.MidiIn | None = None
        self._on_input = on_input
        self._closing = False
        self._poller: InputPoller | None = None
        self.output_names: list[str] = []
        self.input_name: str | None = None
        try:
            self._open(config)
        except BaseException:
            self.close()
            raise

    def _open(self, config: PortConfig) -> None:
        before = _listing(config.api) if config.api is MidiApi.JACK else None
        for index in range(config.output_ports):
            role = "out" if config.output_ports == 1 else f"out {index + 1}"
            out = new_client(rtmidi.MidiOut, config.api, client_name_for(config, role))
            if config.connect_output is not None:
                wanted = config.connect_output if config.output_ports == 1 else f"{config.connect_output} {index + 1}"
                out.open_port(find_port(out.get_ports(), wanted, "output"))
                self.output_names.append(wanted)
            else:
                name = f"{config.port_name} {role}"
                out.open_virtual_port(name)
                self.output_names.append(name)
            self._outputs.append(out)
        if config.open_input:
            inp = new_client(rtmidi.MidiIn, config.api, client_name_for(config, "in"))
            if config.connect_input is not None:
                inp.open_port(find_port(inp.get_ports(), config.connect_input, "input"))
                self.input_name = config.connect_input
            else:
                self.input_name = f"{config.port_name} in"
                inp.open_virtual_port(self.input_name)
            # Clock and transport are the point of the input port: do not filter them out.
            inp.ignore_types(sysex=True, timing=False, active_sense=True)
            self._input = inp
            self._poller = InputPoller(inp, self._received)
        if before is not None:
            self._resolve_jack_names(config, before)

    def _resolve_jack_names(self, config: PortConfig, before: tuple[set[str], set[str]]) -> None:
        """Replaces the short names of our virtual JACK ports by their full `client:port` names as JACK
        registered them (JACK renames a client whose name is taken: `Ostinato in-01`)."""
        sources, destinations = _listing(config.api)
        if config.connect_output is None:
            self.output_names = [
                _our_port(sources - before[0], sources, client_name_for(config, role), name)
                for name, role in zip(self.output_names, _output_roles(config.output_ports))
            ]
        if config.open_input and config.connect_input is None and self.input_name is not None:
            self.input_name = _our_port(destinations - before[1], destinations, client_name_for(config, "in"), self.input_name)

    def _received(self, data: bytes, at_s: float) -> None:
        if self._on_input is not None and not self._closing:
            self._on_input(data, at_s)

    def set_input_callback(self, on_input: InputCallback | None) -> None:
        self._on_input = on_input

    @property
    def output_count(self) -> int:
        return len(self._outputs)

    def send(self, data: bytes, output: int = 0) -> None:
        self._outputs[min(output, len(self._outputs) - 1)].send_message(data)

    def send_all(self, data: bytes) -> None:
        for out in self._outputs:
            out.send_message(data)

    def close(self) -> None:
        """Stops reading, closes the ports and drops the rtmidi objects (the last reference going frees
        each client exactly once; explicit delete() followed by garbage collection crashed now and then)."""
        self._closing = True
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        if self._input is not None:
            self._input.close_port()
            self._input = None
        for out in self._outputs:
            out.close_port()
        self._outputs = []


def measure_transit_latency(api: MidiApi, messages: int = 32, client_name: str = "Ostinato latency") -> float:
    """Median seconds from `send_message` to the message arriving at another client of the same MIDI
    system, measured on a private pair of ports: the delay the MIDI system adds to everything the
    bridge sends and receives (on JACK about half a period). Raises MissingAsset where it cannot
    create ports (Windows) or nothing comes through."""
    _check_api(api)
    if not api.has_virtual_ports:
        raise MissingAsset("the Windows MultiMedia API cannot create the private ports this measurement needs")
    out = new_client(rtmidi.MidiOut, api, client_name)
    inp = new_client(rtmidi.MidiIn, api, client_name)
    arrived: dict[int, float] = {}
    connected = threading.Event()
    poller: InputPoller | None = None
    try:
        port = f"probe {id(out):x}"
        out.open_virtual_port(port)
        inp.open_port(find_port(inp.get_ports(), port, "output"))
        inp.ignore_types(sysex=True, timing=False, active_sense=False)

        def received(data: bytes, at_s: float) -> None:
            if data[1] == 0x66:
                arrived[data[2]] = at_s
            connected.set()

        poller = InputPoller(inp, received, name="ostinato-latency-probe")
        # JACK connects asynchronously: knock until the connection carries a message.
        deadline = time.monotonic() + 2.0
        while not connected.is_set() and time.monotonic() < deadline:
            out.send_message([0xBF, 0x65, 0])
            connected.wait(0.01)
        if not connected.is_set():
            raise MissingAsset(f"no message came back through a private {api.value} port pair")
        sent: dict[int, float] = {}
        for index in range(messages):
            sent[index] = time.monotonic()
            out.send_message([0xBF, 0x66, index])
            # Not a multiple of any period, so the sends sample every phase of the MIDI system's cycle.
            time.sleep(0.0031 + 0.0007 * (index % 5))
        time.sleep(0.05)
        transits = [arrived[i] - sent[i] for i in sent if i in arrived]
        if len(transits) < messages // 2:
            raise MissingAsset(f"only {len(transits)} of {messages} probe messages came back on {api.value}")
        return statistics.median(transits)
    finally:
        if poller is not None:
            poller.stop()
        inp.close_port()
        out.close_port()
