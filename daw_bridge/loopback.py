"""A stand-in DAW: a second client on the same MIDI system that sends clock and transport into the
bridge's input port and records what arrives from its output port, with arrival times. Tests and
benchmarks drive the bridge through real ports with it; it also checks a set-up without a DAW.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import rtmidi

from daw_bridge import midi
from daw_bridge.ports import SETTLE_S, InputPoller, MidiApi, find_port, new_client


def wait_until(target_s: float) -> None:
    """Sleeps until a monotonic time with ~0.1 ms error (a long sleep, then short ones)."""
    while True:
        remaining = target_s - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(remaining, 0.0002) if remaining < 0.001 else remaining - 0.0008)


@dataclass
class ClockRun:
    """The clock a stand-in DAW sent: `tick_s[k]` is when tick k (song position k/24 beats) was sent."""

    start_s: float = 0.0
    tick_s: list[float] = field(default_factory=list)
    tempo_at_tick: list[float] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def beat_time(self, beat: float) -> float:
        """When `beat` fell on the sent clock (interpolating between ticks)."""
        position = beat * midi.CLOCKS_PER_BEAT
        index = int(position)
        if index + 1 >= len(self.tick_s):
            raise ValueError(f"beat {beat} is past the end of the clock that was sent")
        fraction = position - index
        return self.tick_s[index] + fraction * (self.tick_s[index + 1] - self.tick_s[index])


class StandInDaw:
    """Connects to the bridge's ports by name and plays the DAW's part. When the bridge lives in the
    same process, close both with `close_together` (senders first)."""

    def __init__(self, api: MidiApi, bridge_output: str, bridge_input: str | None, client_name: str = "Stand-in DAW") -> None:
        self.received: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._in: rtmidi.MidiIn | None = new_client(rtmidi.MidiIn, api, client_name)
        self._in.open_port(find_port(self._in.get_ports(), bridge_output, "output"))
        self._in.ignore_types(sysex=True, timing=False, active_sense=True)
        self._poller: InputPoller | None = InputPoller(self._in, self._record, name="stand-in-daw-in")
        self._out = None
        if bridge_input is not None:
            self._out = new_client(rtmidi.MidiOut, api, client_name)
            self._out.open_port(find_port(self._out.get_ports(), bridge_input, "input"))
        self._clock_thread: threading.Thread | None = None
        self._stop_clock = threading.Event()

    def _record(self, data: bytes, at_s: float) -> None:
        with self._lock:
            self.received.append((at_s, data))

    def messages(self, keep: Callable[[bytes], bool] = lambda data: data[0] < 0xF0) -> list[tuple[float, bytes]]:
        with self._lock:
            return [item for item in self.received if keep(item[1])]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()

    def send(self, data: bytes) -> None:
        assert self._out is not None, "this stand-in DAW has no output"
        self._out.send_message(data)

    def run_clock(
        self,
        beats: float,
        tempo_bpm: Callable[[int], float] | float = 120.0,
        start: bytes = bytes((midi.START,)),
        lead_in_s: float = 0.05,
    ) -> ClockRun:
        """Sends Start (or Continue), then clock ticks for `beats` beats from a thread, at a tempo
        that may change per tick (`tempo_bpm(tick)`); returns at once with the run being filled in."""
        run = ClockRun()
        tempo = tempo_bpm if callable(tempo_bpm) else (lambda _tick: float(tempo_bpm))  # type: ignore[misc]
        ticks = int(beats * midi.CLOCKS_PER_BEAT) + 1
        self._stop_clock.clear()

        def play() -> None:
            run.start_s = time.monotonic()
            self.send(start)
            at = run.start_s + lead_in_s
            for tick in range(ticks):
                if self._stop_clock.is_set():
                    break
                wait_until(at)
                run.tick_s.append(time.monotonic())
                self.send(bytes((midi.CLOCK,)))
                run.tempo_at_tick.append(tempo(tick))
                at += 60.0 / (tempo(tick) * midi.CLOCKS_PER_BEAT)
            run.done.set()

        self._clock_thread = threading.Thread(target=play, name="stand-in-daw-clock", daemon=True)
        self._clock_thread.start()
        return run

    def stop_clock(self, send_stop: bool = True) -> None:
        self._stop_clock.set()
        if self._clock_thread is not None:
            self._clock_thread.join(2.0)
        if send_stop:
            self.send(bytes((midi.STOP,)))

    def stop_listening(self) -> None:
        """Stops recording (what was received stays readable)."""
        if self._poller is not None:
            self._poller.stop()
            self._poller = None

    def close(self) -> None:
        self.stop_clock(send_stop=False)
        self.stop_listening()
        if self._in is None:
            return
        self._in.close_port()
        if self._out is not None:
            self._out.close_port()
        # Dropping the last references frees the JACK clients now (see daw_bridge.ports.PortSet.close).
        self._in = None
        self._out = None


def close_together(daws: list[StandInDaw], bridges: list) -> None:  # type: ignore[type-arg]
    """Closes stand-in DAWs and bridges that live in one process, senders first: clocks stop, what is
    in flight arrives, the bridges close (their last all-notes-off reaching the DAWs), then the DAWs."""
    for daw in daws:
        daw.stop_clock(send_stop=False)
    time.sleep(SETTLE_S)
    for bridge in bridges:
        bridge.close()
    time.sleep(SETTLE_S)
    for daw in daws:
        daw.close()
