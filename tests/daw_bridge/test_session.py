"""Sessions as pure code: a fake clock, clips made in code, followers reading their queues."""

from __future__ import annotations

import threading

import pytest

from daw_bridge import midi
from daw_bridge.events import ClipReady, MidiOut, Notice, Opened, ProgressUpdate, TransportChanged, Watcher
from daw_bridge.session import ClipRequest, MadeClip, Session, SessionLimits, SessionRegistry
from ostinato.errors import InvalidInput, LimitExceeded
from ostinato.runtime import CancelToken, ProgressEvent, ProgressFn
from tests.daw_bridge.conftest import FakeClock, scale_clip_midi


class CodeBuiltClips:
    """A ClipMaker that builds clips in code and remembers what it was asked."""

    def __init__(self) -> None:
        self.requests: list[ClipRequest] = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self, request: ClipRequest, progress: ProgressFn, cancel: CancelToken) -> MadeClip:
        self.requests.append(request)
        progress(ProgressEvent("generate", 0.5, "half way"))
        self.release.wait(5)
        cancel.check()
        bars = request.work if isinstance(request.work, int) else 1
        if bars <= 0:
            raise InvalidInput("0 bars: ask for at least one bar")
        return MadeClip(scale_clip_midi(bars=bars, tracks=2, channel=0))


def drain(watcher: Watcher) -> list:
    events = []
    while True:
        event = watcher.next(0.0)
        if event is None:
            return events
        events.append(event)


def wait_for(watcher: Watcher, kind: type, timeout_s: float = 5.0):
    while True:
        event = watcher.next(timeout_s)
        assert event is not None, f"no {kind.__name__} arrived"
        if isinstance(event.payload, kind):
            return event


def play_through(session: Session, clock: FakeClock, seconds: float, step_s: float = 0.01) -> None:
    for _ in range(int(seconds / step_s)):
        clock.advance(step_s)
        session.pump()


@pytest.fixture()
def session(fake_clock: FakeClock):
    maker = CodeBuiltClips()
    s = Session("s1", maker, tempo_bpm=120.0, clock=fake_clock, autostart=False,
                limits=SessionLimits(lookahead_s=0.3))
    s.maker = maker  # type: ignore[attr-defined]
    yield s
    s.close()


def test_a_clip_launches_on_the_next_bar_and_its_notes_reach_every_follower_in_order(session, fake_clock) -> None:
    a, b = session.watch(), session.watch()
    assert isinstance(a.next(0).payload, Opened)
    session.start()
    fake_clock.advance(0.9)  # beat 1.8
    request_id = session.generate(2, "ask-1")
    ready = wait_for(b, ClipReady)
    assert ready.request_id == "ask-1" and ready.payload.launch_beat == 4.0
    play_through(session, fake_clock, 4.5)  # to beat ~10.8: the 2-bar clip (beats 4-12) mostly played
    notes = [e for e in drain(a) if isinstance(e.payload, MidiOut)]
    assert notes and all(e.request_id == request_id for e in notes)
    beats = [e.payload.beat for e in notes]
    assert beats == sorted(beats) and beats[0] == 4.0
    # Each message was released no earlier than lookahead before it sounds, and never after.
    for event in notes:
        due_s = session.transport.state.time_at(event.payload.beat)
        assert due_s - 0.3 - 0.011 <= event.published_s <= due_s
    # Both tracks, on their own channels, at seconds since the start that match the beats.
    assert {midi.channel_of(e.payload.data) for e in notes} == {0, 1}
    assert {e.payload.track for e in notes} == {0, 1}
    assert notes[0].payload.time_s == pytest.approx(2.0)
    b_notes = [e for e in drain(b) if isinstance(e.payload, MidiOut)]
    assert [e.sequence for e in b_notes] == [e.sequence for e in notes]


def test_a_follower_leaving_mid_clip_costs_the_others_nothing(session, fake_clock) -> None:
    stays, leaves = session.watch(), session.watch()
    opened_seq = stays.next(0).sequence
    session.start()
    session.generate(2)
    wait_for(leaves, ClipReady)
    play_through(session, fake_clock, 2.5)
    session.unwatch(leaves)  # disconnects half way through the clip
    play_through(session, fake_clock, 4.0)
    events = drain(stays)
    sequences = [e.sequence for e in events]
    assert sequences == list(range(opened_seq + 1, opened_seq + 1 + len(sequences)))  # no gap
    notes = [e.payload.data for e in events if isinstance(e.payload, MidiOut)]
    assert sum(midi.is_note_on(d) for d in notes) == 2 * 16
    assert sum(midi.is_note_off(d) for d in notes) == 2 * 16
    assert session.watcher_count == 1


def test_stop_mid_clip_drops_the_rest_and_ends_every_sounding_note(session, fake_clock) -> None:
    follower = session.watch()
    session.start()
    session.generate(2)
    wait_for(follower, ClipReady)
    play_through(session, fake_clock, 2.12)  # beat ~4.24: a note struck at 4.0 (+ lookahead) sounds
    session.stop()
    play_through(session, fake_clock, 3.0)
    events = drain(follower)
    held: dict[tuple[int, int], int] = {}
    for e in events:
        if isinstance(e.payload, MidiOut):
            key = (e.payload.data[0] & 0x0F, e.payload.data[1])
            held[key] = held.get(key, 0) + (1 if midi.is_note_on(e.payload.data) else -1 if midi.is_note_off(e.payload.data) else 0)
    assert all(count == 0 for count in held.values()), held
    assert any(isinstance(e.payload, TransportChanged) and e.payload.command == "stop" for e in events)
    # Nothing after the stop but the releases.
    stop_index = next(i for i, e in enumerate(events) if isinstance(e.payload, TransportChanged) and e.payload.command == "stop")
    assert not any(isinstance(e.payload, MidiOut) and midi.is_note_on(e.payload.data) for e in events[stop_index:])


def test_positions_from_the_daw_move_the_grid(session, fake_clock) -> None:
    follower = session.watch()
    session.locate(beat=30.0, playing=True, tempo_bpm=100.0)  # the DAW started playing from bar 8.5
    session.generate(1)
    ready = wait_for(follower, ClipReady)
    assert ready.payload.launch_beat == 32.0
    play_through(session, fake_clock, 1.3)  # 100 BPM: beat 32 is 1.2 s away
    first = next(e for e in drain(follower) if isinstance(e.payload, MidiOut))
    assert first.payload.beat == 32.0
    assert first.published_s == pytest.approx(fake_clock.now() - 1.3 + 1.2 - 0.3, abs=0.011)


def test_progress_and_failures_reach_followers_tagged_with_the_request(session, fake_clock) -> None:
    follower = session.watch()
    session.generate(0, "bad")
    progress = wait_for(follower, ProgressUpdate)
    assert progress.request_id == "bad" and progress.payload.progress.fraction == 0.5
    notice = wait_for(follower, Notice)
    assert notice.request_id == "bad" and "at least one bar" in notice.payload.message


def test_captured_playing_becomes_the_primer(session, fake_clock) -> None:
    follower = session.watch()
    session.play(midi.note_on(0, 64, 100), beat=5.0)
    session.play(midi.note_off(0, 64), beat=6.0)
    session.generate(1)
    wait_for(follower, ClipReady)
    primer = session.maker.requests[0].primer_midi  # type: ignore[attr-defined]
    assert primer is not None
    clip = midi.clip_from_midi(primer)
    ons = [m for m in clip.messages if midi.is_note_on(m.data)]
    assert [(m.beat, m.data[1]) for m in ons] == [(1.0, 64)]  # bar 2 starts at beat 4: clip begins there


def test_a_follower_that_falls_behind_is_dropped_alone(fake_clock) -> None:
    session = Session("s", CodeBuiltClips(), clock=fake_clock, autostart=False, limits=SessionLimits(max_queue=5))
    slow, fast = session.watch(), session.watch()
    for i in range(10):
        session.notice("n", str(i))
        fast.next(0)
    assert slow.closed and isinstance(slow.failure, LimitExceeded)
    assert session.watcher_count == 1
    session.close()


def test_registry_joins_by_name_limits_sessions_and_closes_idle_ones(fake_clock) -> None:
    registry = SessionRegistry(CodeBuiltClips(), max_sessions=2, idle_close_s=300.0, clock=fake_clock)
    first = registry.open("studio")
    assert registry.open("studio") is first
    registry.open()
    with pytest.raises(LimitExceeded):
        registry.open()
    watcher = first.watch()
    fake_clock.advance(400)
    assert "studio" not in registry.reap()  # followed: stays open
    first.unwatch(watcher)
    fake_clock.advance(301)
    assert "studio" in registry.reap()
    assert first.closed
    with pytest.raises(InvalidInput):
        registry.get("studio")
    registry.close_all()


def test_closing_ends_sounding_notes_and_wakes_followers(session, fake_clock) -> None:
    follower = session.watch()
    session.start()
    session.generate(1)
    wait_for(follower, ClipReady)
    play_through(session, fake_clock, 2.05)
    session.close()
    events = drain(follower)
    ons = sum(1 for e in events if isinstance(e.payload, MidiOut) and midi.is_note_on(e.payload.data))
    offs = sum(1 for e in events if isinstance(e.payload, MidiOut) and midi.is_note_off(e.payload.data))
    assert ons >= 1 and ons == offs
    assert follower.next(0.1) is None and follower.closed


# -- clips like a DAW's: loops, lanes, queued replacements, lane stop, export -------------------------
def notes_on(events: list) -> list:
    return [e.payload for e in events if isinstance(e.payload, MidiOut) and midi.is_note_on(e.payload.data)]


def test_a_looping_clip_repeats_until_a_queued_clip_replaces_it_on_the_bar(session, fake_clock) -> None:
    from daw_bridge.session import Launch

    watcher = session.watch()
    one_bar = MadeClip(scale_clip_midi(bars=1, step_beats=1.0, first_pitch=60))  # 4 notes a bar
    other = MadeClip(scale_clip_midi(bars=1, step_beats=1.0, first_pitch=80))
    assert session.launch(one_bar, "loop", launch=Launch(lane=0, loop=True)) == 0.0  # waits for the start at beat 0
    session.start()
    play_through(session, fake_clock, 5.1)  # past beat 10 at 120 BPM
    replace_at = session.launch(other, "next", launch=Launch(lane=0, loop=True))
    assert replace_at == 12.0  # the next bar line at least a lookahead away
    play_through(session, fake_clock, 4.0)  # to about beat 18
    events = drain(watcher)
    ons = notes_on(events)
    old = [n.beat for n in ons if n.data[1] < 80]
    new = [n.beat for n in ons if n.data[1] >= 80]
    assert old == [float(b) for b in range(12)]  # three loops in time, nothing after the replacement's bar
    assert new and new[0] == 12.0 and all(b >= 12.0 for b in new)
    # Every note the old clip started ended, no later than the bar where the new one began.
    offs = [e.payload for e in events if isinstance(e.payload, MidiOut) and midi.is_note_off(e.payload.data)
            and e.payload.data[1] < 80]
    assert len(offs) == len(old) and max(o.beat for o in offs) <= 12.0


def test_a_phrase_launch_keeps_the_loop_going_until_the_phrase_boundary(session, fake_clock) -> None:
    from daw_bridge.session import Launch

    watcher = session.watch()
    session.launch(MadeClip(scale_clip_midi(bars=1, step_beats=1.0)), "loop", launch=Launch(lane=0, loop=True))
    session.start()
    play_through(session, fake_clock, 1.0)  # beat 2
    at = session.launch(MadeClip(scale_clip_midi(bars=1, step_beats=1.0, first_pitch=80)), "phrase",
                        launch=Launch(lane=0, loop=False, bars=4))
    assert at == 16.0
    play_through(session, fake_clock, 9.0)  # to beat 20
    ons = notes_on(drain(watcher))
    assert [n.beat for n in ons if n.data[1] < 80] == [float(b) for b in range(16)]
    assert [n.beat for n in ons if n.data[1] >= 80] == [16.0, 17.0, 18.0, 19.0]


def test_stopping_a_lane_ends_its_loop_on_the_next_bar_and_lanes_are_independent(session, fake_clock) -> None:
    from daw_bridge.session import Launch

    watcher = session.watch()
    session.launch(MadeClip(scale_clip_midi(bars=1, step_beats=1.0)), "a", launch=Launch(lane=0, loop=True))
    session.launch(MadeClip(scale_clip_midi(bars=1, step_beats=2.0, first_pitch=90)), "b", launch=Launch(lane=1, loop=True))
    session.start()
    play_through(session, fake_clock, 1.5)  # beat 3
    assert session.stop_lane(0) == 4.0
    assert session.stop_lane(5) is None  # nothing there
    play_through(session, fake_clock, 3.0)  # to beat 9
    ons = notes_on(drain(watcher))
    assert [n.beat for n in ons if n.data[1] < 90] == [0.0, 1.0, 2.0, 3.0]
    assert [n.beat for n in ons if n.data[1] >= 90] == [0.0, 2.0, 4.0, 6.0, 8.0]
    with pytest.raises(InvalidInput, match="lane 16"):
        session.stop_lane(16)


def test_request_ids_stay_unique_when_two_clients_pick_the_same(session) -> None:
    assert session.new_request_id("c1") == "c1"
    assert session.new_request_id("c1") == "c1-2"
    assert session.new_request_id("") != session.new_request_id("")


def test_export_gives_the_captured_input_and_the_played_output(session, fake_clock) -> None:
    from daw_bridge.midi import clip_from_midi

    session.launch(MadeClip(scale_clip_midi(bars=1, step_beats=1.0)), "x")
    session.start()
    session.play(midi.note_on(0, 50, 90), 4.5)
    session.play(midi.note_off(0, 50), 5.0)
    play_through(session, fake_clock, 2.5)
    captured, played = session.export()
    assert [m.data[1] for m in clip_from_midi(captured).messages if midi.is_note_on(m.data)] == [50]
    played_clip = clip_from_midi(played)
    assert [(m.beat, m.data[1]) for m in played_clip.messages if midi.is_note_on(m.data)] == [
        (0.0, 60), (1.0, 61), (2.0, 62), (3.0, 63)]


def test_mix_commands_reach_the_followers_and_nonsense_is_refused(session) -> None:
    from daw_bridge.events import MixChanged

    watcher = session.watch()
    session.mix(1, True, None)
    assert wait_for(watcher, MixChanged).payload == MixChanged(1, True, None)
    with pytest.raises(InvalidInput):
        session.mix(1, None, None)
    with pytest.raises(InvalidInput):
        session.mix(16, True, None)


def test_clips_in_no_lane_play_alongside_each_other(session, fake_clock) -> None:
    from daw_bridge.session import Launch

    watcher = session.watch()
    session.launch(MadeClip(scale_clip_midi(bars=1, step_beats=1.0)), "a", launch=Launch(loop=True))
    session.launch(MadeClip(scale_clip_midi(bars=1, step_beats=1.0, first_pitch=80)), "b")
    session.start()
    play_through(session, fake_clock, 3.5)  # beat 7, notes released up to 7.6 (the 0.3 s lookahead)
    ons = notes_on(drain(watcher))
    assert [n.beat for n in ons if n.data[1] < 80] == [float(b) for b in range(8)]  # still looping
    assert [n.beat for n in ons if n.data[1] >= 80] == [0.0, 1.0, 2.0, 3.0]
