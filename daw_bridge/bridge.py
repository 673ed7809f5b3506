"""The local bridge: the DAW-facing half that `ostinato bridge` runs next to the DAW.

It owns the ports, follows the DAW's clock (or is the clock master), plays beat-stamped messages on
the output in time with that clock, captures what the user plays on the input, and tells its owner
(the CLI, which forwards to a server session) about transport changes, once a beat, and about every
note played.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from daw_bridge import midi
from daw_bridge.capture import Capture
from daw_bridge.clock import ClockFollower, TransportEvent
from daw_bridge.midi import Clip, TimedMessage
from daw_bridge.player import MessageSink, PortPlayer, percentile
from daw_bridge.ports import MidiApi, PortConfig, PortSet, measure_transit_latency
from daw_bridge.timeline import Clock, SystemClock, TimeSignature, Transport, TransportState, check_tempo
from ostinato.errors import MissingAsset

log = logging.getLogger("ostinato.daw_bridge")


# Time the last messages get to leave before the ports close (many JACK periods, a few ms each).
CLOSE_DRAIN_S = 0.1
# Messages sent before the output latency is reported as measured.
MIN_LATENCY_SAMPLES = 16


class _StatusTracker:
    """Turns what the clock follower hears into status lines: the first clock, Start/Stop/Continue as
    they arrive, tempo changes of half a BPM or more, and ticks that went missing on the way."""

    def __init__(self) -> None:
        self._heard_clock = False
        self._tempo_bpm: float | None = None
        self._tempo_said_s = 0.0
        self._lost = 0

    def update(self, change: TransportEvent | None, follower: ClockFollower, at_s: float) -> list[str]:
        lines: list[str] = []
        state = follower.state
        if change is TransportEvent.START:
            lines.append("Start: armed, beat 0 is the next clock tick")
        elif change is TransportEvent.CONTINUE:
            lines.append(f"Continue: armed at beat {state.anchor_beat:g}")
        elif change is TransportEvent.RUNNING:
            lines.append(f"playing from beat {state.anchor_beat:g} at {follower.tempo_bpm:.1f} BPM")
        elif change is TransportEvent.STOP:
            lines.append(f"Stop at beat {state.anchor_beat:.2f}")
        elif change is TransportEvent.LOCATE:
            lines.append(f"song position: beat {state.anchor_beat:g}")
        stats = follower.stats()
        if stats.ticks >= 2 and not self._heard_clock:
            self._heard_clock = True
            self._tempo_bpm, self._tempo_said_s = stats.tempo_bpm, at_s
            lines.append(f"clock: {stats.tempo_bpm:.1f} BPM")
        elif self._tempo_bpm is not None and stats.ticks >= 24 and abs(stats.tempo_bpm - self._tempo_bpm) >= 0.5 \
                and at_s - self._tempo_said_s >= 0.5:
            self._tempo_bpm, self._tempo_said_s = stats.tempo_bpm, at_s
            lines.append(f"tempo: {stats.tempo_bpm:.1f} BPM")
        if stats.lost_ticks != self._lost:
            lines.append(f"clock: {stats.lost_ticks - self._lost} tick(s) lost on the way, position kept on the DAW's")
            self._lost = stats.lost_ticks
        return lines


class ClockMode(enum.Enum):
    FOLLOW = "follow"
    MASTER = "master"


@dataclass(frozen=True)
class BridgeConfig:
    """Args:
    ports: which ports to open and how.
    clock_mode: follow the DAW's MIDI clock, or send our own.
    tempo_bpm: master tempo, and the follower's guess until it hears two ticks.
    time_signature: the bar grid for capture.
    clock_timeout_s: following, a transport that hears no tick for this long is taken as stopped
        (the DAW quit or was disconnected): every held note is released.
    measure_latency: measure the MIDI system's transit delay at start-up.
    compensate_latency: with a measured transit, date incoming clock ticks that much earlier and send
        notes that much early, so notes reach the DAW on its beat instead of two transits late.
    realtime_priority: SCHED_FIFO priority of the thread that sends notes (None: ordinary
        scheduling); where the system refuses it the bridge runs without it and says so in the log.
    """

    ports: PortConfig = field(default_factory=PortConfig)
    clock_mode: ClockMode = ClockMode.FOLLOW
    tempo_bpm: float = 120.0
    time_signature: TimeSignature = field(default_factory=TimeSignature)
    clock_timeout_s: float = 1.0
    measure_latency: bool = True
    compensate_latency: bool = True
    realtime_priority: int | None = 20


@dataclass(frozen=True)
class PositionReport:
    beat: float
    tempo_bpm: float
    playing: bool


class LocalBridge:
    """Ports + clock + player + capture.

    Args:
        config: see BridgeConfig.
        on_position: called (from the MIDI input thread) on every transport change and once a beat.
        on_play: called with (bytes, beat) for every channel message the user plays.
        sink: send here instead of opening ports (tests of the pure parts); no input then.
        clock: monotonic time source.
    """

    def __init__(
        self,
        config: BridgeConfig,
        on_position: Callable[[PositionReport], None] | None = None,
        on_play: Callable[[bytes, float], None] | None = None,
        sink: MessageSink | None = None,
        clock: Clock | None = None,
        on_status: Callable[[str], None] | None = None,
        on_control: Callable[[bytes, float], bool] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock or SystemClock()
        self._on_position = on_position
        self._on_play = on_play
        self._on_status = on_status
        # Sees every channel message first; True means it was a control message (not captured).
        self._on_control = on_control
        self._status = _StatusTracker()
        self.capture = Capture(config.tempo_bpm, config.time_signature)
        self._follower = ClockFollower(check_tempo(config.tempo_bpm))
        self._transport = Transport(self._clock, config.tempo_bpm)
        self._last_reported_beat = -1
        self._free_origin_s = self._clock.now()
        self.transit_latency_s = 0.0
        self._closed = threading.Event()
        master = config.clock_mode is ClockMode.MASTER
        self.ports: PortSet | None = None
        if sink is None:
            if config.measure_latency and config.ports.api.has_virtual_ports:
                try:
                    self.transit_latency_s = measure_transit_latency(config.ports.api)
                except MissingAsset as error:
                    log.warning("output latency not measured: %s", error)
            self.ports = PortSet(config.ports, self._received)
            sink = self.ports
        self._input_offset_s = self.transit_latency_s if config.compensate_latency else 0.0
        self.player = PortPlayer(
            sink,
            self.transport_state,
            master=master,
            clock=self._clock,
            send_ahead_s=self.transit_latency_s if config.compensate_latency else 0.0,
            realtime_priority=config.realtime_priority,
        ).start()
        self._watchdog: threading.Thread | None = None
        if not master:
            self._watchdog = threading.Thread(target=self._watch_clock, name="ostinato-clock-watchdog", daemon=True)
            self._watchdog.start()

    # -- transport ----------------------------------------------------------------------------------
    def transport_state(self) -> TransportState:
        if self.config.clock_mode is ClockMode.MASTER:
            return self._transport.state
        return self._follower.state

    def position(self, at_s: float | None = None) -> PositionReport:
        state = self.transport_state()
        return PositionReport(state.beat_at(self._clock.now() if at_s is None else at_s), state.tempo_bpm, state.playing)

    @property
    def tempo_bpm(self) -> float:
        return self.transport_state().tempo_bpm

    @property
    def clock_follower(self) -> ClockFollower:
        return self._follower

    def _say(self, text: str) -> None:
        if self._on_status is not None:
            try:
                self._on_status(text)
            except Exception:  # noqa: BLE001 - a status printer must not stop the input thread
                log.exception("status callback failed")

    def start(self) -> None:
        """Master mode: Start from beat 0 (sends Start and the clock). Following, the DAW starts."""
        if self.config.clock_mode is ClockMode.MASTER:
            self._transport.start()
            self._changed()

    def stop(self) -> None:
        if self.config.clock_mode is ClockMode.MASTER:
            self._transport.stop()
            self._changed()

    def resume(self) -> None:
        if self.config.clock_mode is ClockMode.MASTER:
            self._transport.resume()
            self._changed()

    def set_tempo(self, tempo_bpm: float) -> None:
        if self.config.clock_mode is ClockMode.MASTER:
            self._transport.set_tempo(tempo_bpm)
            self._changed()

    def _changed(self, at_s: float | None = None) -> None:
        self.player.transport_changed()
        self._report(force=True, at_s=at_s)

    def _report(self, force: bool = False, at_s: float | None = None) -> None:
        if self._on_position is None:
            return
        report = self.position(at_s)
        whole = math.floor(report.beat + 1e-6)
        if force or (report.playing and whole != self._last_reported_beat):
            self._last_reported_beat = whole
            self._on_position(report)

    # -- input --------------------------------------------------------------------------------------
    def _received(self, data: bytes, at_s: float) -> None:
        try:
            self.feed_input(data, at_s)
        except Exception:  # noqa: BLE001 - never kill the thread that reads the input port
            log.exception("bad input message %s", data.hex())

    def feed_input(self, data: bytes, at_s: float) -> None:
        """Handles one message from the DAW (called by the input reader; tests call it directly)."""
        if not data:
            return
        if data[0] >= 0xF0:
            if self.config.clock_mode is ClockMode.FOLLOW:
                at_s -= self._input_offset_s
                change = self._follower.feed(data, at_s)
                if change is not None:
                    if change is TransportEvent.START:
                        self._last_reported_beat = -1
                    self._changed(at_s)
                elif data[0] == midi.CLOCK:
                    self._report(at_s=at_s)
                for line in self._status.update(change, self._follower, at_s):
                    self._say(line)
            return
        state = self.transport_state()
        if self._on_control is not None and self._on_control(data, at_s):
            return
        if state.playing:
            beat = state.beat_at(at_s)
        else:
            beat = (at_s - self._free_origin_s) / state.seconds_per_beat
        self.capture.record(data, beat)
        if self._on_play is not None:
            self._on_play(data, beat)

    def _watch_clock(self) -> None:
        while not self._closed.wait(self.config.clock_timeout_s / 4):
            state = self._follower.state
            last = self._follower.last_tick_s
            now = self._clock.now()
            if state.playing and last is not None and now - last > self.config.clock_timeout_s:
                log.warning("no MIDI clock for %.1f s: taking the transport as stopped", now - last)
                self._follower.feed(bytes((midi.STOP,)), now)
                self._changed()

    # -- output -------------------------------------------------------------------------------------
    def play(self, data: bytes, beat: float, track: int = 0) -> None:
        """Schedules one message at a beat of the DAW's transport."""
        self.player.add(TimedMessage.of(beat, data, track))

    def play_clip(self, clip: Clip, at_beat: float) -> None:
        self.player.add_clip(clip, at_beat)

    @property
    def output_latency_measured(self) -> bool:
        """Whether enough notes have gone out for output_latency_s to mean something."""
        return len(self.player.records) >= MIN_LATENCY_SAMPLES

    @property
    def output_latency_s(self) -> float:
        """Delay from a message's time on the DAW's clock to the DAW receiving it: the player's median
        lateness so far, plus, when not compensated, the transit of the clock in and of the notes out
        (following) or of the notes out (master: the DAW hears our clock through the same delay)."""
        errors = self.player.send_errors_s()
        lateness = max(0.0, percentile(errors, 0.5))
        if self.config.compensate_latency:
            return lateness
        transits = 1 if self.config.clock_mode is ClockMode.MASTER else 2
        return lateness + transits * self.transit_latency_s

    def close(self) -> None:
        """Releases every held note (All Notes Off), stops the threads and closes the ports."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self.config.clock_mode is ClockMode.MASTER and self._transport.state.playing:
            self._transport.stop()
            self.player.transport_changed()
        self.player.close()
        if self.config.clock_mode is ClockMode.MASTER:
            self.player.broadcast(bytes((midi.STOP,)))
        if self.ports is not None:
            # rtmidi hands sent messages to the MIDI system's next cycle (JACK: the next process
            # period); a port closed first drops them, and the All Notes Off with them.
            time.sleep(CLOSE_DRAIN_S)
            self.ports.close()

    def __enter__(self) -> "LocalBridge":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def default_api() -> MidiApi:
    """JACK on Linux (works without kernel sound modules), CoreMIDI on macOS, MultiMedia on Windows."""
    import sys

    if sys.platform == "darwin":
        return MidiApi.COREMIDI
    if sys.platform.startswith("win"):
        return MidiApi.WINDOWS_MM
    return MidiApi.JACK
