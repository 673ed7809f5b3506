"""Sessions: one transport, the clips launched on it, and every client that follows it.

A session fans its events out to any number of watchers, each with its own queue: a watcher that
disconnects or falls behind is dropped alone, and the others see every event, numbered without gaps.
Clips come from an injected `ClipMaker` (the server's generation code), run in a worker thread, and
are launched on the next bar of the session's transport. Their messages are released to watchers a
lookahead before they sound, so stopping the transport cancels what has not been sent, and every note
a watcher has seen start is also seen to end.
"""

from __future__ import annotations

import itertools
import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Callable

from daw_bridge import midi
from daw_bridge.capture import Capture
from daw_bridge.events import (
    ClipReady,
    MidiOut,
    Notice,
    Opened,
    Payload,
    ProgressUpdate,
    SessionEvent,
    TransportChanged,
    Watcher,
)
from daw_bridge.midi import SoundingNotes, TimedMessage
from daw_bridge.scheduler import LookaheadScheduler, launch_beat
from daw_bridge.timeline import Clock, SystemClock, TimeSignature, Transport, check_tempo
from ostinato.errors import Cancelled, InvalidInput, LimitExceeded, OstinatoError
from ostinato.runtime import CancelToken, ProgressEvent, ProgressFn

log = logging.getLogger("ostinato.daw_bridge")


# -- what a session asks of the generator ------------------------------------------------------------
@dataclass(frozen=True)
class ClipRequest:
    """One request for a clip, as the session hands it to the ClipMaker.

    `work` is whatever the caller of `Session.generate` passed (the server passes its request message;
    the session never looks inside). `primer_midi` is the session's captured playing, when there is
    any, for work that continues or varies "what I just played".
    """

    request_id: str
    work: object
    tempo_bpm: float
    time_signature: TimeSignature
    primer_midi: bytes | None = None


@dataclass(frozen=True)
class MadeClip:
    midi: bytes
    wav: bytes = b""


ClipMaker = Callable[[ClipRequest, ProgressFn, CancelToken], MadeClip]


@dataclass(frozen=True)
class SessionLimits:
    max_watchers: int = 32
    max_queue: int = 20000
    # How long before it sounds a message is released to watchers: network headroom.
    lookahead_s: float = 0.3


class Session:
    """A transport, its scheduled clips and its watchers.

    Args:
        session_id: the session's name.
        clip_maker: turns a ClipRequest into MIDI (and optionally WAV) bytes.
        tempo_bpm / time_signature: the grid until the DAW's position reports say otherwise.
        clock: monotonic time source (a fake one in tests).
        autostart: run the thread that releases due messages; tests call `pump()` themselves.
    """

    def __init__(
        self,
        session_id: str,
        clip_maker: ClipMaker,
        tempo_bpm: float = 120.0,
        time_signature: TimeSignature = TimeSignature(),
        clock: Clock | None = None,
        limits: SessionLimits = SessionLimits(),
        output_latency_s: float = 0.0,
        autostart: bool = True,
    ) -> None:
        self.session_id = session_id
        self.time_signature = time_signature
        self.limits = limits
        self.output_latency_s = output_latency_s
        self._clip_maker = clip_maker
        self._clock = clock or SystemClock()
        self.transport = Transport(self._clock, tempo_bpm)
        self.capture = Capture(tempo_bpm, time_signature)
        self._scheduler = LookaheadScheduler(limits.lookahead_s)
        self._sounding = SoundingNotes()
        self._watchers: list[Watcher] = []
        self._sequence = itertools.count(1)
        self._last_sequence = 0
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._work_tokens: dict[str, CancelToken] = {}
        self._request_ids = itertools.count(1)
        self.idle_since_s: float | None = self._clock.now()
        self._thread: threading.Thread | None = None
        if autostart:
            self._thread = threading.Thread(target=self._run, name=f"ostinato-session-{session_id}", daemon=True)
            self._thread.start()

    # -- watchers -----------------------------------------------------------------------------------
    def watch(self) -> Watcher:
        """Adds a follower; its first event is Opened."""
        with self._lock:
            if self._closed.is_set():
                raise InvalidInput(f"session {self.session_id!r} is closed; open a new one")
            if len(self._watchers) >= self.limits.max_watchers:
                raise LimitExceeded(f"clients following session {self.session_id!r}", len(self._watchers) + 1, self.limits.max_watchers)
            watcher = Watcher(self.session_id, self.limits.max_queue)
            # Opened carries the last sequence published so far without taking a number of its own: the
            # follower's events then count up from it without gaps, and nobody else sees a gap either.
            watcher.deliver(
                SessionEvent(self._last_sequence, Opened(self.session_id, self.output_latency_s), "", self._clock.now())
            )
            self._watchers.append(watcher)
            self.idle_since_s = None
            return watcher

    def unwatch(self, watcher: Watcher) -> None:
        """Removes a follower (it disconnected). The session and its other followers carry on."""
        watcher.close()
        with self._lock:
            if watcher in self._watchers:
                self._watchers.remove(watcher)
            if not self._watchers:
                self.idle_since_s = self._clock.now()

    @property
    def watcher_count(self) -> int:
        with self._lock:
            return len(self._watchers)

    def _publish(self, payload: Payload, request_id: str = "") -> None:
        with self._lock:
            self._last_sequence = next(self._sequence)
            event = SessionEvent(self._last_sequence, payload, request_id, self._clock.now())
            for watcher in list(self._watchers):
                if not watcher.deliver(event):
                    self._watchers.remove(watcher)
                    log.warning("session %s: dropped a follower that fell behind", self.session_id)
            if not self._watchers and self.idle_since_s is None:
                self.idle_since_s = self._clock.now()

    def notice(self, code: str, message: str, request_id: str = "") -> None:
        self._publish(Notice(code, message), request_id)

    # -- transport ----------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            self._silence()
            self.transport.start()
        self._publish(TransportChanged("start"))
        self._wake.set()

    def stop(self) -> None:
        """Stops the transport: what has not been released is dropped, every sounding note ends."""
        with self._lock:
            self.transport.stop()
            self._scheduler.clear()
            self._silence()
        self._publish(TransportChanged("stop"))
        self._wake.set()

    def resume(self) -> None:
        with self._lock:
            self.transport.resume()
        self._publish(TransportChanged("continue"))
        self._wake.set()

    def locate(self, beat: float, playing: bool, tempo_bpm: float) -> None:
        """Adopts the position a DAW-following bridge reports (its clock is the truth)."""
        with self._lock:
            was_playing = self.transport.state.playing
            if was_playing and not playing:
                self._scheduler.clear()
                self._silence()
            self.transport.locate(beat, playing, check_tempo(tempo_bpm))
        if was_playing != playing:
            self._publish(TransportChanged("continue" if playing and beat > 0 else "start" if playing else "stop"))
        self._wake.set()

    def _silence(self) -> None:
        """Publishes a note-off for every note watchers have seen start and not end."""
        state = self.transport.state
        now = self._clock.now()
        beat = state.beat_at(now)
        for output, data in self._sounding.release():
            self._publish(MidiOut(data, state.session_seconds(beat), beat, output))

    # -- capture ------------------------------------------------------------------------------------
    def play(self, data: bytes, beat: float | None = None) -> None:
        """Records a message the user played (for primers); `beat` defaults to now on the transport."""
        if beat is None:
            beat = self.transport.state.beat_at(self._clock.now())
        self.capture.record(data, beat)

    # -- generation ---------------------------------------------------------------------------------
    def generate(self, work: object, request_id: str = "", launch_immediately: bool = False) -> str:
        """Starts making a clip in a worker thread and returns its request id at once. Progress, the
        finished clip and its notes reach every watcher, tagged with the request id; failures arrive
        as a Notice with code "error"."""
        request_id = request_id or f"r{next(self._request_ids)}"
        token = CancelToken()
        with self._lock:
            if self._closed.is_set():
                raise InvalidInput(f"session {self.session_id!r} is closed")
            self._work_tokens[request_id] = token
        primer = self.capture.to_midi() if self.capture.note_count else None
        request = ClipRequest(request_id, work, self.transport.state.tempo_bpm, self.time_signature, primer)
        threading.Thread(
            target=self._make_clip,
            args=(request, launch_immediately, token),
            name=f"ostinato-clip-{request_id}",
            daemon=True,
        ).start()
        return request_id

    def _make_clip(self, request: ClipRequest, launch_immediately: bool, token: CancelToken) -> None:
        started = self._clock.now()

        def progress(event: ProgressEvent) -> None:
            self._publish(ProgressUpdate(event, self._clock.now() - started), request.request_id)

        try:
            made = self._clip_maker(request, progress, token)
            token.check()
            self.launch(made, request.request_id, launch_immediately)
        except Cancelled:
            pass
        except OstinatoError as error:
            self._publish(Notice("error", str(error)), request.request_id)
        except Exception as error:  # noqa: BLE001 - a failing request must not take the session down
            log.exception("session %s: clip %s failed", self.session_id, request.request_id)
            self._publish(Notice("error", f"internal error making the clip: {type(error).__name__}"), request.request_id)
        finally:
            with self._lock:
                self._work_tokens.pop(request.request_id, None)

    def launch(self, made: MadeClip, request_id: str = "", immediately: bool = False) -> float:
        """Puts a finished clip on the grid at the next bar (or the next sixteenth); returns its beat."""
        clip = midi.clip_from_midi(made.midi, self.time_signature.beats_per_bar)
        with self._lock:
            beat = launch_beat(
                self.transport.state,
                self._clock.now(),
                self.time_signature.beats_per_bar,
                self.limits.lookahead_s,
                immediately,
            )
            self._publish(ClipReady(made.midi, made.wav, beat), request_id)
            self._scheduler.add_clip(clip, beat, request_id)
        self._wake.set()
        return beat

    # -- releasing due messages ---------------------------------------------------------------------
    def pump(self, now_s: float | None = None) -> float | None:
        """Publishes every message due within the lookahead; returns when it next needs to run
        (monotonic seconds), or None when nothing is waiting or the transport is stopped."""
        now = self._clock.now() if now_s is None else now_s
        with self._lock:
            state = self.transport.state
            for item in self._scheduler.due(state, now):
                message: TimedMessage = item.message
                self._sounding.update(message.data, message.track)
                self._publish(
                    MidiOut(message.data, state.session_seconds(message.beat), message.beat, message.track),
                    item.request_id,
                )
            next_beat = self._scheduler.next_beat()
            if next_beat is None or not state.playing:
                return None
            at = state.time_at(next_beat)
            return None if at is None else at - self.limits.lookahead_s

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                wake_at = self.pump()
            except Exception:  # noqa: BLE001 - keep releasing for the other clips
                log.exception("session %s: pump failed", self.session_id)
                wake_at = None
            timeout = 0.25 if wake_at is None else max(0.0, min(0.25, wake_at - self._clock.now()))
            self._wake.wait(timeout)
            self._wake.clear()

    def close(self) -> None:
        """Ends the session: cancels work in progress, ends sounding notes, closes every watcher."""
        with self._lock:
            if self._closed.is_set():
                return
            for token in self._work_tokens.values():
                token.cancel("the session closed")
            self._scheduler.clear()
            self._silence()
            self._closed.set()
            watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            watcher.close()
        self._wake.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()


@dataclass
class SessionRegistry:
    """The open sessions of one server: created or joined by name, closed after sitting with no
    follower for `idle_close_s`."""

    clip_maker: ClipMaker
    max_sessions: int = 16
    limits: SessionLimits = field(default_factory=SessionLimits)
    idle_close_s: float = 300.0
    clock: Clock = field(default_factory=SystemClock)

    def __post_init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(
        self,
        session_id: str = "",
        tempo_bpm: float = 120.0,
        time_signature: TimeSignature = TimeSignature(),
        output_latency_s: float = 0.0,
    ) -> Session:
        """Joins the named session, or creates it (with a fresh name when none is given)."""
        self.reap()
        with self._lock:
            if session_id and session_id in self._sessions:
                session = self._sessions[session_id]
                if output_latency_s > session.output_latency_s:
                    session.output_latency_s = output_latency_s
                return session
            if len(self._sessions) >= self.max_sessions:
                raise LimitExceeded("open bridge sessions", len(self._sessions) + 1, self.max_sessions)
            if session_id and (len(session_id) > 64 or not session_id.isprintable()):
                raise InvalidInput("a session id is at most 64 printable characters")
            name = session_id or uuid.uuid4().hex[:12]
            session = Session(
                name,
                self.clip_maker,
                check_tempo(tempo_bpm),
                time_signature,
                self.clock,
                self.limits,
                output_latency_s,
            )
            self._sessions[name] = session
            return session

    def get(self, session_id: str) -> Session:
        self.reap()
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise InvalidInput(f"no open session {session_id!r}; open it first with Bridge.Session")
        return session

    def reap(self) -> list[str]:
        """Closes sessions nobody has followed for idle_close_s; returns their ids."""
        now = self.clock.now()
        with self._lock:
            idle = [
                sid
                for sid, s in self._sessions.items()
                if s.closed or (s.idle_since_s is not None and now - s.idle_since_s >= self.idle_close_s)
            ]
            closing = [self._sessions.pop(sid) for sid in idle]
        for session in closing:
            session.close()
        return idle

    def close_all(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)
