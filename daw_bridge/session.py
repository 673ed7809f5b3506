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
    MixChanged,
    Notice,
    Opened,
    Payload,
    ProgressUpdate,
    SessionEvent,
    TransportChanged,
    Watcher,
)
from daw_bridge.midi import Clip, SoundingNotes, TimedMessage
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
    session_id: str = ""


@dataclass(frozen=True)
class MadeClip:
    """What a ClipMaker made: MIDI to launch (and its audio), or audio alone (empty `midi`: work whose
    result MIDI ports cannot carry, such as an accompaniment; announced, never launched)."""

    midi: bytes
    wav: bytes = b""


ClipMaker = Callable[[ClipRequest, ProgressFn, CancelToken], MadeClip]


@dataclass(frozen=True)
class SessionLimits:
    max_watchers: int = 32
    max_queue: int = 20000
    # Generate requests in progress at once; more are refused (each runs in its own thread).
    max_pending_requests: int = 4
    # How long before it sounds a message is released to watchers: network headroom.
    lookahead_s: float = 0.3
    # Clip-launcher lanes per session, and messages kept for ExportSession's played file.
    max_lanes: int = 16
    max_played_messages: int = 100_000


@dataclass(frozen=True)
class Launch:
    """Where and how a finished clip goes on the grid.

    Args:
        lane: clip-launcher lane; a new clip in a lane replaces the lane's clip on its launch beat.
            None: the clip plays alongside everything else and replaces nothing.
        loop: repeat the clip until replaced or stopped.
        bars: launch on the next boundary of this many bars (1: next bar; 4: next 4-bar phrase).
        immediately: launch on the next sixteenth instead.
    """

    lane: int | None = None
    loop: bool = False
    bars: int = 1
    immediately: bool = False


@dataclass
class _LaneClip:
    """A clip launched into a lane; `key` tags its messages in the scheduler."""

    key: int
    clip: Clip
    request_id: str
    loop: bool
    # Where the next repetition goes (looping clips are scheduled one repetition ahead).
    next_beat: float
    # Where a newer clip (or a lane stop) ends it.
    end_beat: float = float("inf")


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
        self._used_request_ids: set[str] = set()
        self._lanes: dict[int, list[_LaneClip]] = {}
        self._lane_keys = itertools.count(1)
        self._played: list[TimedMessage] = []
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
            self._lanes.clear()
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
                self._lanes.clear()
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
    def new_request_id(self, wanted: str = "") -> str:
        """A request id unique in this session: the wanted one, or with a suffix when it is taken (two
        clients both asking as `c1`)."""
        with self._lock:
            candidate = wanted or f"r{next(self._request_ids)}"
            suffix = 2
            while candidate in self._used_request_ids:
                candidate = f"{wanted or 'r'}-{suffix}" if wanted else f"r{next(self._request_ids)}"
                suffix += 1
            self._used_request_ids.add(candidate)
            return candidate

    def generate(self, work: object, request_id: str = "", launch_immediately: bool = False,
                 launch: Launch | None = None) -> str:
        """Starts making a clip in a worker thread and returns its (unique) request id at once.
        Progress, the finished clip and its notes reach every watcher, tagged with the request id;
        failures arrive as a Notice with code "error"."""
        launch = launch or Launch(immediately=launch_immediately)
        if launch_immediately and not launch.immediately:
            launch = Launch(launch.lane, launch.loop, launch.bars, True)
        self._check_launch(launch)
        request_id = self.new_request_id(request_id)
        token = CancelToken()
        with self._lock:
            if self._closed.is_set():
                raise InvalidInput(f"session {self.session_id!r} is closed")
            if len(self._work_tokens) >= self.limits.max_pending_requests:
                raise LimitExceeded("generate requests in progress in this session", len(self._work_tokens) + 1,
                                    self.limits.max_pending_requests)
            self._work_tokens[request_id] = token
        primer = self.capture.to_midi() if self.capture.note_count else None
        request = ClipRequest(request_id, work, self.transport.state.tempo_bpm, self.time_signature, primer,
                              self.session_id)
        threading.Thread(
            target=self._make_clip,
            args=(request, launch, token),
            name=f"ostinato-clip-{request_id}",
            daemon=True,
        ).start()
        return request_id

    def _check_launch(self, launch: Launch) -> None:
        if launch.lane is not None and not 0 <= launch.lane < self.limits.max_lanes:
            raise InvalidInput(f"lane {launch.lane} does not exist: use 0-{self.limits.max_lanes - 1}")
        if not 1 <= launch.bars <= 64:
            raise InvalidInput(f"launch_bars {launch.bars} is out of range: use 1-64 bars")

    def _make_clip(self, request: ClipRequest, launch: Launch, token: CancelToken) -> None:
        started = self._clock.now()

        def progress(event: ProgressEvent) -> None:
            self._publish(ProgressUpdate(event, self._clock.now() - started), request.request_id)

        try:
            made = self._clip_maker(request, progress, token)
            token.check()
            if made.midi:
                self.launch(made, request.request_id, launch=launch)
            else:  # audio only: announced to the followers, nothing to schedule on the ports
                self._publish(ClipReady(b"", made.wav, -1.0), request.request_id)
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

    def launch(self, made: MadeClip, request_id: str = "", immediately: bool = False,
               launch: Launch | None = None) -> float:
        """Puts a finished clip on the grid at the next bar (or phrase, or sixteenth) in its lane,
        replacing the lane's clip there; returns its launch beat."""
        launch = launch or Launch(immediately=immediately)
        self._check_launch(launch)
        clip = midi.clip_from_midi(made.midi, self.time_signature.beats_per_bar)
        with self._lock:
            beat = launch_beat(
                self.transport.state,
                self._clock.now(),
                self.time_signature.beats_per_bar,
                self.limits.lookahead_s,
                launch.immediately,
                launch.bars,
            )
            key = next(self._lane_keys)
            # A clip in no lane keeps a private one (negative: no request names it).
            lane = -key if launch.lane is None else launch.lane
            self._end_lane(lane, beat)
            self._publish(ClipReady(made.midi, made.wav, beat), request_id)
            self._scheduler.add_clip(clip, beat, request_id, key)
            self._lanes.setdefault(lane, []).append(
                _LaneClip(key, clip, request_id, launch.loop, beat + clip.length_beats)
            )
        self._wake.set()
        return beat

    def _end_lane(self, lane: int, beat: float) -> bool:
        """Ends every clip of a lane at `beat` (a looping one keeps repeating until then); returns
        whether the lane had any."""
        entries = self._lanes.get(lane, [])
        for entry in entries:
            entry.end_beat = min(entry.end_beat, beat)
            self._scheduler.cut_lane(entry.key, beat)
        self._lanes[lane] = [e for e in entries if e.next_beat - e.clip.length_beats < e.end_beat - 1e-9]
        return bool(entries)

    def stop_lane(self, lane: int, immediately: bool = False) -> float | None:
        """Stops a lane's clip at the next bar (or sixteenth); returns that beat, None if the lane was
        empty."""
        self._check_launch(Launch(lane=lane))
        with self._lock:
            if lane < 0 or not self._lanes.get(lane):
                return None
            beat = launch_beat(self.transport.state, self._clock.now(), self.time_signature.beats_per_bar,
                               self.limits.lookahead_s, immediately)
            self._end_lane(lane, beat)
        self._wake.set()
        return beat

    def mix(self, output_port: int, mute: bool | None, solo: bool | None) -> None:
        """Mutes or solos an output port on every bridge following the session."""
        if not 0 <= output_port < 16:
            raise InvalidInput(f"output port {output_port} does not exist: use 0-15")
        if mute is None and solo is None:
            raise InvalidInput("a mix command needs mute or solo")
        self._publish(MixChanged(output_port, mute, solo))

    def export(self) -> tuple[bytes, bytes]:
        """(captured input, played output) as Standard MIDI Files; captured is empty when nothing was
        played into the session."""
        captured = self.capture.to_midi() if self.capture.note_count else b""
        with self._lock:
            played = list(self._played)
        ts = (self.time_signature.numerator, self.time_signature.denominator)
        return captured, midi.midi_from_messages(played, self.transport.state.tempo_bpm, ts)

    def _extend_loops(self, now: float) -> None:
        """Schedules the next repetition of every looping clip once its current one has begun, up to
        where a newer clip or a lane stop ends it; forgets clips that have ended."""
        state = self.transport.state
        if not state.playing:
            return
        current = state.beat_at(now + self.limits.lookahead_s)
        for lane, entries in self._lanes.items():
            for entry in entries:
                length = entry.clip.length_beats
                while entry.loop and entry.next_beat - length <= current and entry.next_beat < entry.end_beat - 1e-9:
                    self._scheduler.add_clip(entry.clip, entry.next_beat, entry.request_id, entry.key)
                    if entry.next_beat + length > entry.end_beat + 1e-9:
                        self._scheduler.cut_lane(entry.key, entry.end_beat)
                    entry.next_beat += length
            self._lanes[lane] = [
                e for e in entries
                if min(e.end_beat, e.next_beat if not e.loop else float("inf")) > current - 1e-9
            ]

    # -- releasing due messages ---------------------------------------------------------------------
    def pump(self, now_s: float | None = None) -> float | None:
        """Publishes every message due within the lookahead; returns when it next needs to run
        (monotonic seconds), or None when nothing is waiting or the transport is stopped."""
        now = self._clock.now() if now_s is None else now_s
        with self._lock:
            state = self.transport.state
            self._extend_loops(now)
            for item in self._scheduler.due(state, now):
                message: TimedMessage = item.message
                self._sounding.update(message.data, message.track)
                if len(self._played) < self.limits.max_played_messages:
                    self._played.append(message)
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


# When every session slot is taken, one nobody has followed for this long is closed to make room.
FULL_REGISTRY_IDLE_S = 5.0


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
        if len(self) >= self.max_sessions:  # full: sessions left alone for a few seconds were abandoned
            self.reap(min(self.idle_close_s, FULL_REGISTRY_IDLE_S))
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

    def reap(self, idle_s: float | None = None) -> list[str]:
        """Closes sessions nobody has followed for idle_s (default idle_close_s); returns their ids."""
        idle_close_s = self.idle_close_s if idle_s is None else idle_s
        now = self.clock.now()
        with self._lock:
            idle = [
                sid
                for sid, s in self._sessions.items()
                if s.closed or (s.idle_since_s is not None and now - s.idle_since_s >= idle_close_s)
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
