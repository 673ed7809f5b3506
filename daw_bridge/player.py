"""The thread that writes scheduled messages to the ports at the moment they are due.

rtmidi cannot timestamp outgoing messages, so the timing is ours: the player sleeps until a little
before a message is due, then waits out the last stretch in short sleeps, and writes it. It also
sends the clock when the bridge is clock master, releases every held note when the transport stops
or the bridge closes, and keeps the send error of every message for latency reports.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Protocol

from daw_bridge import midi
from daw_bridge.clock import MasterClock
from daw_bridge.midi import Clip, SoundingNotes, TimedMessage
from daw_bridge.scheduler import LookaheadScheduler
from daw_bridge.timeline import Clock, SystemClock, TransportState

log = logging.getLogger("ostinato.daw_bridge")


class MessageSink(Protocol):
    def send(self, data: bytes, output: int = 0) -> None: ...

    @property
    def output_count(self) -> int: ...


@dataclass(frozen=True)
class SendRecord:
    target_s: float
    sent_s: float
    data: bytes


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def try_realtime(priority: int) -> bool:
    """Moves the calling thread to SCHED_FIFO; returns whether that was allowed."""
    if not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, ValueError) as error:
        log.info("the port player runs without realtime priority (%s): timing suffers under CPU load", error)
        return False
    return True


class PortPlayer:
    """Plays beat-stamped messages on a sink following a transport.

    Args:
        sink: the ports (or anything with send(data, output)).
        transport: returns the current TransportState (the clock follower's, or the master transport's).
        master: send Start/Stop/clock ticks (the bridge is clock master).
        clock: monotonic time source.
        lookahead_s: how long before its time a message leaves the scheduler for the precise wait.
        spin_s: the final stretch waited in short sleeps instead of one long sleep.
        late_note_on_s: a note-on already this late is dropped rather than played out of time (its
            note-off still goes out, so nothing hangs).
        send_ahead_s: send every message this much before its time: the MIDI system's mean transit,
            so messages arrive on time rather than late by it.
        realtime_priority: run the thread under SCHED_FIFO at this priority (Linux, needs
            CAP_SYS_NICE or an rtprio limit, as JACK itself does); the thread sleeps almost all the
            time, but when a note is due it runs before busy non-realtime work.
    """

    def __init__(
        self,
        sink: MessageSink,
        transport: Callable[[], TransportState],
        master: bool = False,
        clock: Clock | None = None,
        lookahead_s: float = 0.01,
        spin_s: float = 0.0015,
        late_note_on_s: float = 0.25,
        send_ahead_s: float = 0.0,
        realtime_priority: int | None = None,
    ) -> None:
        self._sink = sink
        self._transport = transport
        self._master = MasterClock() if master else None
        self._clock = clock or SystemClock()
        self._scheduler = LookaheadScheduler(lookahead_s)
        self._spin_s = spin_s
        self._late_note_on_s = late_note_on_s
        self.send_ahead_s = send_ahead_s
        self._realtime_priority = realtime_priority
        self.realtime = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._sounding = SoundingNotes()
        self._records: deque[SendRecord] = deque(maxlen=20000)
        self._dropped_late = 0
        self._thread: threading.Thread | None = None
        self._sequence = itertools.count()
        self._was_playing = False
        self._muted: set[int] = set()
        self._soloed: set[int] = set()

    # -- mixing --------------------------------------------------------------------------------------
    def set_mix(self, output: int, mute: bool | None = None, solo: bool | None = None) -> None:
        """Mutes or solos one output port (as a DAW track's mute/solo buttons): note-ons to a silenced
        port are skipped; its held notes end at once."""
        with self._lock:
            if mute is not None:
                (self._muted.add if mute else self._muted.discard)(output)
            if solo is not None:
                (self._soloed.add if solo else self._soloed.discard)(output)
            offs = [(o, d) for o, d in self._sounding.release_where(self._silenced)]
        for port, data in offs:
            self._sink.send(data, port)

    def _silenced(self, output: int) -> bool:
        return output in self._muted or bool(self._soloed and output not in self._soloed)

    def mix(self) -> tuple[frozenset[int], frozenset[int]]:
        """(muted, soloed) output ports."""
        with self._lock:
            return frozenset(self._muted), frozenset(self._soloed)

    # -- feeding -------------------------------------------------------------------------------------
    def add(self, message: TimedMessage) -> None:
        with self._lock:
            self._scheduler.add(message)
        self._wake.set()

    def add_clip(self, clip: Clip, at_beat: float) -> None:
        with self._lock:
            self._scheduler.add_clip(clip, at_beat)
        self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._scheduler)

    def transport_changed(self) -> None:
        """Call after the transport starts, stops or moves, so the player reacts at once."""
        self._wake.set()

    # -- reports -------------------------------------------------------------------------------------
    def send_errors_s(self) -> list[float]:
        """sent - target for every message sent so far (positive: late)."""
        return [r.sent_s - r.target_s for r in list(self._records)]

    @property
    def records(self) -> list[SendRecord]:
        return list(self._records)

    @property
    def dropped_late(self) -> int:
        return self._dropped_late

    @property
    def late_note_on_s(self) -> float:
        return self._late_note_on_s

    @property
    def sounding(self) -> int:
        return len(self._sounding)

    # -- running -------------------------------------------------------------------------------------
    def start(self) -> "PortPlayer":
        self._thread = threading.Thread(target=self._run, name="ostinato-port-player", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stops the thread and releases every held note (All Notes Off on every channel)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(2.0)
        self.silence()

    def silence(self) -> None:
        """Releases every held note on every output, then All Notes Off on all channels."""
        with self._lock:
            offs = self._sounding.release()
        for output, data in offs:
            self._sink.send(data, output)
        for output in range(self._sink.output_count):
            for data in midi.all_notes_off():
                self._sink.send(data, output)

    def _run(self) -> None:
        if self._realtime_priority is not None:
            self.realtime = try_realtime(self._realtime_priority)
        try:
            self._loop()
        except Exception:  # noqa: BLE001 - a dying player must not leave notes hanging
            log.exception("the port player stopped")
            self.silence()

    def _loop(self) -> None:
        ready: list[tuple[float, int, int, bytes]] = []  # (time, sequence, output, data)
        while not self._stop.is_set():
            state = self._transport()
            now = self._clock.now()
            self._follow_transport(state, ready)
            with self._lock:
                for item in self._scheduler.due(state, now):
                    output = min(item.message.track, self._sink.output_count - 1)
                    heapq.heappush(
                        ready, (item.time_s - self.send_ahead_s, next(self._sequence), output, item.message.data)
                    )
            if self._master is not None and state.playing:
                horizon = state.beat_at(now + self._scheduler.lookahead_s)
                for beat in self._master.due(horizon):
                    at = state.time_at(beat)
                    assert at is not None
                    # Sequence -1 puts a tick before the notes of the same instant.
                    heapq.heappush(ready, (at - self.send_ahead_s, -1, -1, bytes((midi.CLOCK,))))
            if ready:
                target = ready[0][0]
                if target - self._clock.now() > self._spin_s + 0.0005:
                    self._sleep_until(target - self._spin_s, wake_on_news=True)
                    continue  # something may have arrived or the transport may have moved
                self._wait_precisely(target)
                _, _, output, data = heapq.heappop(ready)
                self._emit(target, output, data)
                continue
            wake_at = self._next_wakeup(state)
            # A followed clock refines tempo and phase with every tick: never sleep past the next few
            # ticks on an old estimate.
            limit = now + (0.01 if state.playing else 0.05)
            self._sleep_until(limit if wake_at is None else min(wake_at, limit), wake_on_news=True)

    def _next_wakeup(self, state: TransportState) -> float | None:
        with self._lock:
            beat = self._scheduler.next_beat()
        candidates = []
        if beat is not None and state.playing:
            at = state.time_at(beat)
            if at is not None:
                candidates.append(at - self._scheduler.lookahead_s)
        if self._master is not None and state.playing:
            candidates.append(self._clock.now() + 0.005)
        return min(candidates) if candidates else None

    def _follow_transport(self, state: TransportState, ready: list[tuple[float, int, int, bytes]]) -> None:
        if state.playing and not self._was_playing:
            with self._lock:
                stale = self._scheduler.drop_before(state.anchor_beat)
            if stale:
                log.info("dropped %d messages from before the new start position", stale)
            if self._master is not None:
                self._master.restart(state.anchor_beat)
                code = midi.START if state.anchor_beat == 0 else midi.CONTINUE
                if code == midi.CONTINUE:
                    self.broadcast(midi.song_position(int(state.anchor_beat * 4)))
                self.broadcast(bytes((code,)))
        elif not state.playing and self._was_playing:
            ready.clear()
            with self._lock:
                self._scheduler.clear()
            if self._master is not None:
                self.broadcast(bytes((midi.STOP,)))
            self.silence()
        self._was_playing = state.playing

    def broadcast(self, data: bytes) -> None:
        for output in range(self._sink.output_count):
            self._sink.send(data, output)

    def _emit(self, target: float, output: int, data: bytes) -> None:
        now = self._clock.now()
        if midi.is_note_on(data) and now - target > self._late_note_on_s:
            self._dropped_late += 1
            return
        if midi.is_note_on(data) and output >= 0 and self._silenced(output):
            return
        if midi.is_note_off(data) and output >= 0 and not self._sounding.holds(output, data):
            return  # its note-on was muted (or already released by a mute)
        if output < 0:
            self.broadcast(data)
        else:
            self._sink.send(data, output)
        sent = self._clock.now()
        with self._lock:
            self._sounding.update(data, max(output, 0))
        self._records.append(SendRecord(target, sent, data))

    def _sleep_until(self, target: float, wake_on_news: bool) -> None:
        remaining = target - self._clock.now()
        if remaining <= 0:
            return
        if wake_on_news:
            self._wake.wait(remaining)
            self._wake.clear()
        else:
            time.sleep(remaining)

    def _wait_precisely(self, target: float) -> None:
        while True:
            remaining = target - self._clock.now()
            if remaining <= 0:
                return
            # Linux oversleeps by ~50-100 us: short sleeps keep the error there without a busy loop.
            time.sleep(min(remaining, 0.0002) if remaining < 0.001 else remaining - 0.0008)
