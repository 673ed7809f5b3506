"""What a session's followers receive: the events, numbered without gaps, and each follower's own
queue (so one that leaves or falls behind costs the others nothing)."""

from __future__ import annotations

import queue
import uuid
from dataclasses import dataclass
from typing import Union

from ostinato.errors import LimitExceeded, OstinatoError
from ostinato.runtime import ProgressEvent


@dataclass(frozen=True)
class Opened:
    session_id: str
    output_latency_s: float


@dataclass(frozen=True)
class ProgressUpdate:
    progress: ProgressEvent
    elapsed_s: float


@dataclass(frozen=True)
class MidiOut:
    data: bytes
    time_s: float
    beat: float
    track: int


@dataclass(frozen=True)
class ClipReady:
    midi: bytes
    wav: bytes
    launch_beat: float


@dataclass(frozen=True)
class TransportChanged:
    command: str  # "start", "stop", "continue"


@dataclass(frozen=True)
class MixChanged:
    output_port: int
    mute: bool | None
    solo: bool | None


@dataclass(frozen=True)
class Notice:
    code: str
    message: str


Payload = Union[Opened, ProgressUpdate, MidiOut, ClipReady, TransportChanged, Notice, MixChanged]


@dataclass(frozen=True)
class SessionEvent:
    sequence: int
    payload: Payload
    request_id: str = ""
    # Monotonic time at which the session published the event (for latency measurements).
    published_s: float = 0.0


class Watcher:
    """One follower's queue of events. `next()` blocks; None means the watcher was closed."""

    _CLOSED = object()

    def __init__(self, session_id: str, max_queue: int) -> None:
        self.session_id = session_id
        self.id = uuid.uuid4().hex[:8]
        self._queue: queue.Queue[object] = queue.Queue(max_queue)
        self.closed = False
        self.failure: OstinatoError | None = None

    def deliver(self, event: SessionEvent) -> bool:
        """Queues an event; returns False (and closes) when the watcher has fallen too far behind."""
        if self.closed:
            return False
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.failure = LimitExceeded("events waiting for this session follower", self._queue.maxsize + 1, self._queue.maxsize)
            self.close()
            return False
        return True

    def next(self, timeout_s: float | None = None) -> SessionEvent | None:
        """The next event; None when closed (or on timeout)."""
        try:
            item = self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None
        if item is Watcher._CLOSED:
            self._queue.put_nowait(Watcher._CLOSED)  # later callers see the close too
            return None
        return item  # type: ignore[return-value]

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        # Make room for the close marker even on a full queue: the reader must wake up.
        while True:
            try:
                self._queue.put_nowait(Watcher._CLOSED)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
