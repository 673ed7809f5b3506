"""A stand-in DAW: a second client on the same MIDI system that sends clock and transport into the
bridge's input port and records what arrives from its output port, with arrival times. Tests and
benchmarks drive the bridge through real ports with it; it also checks a set-up without a DAW.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import rtmidi

from daw_bridge import midi
from daw_bridge.ports import SETTLE_S, InputPoller, MidiApi, find_port, new_client
from ostinato.errors import MissingAsset


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
    realtime: bool = False  # the clock went out under SCHED_FIFO
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
        self._api = api
        self._bridge_input = bridge_input
        self._client_name = client_name
        self._clock_thread: threading.Thread | None = None
        self._sender: subprocess.Popen[str] | None = None
        self._sender_realtime = False

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
        """Sends Start (or Continue), then clock ticks for `beats` beats, at a tempo that may change per
        tick (`tempo_bpm(tick)`); returns at once with the run being filled in. The clock goes out from
        a process of its own (daw_bridge.clock_sender), as a DAW's goes out from its audio thread: a
        thread here would wait for the GIL and send late bursts on a busy machine."""
        self.stop_clock(send_stop=False)
        tempo = tempo_bpm if callable(tempo_bpm) else (lambda _tick: float(tempo_bpm))  # type: ignore[misc]
        ticks = int(beats * midi.CLOCKS_PER_BEAT) + 1
        tempi = [float(tempo(tick)) for tick in range(ticks)]
        sender = self._clock_sender()
        run = ClockRun(realtime=self._sender_realtime)
        assert sender.stdin is not None and sender.stdout is not None
        lines = sender.stdout

        def follow() -> None:
            # Fills the run in as the sender reports each tick it sent, until it says the run is done.
            for line in lines:
                word, _, rest = line.strip().partition(" ")
                if word == "start":
                    run.start_s = float(rest)
                elif word == "tick":
                    run.tick_s.append(float(rest.split()[0]))
                    run.tempo_at_tick.append(tempi[len(run.tick_s) - 1])
                elif word == "done":
                    break
            run.done.set()

        self._clock_thread = threading.Thread(target=follow, name="stand-in-daw-clock", daemon=True)
        self._clock_thread.start()
        sender.stdin.write(json.dumps({"start": start.hex(), "lead_in_s": lead_in_s,
                                       "intervals_s": [60.0 / (t * midi.CLOCKS_PER_BEAT) for t in tempi]}) + "\n")
        sender.stdin.flush()
        while not run.start_s and not run.done.is_set() and sender.poll() is None:
            time.sleep(0.0005)  # the Start is out: the run's times are known from here
        return run

    def _clock_sender(self) -> subprocess.Popen[str]:
        if self._sender is None or self._sender.poll() is not None:
            assert self._bridge_input is not None, "this stand-in DAW has no output"
            self._sender = subprocess.Popen(
                [sys.executable, "-m", "daw_bridge.clock_sender", "--api", self._api.value,
                 "--port", self._bridge_input, "--client-name", f"{self._client_name} clock"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
            assert self._sender.stdout is not None
            ready = self._sender.stdout.readline()
            if not ready.startswith("ready"):
                self._sender.kill()
                raise MissingAsset(f"the stand-in DAW's clock process did not start: {ready!r}")
            self._sender_realtime = "realtime=1" in ready
        return self._sender

    def stop_clock(self, send_stop: bool = True) -> None:
        if self._sender is not None and self._sender.poll() is None and self._clock_thread is not None \
                and self._clock_thread.is_alive():
            assert self._sender.stdin is not None
            try:
                self._sender.stdin.write("stop\n")
                self._sender.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
        if self._clock_thread is not None:
            self._clock_thread.join(2.0)
            self._clock_thread = None
        if send_stop:
            time.sleep(SETTLE_S)  # the clock's last ticks reach the bridge before this Stop
            self.send(bytes((midi.STOP,)))

    def stop_listening(self) -> None:
        """Stops recording (what was received stays readable)."""
        if self._poller is not None:
            self._poller.stop()
            self._poller = None

    def close(self) -> None:
        self.stop_clock(send_stop=False)
        if self._sender is not None:
            try:
                self._sender.communicate(input="", timeout=10)  # end of input: it closes its port
            except (subprocess.TimeoutExpired, BrokenPipeError, OSError, ValueError):
                self._sender.kill()
                self._sender.wait(5)
            self._sender = None
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
