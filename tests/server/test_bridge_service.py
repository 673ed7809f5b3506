"""Bridge over gRPC: sessions, followers, and `ostinato bridge` playing into a stand-in DAW through real
JACK ports, in time with the clock the test sends."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from daw_bridge import midi
from daw_bridge import jack_registry
from daw_bridge.jack import DummyJack
from daw_bridge.loopback import StandInDaw, wait_until
from daw_bridge.midi import clip_from_midi
from daw_bridge.ports import MidiApi
from protos.ostinato.v1 import bridge_pb2, composer_pb2
from server.client import Client, ServerError
from tests.daw_bridge.conftest import scale_clip_midi
from tests.daw_bridge.jack_server import jack_server  # noqa: F401 - a fixture

OSTINATO = [sys.executable, "-m", "server.cli"]


def collect(events, into: list, stop: threading.Event | None = None) -> threading.Thread:
    def run() -> None:
        try:
            for event in events:
                into.append((time.monotonic(), event))
                if stop is not None and stop.is_set():
                    return
        except ServerError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def kinds(events: list) -> list[str]:
    return [e.WhichOneof("event") for _, e in events]


def balanced(messages: list[bytes]) -> bool:
    held: dict[tuple[int, int], int] = {}
    for data in messages:
        key = (data[0] & 0x0F, data[1])
        if midi.is_note_on(data):
            held[key] = held.get(key, 0) + 1
        elif midi.is_note_off(data):
            held[key] = held.get(key, 0) - 1
    return all(v == 0 for v in held.values())


def test_a_session_streams_a_clip_to_its_client_and_a_watcher(client: Client) -> None:
    clip_bytes = scale_clip_midi(bars=1, tracks=2)
    with client.open_bridge_session(tempo_bpm=300.0, timeout_s=60) as session:
        assert session.session_id
        watched: list = []
        collect(client.watch_bridge_session(session.session_id, timeout_s=60), watched)
        time.sleep(0.2)
        session.transport("start")
        request_id = session.generate(render_midi=clip_bytes, request_id="scale")
        got: list = []
        for event in session.events():
            got.append((time.monotonic(), event))
            if sum(1 for _, e in got if e.WhichOneof("event") == "midi") == 32:
                break
    clip_event = next(e for _, e in got if e.WhichOneof("event") == "clip")
    assert clip_event.request_id == request_id and clip_event.clip.launch_beat % 4 == 0
    assert clip_event.clip.midi == clip_bytes
    notes = [e.midi for _, e in got if e.WhichOneof("event") == "midi"]
    beats = [n.beat for n in notes]
    assert beats == sorted(beats) and beats[0] == clip_event.clip.launch_beat
    assert {n.track for n in notes} == {0, 1}
    assert balanced([n.data for n in notes])
    # Seconds since start agree with beats at 300 BPM.
    assert all(abs(n.time_s - n.beat * 0.2) < 0.01 for n in notes)
    time.sleep(0.2)
    assert kinds(watched)[0] == "opened"
    watched_notes = [e.midi.data for _, e in watched if e.WhichOneof("event") == "midi"]
    assert watched_notes == [n.data for n in notes]


def test_the_asking_client_leaving_mid_clip_costs_the_watcher_nothing(client: Client, server_address: str) -> None:
    with Client(server_address) as other:
        session = other.open_bridge_session(tempo_bpm=300.0, timeout_s=60)
        watched: list = []
        collect(client.watch_bridge_session(session.session_id, timeout_s=60), watched)
        time.sleep(0.2)
        session.transport("start")
        session.generate(render_midi=scale_clip_midi(bars=2), launch_immediately=True)
        time.sleep(1.0)  # a bar and a half of the two
        session.close()  # the client that asked goes away mid-clip
        time.sleep(1.6)
    midi_events = [e for _, e in watched if e.WhichOneof("event") == "midi"]
    assert sum(midi.is_note_on(e.midi.data) for e in midi_events) == 16
    assert balanced([e.midi.data for e in midi_events])
    sequences = [e.sequence for _, e in watched]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))


def test_errors_are_reported_to_the_sender(client: Client) -> None:
    with pytest.raises(ServerError) as error:
        list(client.watch_bridge_session("no-such-session"))
    assert error.value.code.name == "INVALID_ARGUMENT"
    with client.open_bridge_session("named-one", timeout_s=60) as session:
        assert session.session_id == "named-one"
        session.send(bridge_pb2.SessionRequest(generate=bridge_pb2.SessionGenerate(request_id="x")))
        session.generate(render_midi=b"garbage", request_id="bad-midi")
        seen = []
        for event in session.events():
            seen.append(event)
            if len([e for e in seen if e.WhichOneof("event") == "notice"]) == 2:
                break
    notices = [e for e in seen if e.WhichOneof("event") == "notice"]
    assert notices[0].notice.code == "invalid_request" and notices[0].sequence == 0
    assert notices[1].request_id == "bad-midi" and "MIDI" in notices[1].notice.message


# -- acceptance: `ostinato bridge` against a running server, a stand-in DAW on real JACK ports --------------
@pytest.fixture()
def jack(jack_server: DummyJack) -> DummyJack:
    return jack_server


@contextlib.contextmanager
def bridge_process(server_address: str, port_name: str, session: str, *extra: str,
                   default_names: bool = False) -> Iterator[subprocess.Popen[str]]:
    """`ostinato bridge` in its own process; stopped with SIGTERM (and killed if that fails) on exit."""
    process = start_bridge(server_address, port_name, session, *extra, default_names=default_names)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def stop_bridge(process: subprocess.Popen[str], timeout_s: float = 10.0) -> tuple[str, str]:
    """SIGTERM, then everything the bridge printed. Read through the pipes' own text objects, not with
    communicate(): that reads the raw file descriptors, and start_bridge's readline may already have
    buffered the lines printed right after the first one (on a busy machine it does)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    texts: dict[str, str] = {}

    def read(name: str, stream) -> None:
        texts[name] = stream.read()

    readers = [threading.Thread(target=read, args=(name, stream), daemon=True)
               for name, stream in (("out", process.stdout), ("err", process.stderr))]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(timeout_s)
    if any(reader.is_alive() for reader in readers):
        process.kill()
        for reader in readers:
            reader.join(5)
    process.wait(5)
    return texts.get("out", ""), texts.get("err", "")


def start_bridge(server_address: str, port_name: str, session: str, *extra: str,
                 default_names: bool = False) -> subprocess.Popen[str]:
    names = [] if default_names else ["--port-name", port_name, "--client-name", port_name]
    process = subprocess.Popen(
        [*OSTINATO, "bridge", "--server", server_address, "--api", "jack", *names, "--session", session, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "CI": "true"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not re.match(rf"session {session}$", line.strip()):
        stderr = process.stderr.read() if process.poll() is not None else ""
        process.kill()  # a bridge that did not start as expected must not outlive the test
        process.wait(10)
        pytest.fail(f"unexpected first line of `ostinato bridge`: {line!r} {stderr}")
    return process


@pytest.mark.parametrize("work", ["render", "generate"])
def test_ostinato_bridge_plays_8_bars_in_time_with_the_daw_clock(jack: DummyJack, server_address: str, work: str) -> None:
    """A client asks for 8 bars (its own clip, or one the composer generates); the bridge plays them into
    the DAW's port on the DAW's beats; the asking client leaves mid-clip and nothing is lost."""
    tempo = 240.0
    name = f"Accept{work[0]}"
    with bridge_process(server_address, name, f"acceptance-{work}") as bridge:
        daw = StandInDaw(MidiApi.JACK, f"{name} out", f"{name} in")
        try:
            with Client(server_address) as asker, Client(server_address) as watcher_client:
                time.sleep(0.2)
                # A clock long enough for a slow generation on a loaded machine; stopped once the clip is over.
                run = daw.run_clock(beats=600, tempo_bpm=tempo)
                time.sleep(0.6)  # the bridge has reported the DAW's position
                watched: list = []
                collect(watcher_client.watch_bridge_session(f"acceptance-{work}", timeout_s=90), watched)
                session = asker.open_bridge_session(f"acceptance-{work}", timeout_s=90)
                if work == "render":
                    session.generate(render_midi=scale_clip_midi(bars=8, tracks=2, channel=2), request_id="eight-bars")
                else:
                    attributes = composer_pb2.Attributes(
                        bars=8, tempo_bpm=tempo, time_signature=composer_pb2.TimeSignature(numerator=4, denominator=4))
                    session.generate(generate=composer_pb2.GenerateRequest(attributes=attributes), request_id="eight-bars")
                ready = None
                for event in session.events():
                    if event.request_id == "eight-bars" and event.WhichOneof("event") in ("clip", "notice"):
                        ready = event
                        break
                assert ready is not None
                if ready.WhichOneof("event") == "notice":
                    pytest.skip(f"the server cannot generate here: {ready.notice.message}")
                launch = ready.clip.launch_beat
                assert launch % 4 == 0
                clip = clip_from_midi(ready.clip.midi)
                assert clip.length_beats == 32.0
                assert launch + clip.length_beats + 1 < 600, f"the clip launched at beat {launch}, after the clock"
                time.sleep(2.0)
                session.close()  # the asking client leaves mid-clip: the DAW and the watcher keep everything
                end_s = run.start_s + 0.05 + (launch + clip.length_beats + 1) * 60 / tempo
                time.sleep(max(0.0, end_s - time.monotonic()))
            daw.stop_clock(send_stop=True)
            time.sleep(0.2)
            out, _ = stop_bridge(bridge)  # the user stops the bridge: it exits cleanly
            assert bridge.returncode == 0, out
            arrived = daw.messages(lambda d: midi.is_note_on(d) or midi.is_note_off(d))
            expected = [m for m in clip.messages if midi.is_note_on(m.data) or midi.is_note_off(m.data)]
            print(f"ACCEPT {work}: {len(arrived)} of {len(expected)} messages arrived; bridge said:\n{out}")
            assert len(arrived) == len(expected) > 0, out
            channels = {d[0] & 0x0F for _, d in arrived}
            assert channels == {m.data[0] & 0x0F for m in expected}
            for channel in channels:
                # A port keeps order: per channel, exactly the clip's messages in the clip's order (note-offs
                # and note-ons at the same beat may swap between tracks that share a channel).
                got = [d for _, d in arrived if d[0] & 0x0F == channel]
                want = [m.data for m in expected if m.data[0] & 0x0F == channel]
                assert sorted(got) == sorted(want)
                assert [d for d in got if midi.is_note_on(d)] == [d for d in want if midi.is_note_on(d)]
            errors = []
            for channel in channels:
                times = [t for t, d in arrived if midi.is_note_on(d) and d[0] & 0x0F == channel]
                beats = [m.beat + launch for m in expected if midi.is_note_on(m.data) and m.data[0] & 0x0F == channel]
                errors += [t - run.beat_time(b) for t, b in zip(times, beats)]
            errors.sort()
            print(f"ACCEPT {work}: {len(errors)} note-ons, error ms p50 %.2f p90 %.2f p99 %.2f max %.2f min %.2f" % tuple(
                1000 * x for x in (errors[len(errors) // 2], errors[int(len(errors) * 0.9)],
                                   errors[int(len(errors) * 0.99)], errors[-1], errors[0])))
            # Loose bounds for a loaded CI machine (non-realtime jackd, other test processes on 2 cores);
            # benchmarks/bridge.py measures the distribution and holds the tight figures. These catch a
            # wrong beat (250 ms at 240 BPM) or a constant offset of whole ticks (10 ms each here, so a
            # median over a tick fails), not the tail of a busy scheduler.
            assert abs(errors[len(errors) // 2]) < 0.010, errors
            assert errors[int(len(errors) * 0.9)] < 0.04, errors
            assert errors[-1] < 0.1 and errors[0] > -0.1, errors
            assert balanced([d for _, d in arrived])
            watched_notes = [e.midi.data for _, e in watched if e.WhichOneof("event") == "midi"
                             and (midi.is_note_on(e.midi.data) or midi.is_note_off(e.midi.data))]
            assert len(watched_notes) == len(expected) and balanced(watched_notes)
        finally:
            daw.close()


def test_a_daw_leaving_mid_clip_costs_the_other_daw_nothing_and_leaves_no_hanging_notes(
    jack: DummyJack, server_address: str
) -> None:
    """Two DAWs follow one session through their own bridges; one bridge quits while a note is held."""
    clip_bytes = scale_clip_midi(bars=2, step_beats=1.0)
    with bridge_process(server_address, "Quit", "two-daws") as quitting, \
            bridge_process(server_address, "Stay", "two-daws"):
        quit_daw = StandInDaw(MidiApi.JACK, "Quit out", "Quit in")
        stay_daw = StandInDaw(MidiApi.JACK, "Stay out", "Stay in")
        try:
            with Client(server_address) as asker:
                quit_daw.run_clock(beats=40, tempo_bpm=240.0)
                stay_daw.run_clock(beats=40, tempo_bpm=240.0)
                time.sleep(0.4)
                session = asker.open_bridge_session("two-daws", timeout_s=60)
                session.generate(render_midi=clip_bytes, launch_immediately=True)
                deadline = time.monotonic() + 10
                while not quit_daw.messages(midi.is_note_on) and time.monotonic() < deadline:
                    time.sleep(0.005)
                quitting.send_signal(signal.SIGTERM)  # one user quits the bridge while a note is held
                assert quitting.wait(10) == 0
                time.sleep(8 * 0.25 + 1.0)
                session.close()
            left = quit_daw.messages(lambda d: midi.is_note_on(d) or midi.is_note_off(d))
            assert any(midi.is_note_on(d) for _, d in left)
            assert balanced([d for _, d in left])
            all_notes_off = quit_daw.messages(lambda d: d[0] & 0xF0 == midi.CONTROL_CHANGE and d[1] == midi.CC_ALL_NOTES_OFF)
            assert len(all_notes_off) == 16
            stayed = stay_daw.messages(lambda d: midi.is_note_on(d) or midi.is_note_off(d))
            assert [d for _, d in stayed] == [m.data for m in clip_from_midi(clip_bytes).messages]
        finally:
            quit_daw.close()
            stay_daw.close()


def test_generation_and_continuing_what_was_played_use_the_composer(client: Client) -> None:
    with client.open_bridge_session(tempo_bpm=200.0, timeout_s=120) as session:
        session.transport("start")
        attributes = composer_pb2.Attributes(bars=2, tempo_bpm=200.0)
        session.generate(generate=composer_pb2.GenerateRequest(attributes=attributes), request_id="gen")
        # The user plays a phrase into the session; a continuation without a primer continues it.
        for i, pitch in enumerate((60, 62, 64, 65, 67, 65, 64, 62)):
            session.play(midi.note_on(0, pitch, 90), beat=8.0 + i * 0.5)
            session.play(midi.note_off(0, pitch), beat=8.0 + i * 0.5 + 0.45)
        session.generate(continue_clip=composer_pb2.ContinueRequest(bars=1), request_id="cont")
        answers: dict[str, bridge_pb2.SessionEvent] = {}
        notes: dict[str, int] = {"gen": 0, "cont": 0}
        for event in session.events():
            kind = event.WhichOneof("event")
            if kind in ("clip", "notice") and event.request_id in notes:
                answers.setdefault(event.request_id, event)
            if kind == "midi" and event.request_id in notes and midi.is_note_on(event.midi.data):
                notes[event.request_id] += 1
            if len(answers) == 2 and all(
                a.WhichOneof("event") == "notice" or notes[rid] == clip_from_midi(a.clip.midi).note_count
                for rid, a in answers.items()
            ):
                break
    if answers["gen"].WhichOneof("event") == "notice":
        pytest.skip(f"the server cannot generate here: {answers['gen'].notice.message}")
    generated = clip_from_midi(answers["gen"].clip.midi)
    assert generated.length_beats == 8.0 and generated.note_count > 0
    assert notes["gen"] == generated.note_count
    assert answers["cont"].WhichOneof("event") == "clip", answers["cont"]
    continued = clip_from_midi(answers["cont"].clip.midi)
    assert continued.length_beats == 4.0  # only the new bar: the user already played the primer
    assert notes["cont"] == continued.note_count


def test_render_audio_comes_with_the_clip(client: Client) -> None:
    clip_bytes = scale_clip_midi(bars=1)
    with client.open_bridge_session(timeout_s=60) as session:
        session.generate(render_midi=clip_bytes, render_audio=True, request_id="audio")
        ready = next(e for e in session.events() if e.WhichOneof("event") in ("clip", "notice"))
    assert ready.WhichOneof("event") == "clip", ready
    assert ready.clip.midi == clip_bytes
    wav = ready.clip.wav
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    # 44.1 kHz stereo 16-bit: one 4/4 bar at 120 BPM is 2 s, plus the release tail.
    assert len(wav) > 2 * 44_100 * 2 * 2


def test_ostinato_bridge_as_clock_master_obeys_the_sessions_transport(jack: DummyJack, server_address: str) -> None:
    with bridge_process(server_address, "Master", "mastered", "--clock", "master", "--tempo", "200",
                        "--no-input") as bridge:
        daw = StandInDaw(MidiApi.JACK, "Master out", None)
        try:
            with Client(server_address) as remote:
                session = remote.open_bridge_session("mastered", timeout_s=60)
                time.sleep(1.0)
                session.transport("stop")  # a remote client stops the bridge's clock...
                time.sleep(0.5)
                stopped_at = len(daw.received)
                time.sleep(0.5)
                assert len(daw.received) == stopped_at  # ...and it stays silent
                session.generate(render_midi=scale_clip_midi(bars=1, step_beats=1.0), request_id="m")
                session.transport("start")  # ...and starts it again from beat 0: the clip waits for it
                # It launches at bar 1 or 2 (0.3 s a beat): wait for its four notes.
                deadline = time.monotonic() + 8
                while len(daw.messages(midi.is_note_on)) < 4 and time.monotonic() < deadline:
                    time.sleep(0.05)
                session.close()
            realtime = [d[0] for _, d in daw.received if d[0] >= 0xF0]
            ticks_before_stop = realtime[: realtime.index(midi.STOP)].count(midi.CLOCK)
            assert 0.6 * 200 / 60 * 24 <= ticks_before_stop  # about a second of 200 BPM clock
            assert midi.START in realtime[realtime.index(midi.STOP):]
            ons = [d[1] for _, d in daw.messages(midi.is_note_on)]
            out, err = stop_bridge(bridge)
            if ons != [60, 61, 62, 63]:
                # A loaded CI machine once held the bridge's player back past its 250 ms limit, and one
                # note went missing. The player drops such a note rather than play it out of time, and
                # the bridge must say so; an unreported loss, or a wrong or reordered note, is a fault.
                assert "late: dropped" in out, (ons, out, err)
                assert len(ons) >= 2 and all(a < b for a, b in zip(ons, ons[1:])), ons
                assert set(ons) < {60, 61, 62, 63}, ons
        finally:
            daw.close()


# -- the DAW drives the session: control notes, pushed clips, loops, queued replacements -----------------
def wait_for_clip(events: list, request_prefix: str = "", timeout_s: float = 90.0):  # type: ignore[no-untyped-def]
    """The first clip (or error notice) event collected so far, waiting for it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for _, event in list(events):
            if event.WhichOneof("event") in ("clip", "notice") and event.request_id.startswith(request_prefix) \
                    and event.request_id:
                return event
        time.sleep(0.05)
    raise AssertionError(f"no clip for {request_prefix!r} within {timeout_s} s")


def note_on_times(daw: StandInDaw, keep=lambda data: True) -> list[tuple[float, bytes]]:  # type: ignore[no-untyped-def]
    return [(t, d) for t, d in daw.messages(midi.is_note_on) if keep(d)]


def test_a_note_on_the_control_channel_makes_a_clip_that_starts_on_the_next_bar(
    jack: DummyJack, server_address: str, tmp_path
) -> None:
    mapping = tmp_path / "controls.toml"
    mapping.write_text('control_channel = 16\nbars = 1\nloop = false\n[notes]\nC2 = "generate"\n[cc]\n1 = "density"\n')
    tempo = 120.0
    with bridge_process(server_address, "Ctl", "control-note", "--mapping", str(mapping)) as bridge:
        daw = StandInDaw(MidiApi.JACK, "Ctl out", "Ctl in")
        try:
            with Client(server_address) as watcher_client:
                watched: list = []
                collect(watcher_client.watch_bridge_session("control-note", timeout_s=120), watched)
                run = daw.run_clock(beats=400, tempo_bpm=tempo)
                time.sleep(1.0)
                for pitch in (62, 66, 69):  # hold a D major chord on the playing channel
                    daw.send(midi.note_on(0, pitch, 80))
                daw.send(bytes((midi.CONTROL_CHANGE | 15, 1, 100)))  # density knob
                daw.send(bytes((midi.CONTROL_CHANGE | 15, 99, 5)))  # a knob that means nothing: refused
                asked_at = time.monotonic()
                daw.send(midi.note_on(15, 36, 100))  # C2 on channel 16: generate
                daw.send(midi.note_off(15, 36))
                ready = wait_for_clip(watched)
                if ready.WhichOneof("event") == "notice":
                    pytest.skip(f"the server cannot generate here: {ready.notice.message}")
                launch = ready.clip.launch_beat
                asked_beat = (asked_at - run.tick_s[0]) * tempo / 60
                assert launch % 4 == 0 and launch > asked_beat
                clip = clip_from_midi(ready.clip.midi)
                first = min(m.beat for m in clip.messages if midi.is_note_on(m.data))
                deadline = time.monotonic() + 10 + (launch + 4) * 60 / tempo - (time.monotonic() - run.tick_s[0])
                while not note_on_times(daw, lambda d: d[0] & 0x0F != 15) and time.monotonic() < deadline:
                    time.sleep(0.05)
                arrivals = note_on_times(daw, lambda d: d[0] & 0x0F != 15)
                assert arrivals, "the generated clip never reached the DAW"
                while len(run.tick_s) <= (launch + first + 1) * 24:  # the clock has passed that beat
                    time.sleep(0.05)
                error_s = arrivals[0][0] - run.beat_time(launch + first)
                # Loaded CI: generous. A wrong bar would be off by 2 s, Start-not-tick by a tick or more.
                assert abs(error_s) < 0.06, error_s
            daw.stop_clock(send_stop=True)
            out, err = stop_bridge(bridge)
            assert "controller 99 on control channel 16 means nothing" in out
            assert "key D major" in out and "density 0.79" in out
            # The first clock estimate can be off on a loaded machine; the followed tempo settles at 120.
            assert re.search(r"status: (clock|tempo): 1[12]\d\.\d BPM", out), out
            assert "status: Start: armed" in out and "status: Stop" in out
            assert "JackSocket" not in err and "CheckRes" not in err
        finally:
            daw.close()


def wait_for_event(events: list, matches, timeout_s: float = 120.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for _, event in list(events):
            if matches(event):
                return event
        time.sleep(0.05)
    raise AssertionError(f"no matching session event within {timeout_s} s: {[e for _, e in events][-5:]}")


def test_drumify_and_accompany_from_the_control_channel_follow_what_was_played(
    jack: DummyJack, server_address: str, tmp_path
) -> None:
    """The DAW plays two bars (bass on beats 1 and 3, eighths above), then E2 on the control channel:
    drums for what it played arrive on the GM drum channel, starting on the next bar, the kick with the
    bass. Then F2: the played clip is rendered with FluidSynth and accompanied; the session names the
    WAV files, which hold audio as long as the clip."""
    import soundfile

    mapping = tmp_path / "controls.toml"
    mapping.write_text('control_channel = 16\nloop = false\n[notes]\nE2 = "drumify"\nF2 = "accompany"\n')
    tempo = 120.0
    beat_s = 60 / tempo
    with bridge_process(server_address, "Drm", "drumify-session", "--mapping", str(mapping)) as bridge:
        daw = StandInDaw(MidiApi.JACK, "Drm out", "Drm in")
        try:
            with Client(server_address) as watcher_client:
                watched: list = []
                collect(watcher_client.watch_bridge_session("drumify-session", timeout_s=180), watched)
                run = daw.run_clock(beats=600, tempo_bpm=tempo)
                time.sleep(0.5)
                first_beat = 8
                for eighth in range(16):  # two bars from beat 8, sent on the DAW's beats
                    at_beat = first_beat + eighth / 2
                    wait_until(run.tick_s[0] + at_beat * beat_s)
                    if eighth % 4 == 0:
                        daw.send(midi.note_on(0, 40, 90))
                    daw.send(midi.note_on(0, 72 + eighth % 5, 80))
                    wait_until(run.tick_s[0] + (at_beat + 0.4) * beat_s)
                    if eighth % 4 == 0:
                        daw.send(midi.note_off(0, 40))
                    daw.send(midi.note_off(0, 72 + eighth % 5))
                daw.send(midi.note_on(15, 40, 100))  # E2 on channel 16: drumify
                daw.send(midi.note_off(15, 40))
                asked_beat = (time.monotonic() - run.tick_s[0]) / beat_s
                ready = wait_for_event(watched, lambda e: e.WhichOneof("event") == "clip" or (
                    e.WhichOneof("event") == "notice" and e.notice.code == "error"))
                assert ready.WhichOneof("event") == "clip", ready
                launch = ready.clip.launch_beat
                assert launch % 4 == 0 and launch > asked_beat
                drums = clip_from_midi(ready.clip.midi)
                hits = [m for m in drums.messages if midi.is_note_on(m.data)]
                assert hits and all(m.data[0] & 0x0F == 9 for m in hits), "drums alone, on channel 10"
                kick_beats = {round(m.beat * 4) / 4 for m in hits if m.data[1] == 36}
                played_bass = {float(b) for b in range(0, 8, 2)}  # beats 0 and 2 of each bar, in the clip
                offset = min(kick_beats)
                assert played_bass <= {b - offset for b in kick_beats}, (kick_beats, played_bass)
                first = min(m.beat for m in hits)
                deadline = time.monotonic() + 10 + (launch + 8) * beat_s - (time.monotonic() - run.tick_s[0])
                while not note_on_times(daw, lambda d: d[0] & 0x0F == 9) and time.monotonic() < deadline:
                    time.sleep(0.05)
                arrivals = note_on_times(daw, lambda d: d[0] & 0x0F == 9)
                assert arrivals, "the drums never reached the DAW"
                while len(run.tick_s) <= (launch + first + 1) * 24:
                    time.sleep(0.05)
                error_s = arrivals[0][0] - run.beat_time(launch + first)
                assert abs(error_s) < 0.06, error_s

                daw.send(midi.note_on(15, 41, 100))  # F2: accompany what was played
                daw.send(midi.note_off(15, 41))
                said = wait_for_event(watched, lambda e: e.WhichOneof("event") == "notice" and (
                    e.notice.code in ("accompaniment", "error")), timeout_s=240)
                assert said.notice.code == "accompaniment", said.notice.message
                paths = re.findall(r"(/\S+\.wav)", said.notice.message)
                assert len(paths) == 2, said.notice.message
                audio_ready = wait_for_event(watched, lambda e: e.WhichOneof("event") == "clip" and not e.clip.midi)
                assert audio_ready.clip.wav[:4] == b"RIFF"
                for path in paths:
                    samples, rate = soundfile.read(path)
                    assert 3.5 < len(samples) / rate < 12.0  # the two played bars (4 s) and a release tail
                    assert abs(samples).max() > 0.01, f"{path} is silent"
            daw.stop_clock(send_stop=True)
            out, _ = stop_bridge(bridge)
            assert "drumify what you played" in out and "accompaniment: " in out
        finally:
            daw.close()


def test_pushed_clips_loop_three_times_in_time_and_a_queued_clip_replaces_the_loop_on_the_bar(
    jack: DummyJack, server_address: str, tmp_path
) -> None:
    """`ostinato push` from the shell reaches a running session: a one-bar loop plays three times on the
    DAW's beats; a second push into the same lane replaces it on a bar line, and nothing hangs."""
    tempo = 240.0  # a bar is one second
    loop_file, next_file = tmp_path / "loop.mid", tmp_path / "next.mid"
    loop_file.write_bytes(scale_clip_midi(bars=1, step_beats=1.0, first_pitch=60))
    next_file.write_bytes(scale_clip_midi(bars=1, step_beats=1.0, first_pitch=80))
    with bridge_process(server_address, "Loop", "pushed"):
        daw = StandInDaw(MidiApi.JACK, "Loop out", "Loop in")
        try:
            run = daw.run_clock(beats=200, tempo_bpm=tempo)
            time.sleep(1.0)
            pushed = subprocess.run([*OSTINATO, "push", str(loop_file), "--session", "pushed", "--loop",
                                     "--server", server_address], capture_output=True, text=True, timeout=60)
            assert pushed.returncode == 0, pushed.stderr
            launch = float(re.search(r"launches at beat (\S+)", pushed.stdout).group(1))  # type: ignore[union-attr]
            assert launch % 4 == 0
            # Wait for three loops, then queue the replacement.
            while len(note_on_times(daw)) < 10 and time.monotonic() - run.tick_s[0] < (launch + 20) * 60 / tempo:
                time.sleep(0.02)
            replaced = subprocess.run([*OSTINATO, "push", str(next_file), "--session", "pushed", "--loop",
                                       "--server", server_address], capture_output=True, text=True, timeout=60)
            assert replaced.returncode == 0, replaced.stderr
            switch = float(re.search(r"launches at beat (\S+)", replaced.stdout).group(1))  # type: ignore[union-attr]
            assert switch % 4 == 0 and switch >= launch + 12
            end_s = run.tick_s[0] + (switch + 8.5) * 60 / tempo
            time.sleep(max(0.0, end_s - time.monotonic()))
            daw.stop_clock(send_stop=True)
            time.sleep(0.3)
        finally:
            daw.close()
    ons = note_on_times(daw)
    old = [(t, d) for t, d in ons if d[1] < 80]
    new = [(t, d) for t, d in ons if d[1] >= 80]
    loops = int((switch - launch) // 4)
    assert loops >= 3
    assert [d[1] for _, d in old] == [60, 61, 62, 63] * loops  # every repetition whole, none after the switch
    assert [d[1] for _, d in new][:8] == [80, 81, 82, 83] * 2
    errors = [t - run.beat_time(launch + i) for i, (t, _) in enumerate(old)]
    errors += [t - run.beat_time(switch + i) for i, (t, _) in enumerate(new[:8])]
    print("LOOP errors ms: p50 %.2f max %.2f min %.2f" % (
        1000 * statistics.median(errors), 1000 * max(errors), 1000 * min(errors)))
    # Generous for a loaded CI machine; benchmarks/bridge.py measures the distribution.
    assert abs(statistics.median(errors)) < 0.02 and max(abs(e) for e in errors) < 0.1
    assert balanced([d for _, d in daw.messages(lambda d: midi.is_note_on(d) or midi.is_note_off(d))])
    with Client(server_address) as client:
        exported = client.export_session("pushed")
    played = clip_from_midi(exported.played_midi)
    assert [m.data[1] for m in played.messages if midi.is_note_on(m.data)][: 4 * loops] == [60, 61, 62, 63] * loops


def test_push_refuses_a_bad_file_and_an_unknown_session(server_address: str, tmp_path) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not midi")
    result = subprocess.run([*OSTINATO, "push", str(bad), "--session", "x", "--server", server_address],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "bad.mid" in result.stderr and "Traceback" not in result.stderr
    good = tmp_path / "good.mid"
    good.write_bytes(scale_clip_midi(bars=1))
    result = subprocess.run([*OSTINATO, "push", str(good), "--session", "no-such-session", "--server", server_address],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "INVALID_ARGUMENT" in result.stderr and "no-such-session" in result.stderr


def test_a_missing_or_bad_midi_file_is_refused_before_any_port_opens(jack: DummyJack, tmp_path) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd garbage")
    for path in (tmp_path / "missing.mid", bad):
        result = subprocess.run([*OSTINATO, "bridge", "--api", "jack", "--port-name", "Refused", "--client-name",
                                 "Refused", "--server", "127.0.0.1:9", "--midi", str(path)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert path.name in result.stderr and "Traceback" not in result.stderr
        assert not result.stdout.startswith("session")
    lsp = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10)
    assert "Refused" not in lsp.stdout


def test_a_bad_mapping_file_is_refused_naming_it(jack: DummyJack, tmp_path) -> None:
    mapping = tmp_path / "controls.toml"
    mapping.write_text('[notes]\n36 = "explode"\n')
    result = subprocess.run([*OSTINATO, "bridge", "--api", "jack", "--server", "127.0.0.1:9", "--mapping", str(mapping)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and str(mapping) in result.stderr and "explode" in result.stderr


# -- the docs' connection commands, run exactly as written ------------------------------------------------
DOCS = Path(__file__).resolve().parents[2] / "docs" / "daw_bridge.md"


def docs_connection_commands() -> list[str]:
    """The `jack_connect` lines of the docs' JACK connection block (```sh ... ``` after the marker)."""
    text = DOCS.read_text()
    block = text.split("<!-- connection-commands -->", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip().startswith("jack_connect")]


ARDOUR_STAND_IN = """
import ctypes, sys
jack = ctypes.CDLL("libjack.so.0")
jack.jack_client_open.restype = ctypes.c_void_p
jack.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
jack.jack_port_register.restype = ctypes.c_void_p
jack.jack_port_register.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_ulong]
jack.jack_activate.argtypes = jack.jack_deactivate.argtypes = jack.jack_client_close.argtypes = [ctypes.c_void_p]
name, inputs, outputs = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
status = ctypes.c_int()
client = jack.jack_client_open(name.encode(), 0x01 | 0x02, ctypes.byref(status))  # no server start, exact name
if not client:
    sys.exit(f"JACK refused a client named {name!r} (status {status.value:#x})")
for port, flags in [(p, 0x1) for p in inputs if p] + [(p, 0x2) for p in outputs if p]:  # JackPortIsInput/Output
    if not jack.jack_port_register(client, port.encode(), b"8 bit raw midi", flags, 0):
        sys.exit(f"JACK refused the port {port!r}")
if jack.jack_activate(client) != 0:
    sys.exit("JACK refused to activate the client")
print("ready", flush=True)
sys.stdin.read()  # held until the test closes our stdin
jack.jack_deactivate(client)
jack.jack_client_close(client)
"""


class JackClientWithPorts:
    """A JACK client holding several MIDI ports, as a DAW does (`ardour:Ostinato/midi_in 1` and
    `ardour:MIDI Clock out` belong to one client; python-rtmidi would make one client per port).
    Registered through libjack directly in its own process (so it talks to the JACK server that
    JACK_DEFAULT_SERVER names now, whatever server this test process met first); no process callback,
    so it only holds ports to connect."""

    def __init__(self, name: str, inputs: list[str], outputs: list[str]) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", ARDOUR_STAND_IN, name, ",".join(inputs), ",".join(outputs)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if line.strip() != "ready":
            self._process.kill()
            _, err = self._process.communicate(timeout=5)
            pytest.fail(f"the stand-in DAW client {name!r} did not start: {line!r} {err}")

    def close(self) -> None:
        try:
            self._process.communicate(input="", timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate(timeout=5)


def connections() -> str:
    return subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True, timeout=10).stdout


def test_the_docs_connection_commands_work_as_written(server_address: str) -> None:
    """Run on a JACK server of its own: the docs' names are the bridge's defaults ("Ostinato out"), and on
    the shared test server an earlier test's client could still hold them, so JACK would rename ours
    ("Ostinato out-01"). Everything here talks to JACK from its own process (the bridge, --list-ports,
    the stand-in Ardour, jack_connect, jack_lsp), so JACK_DEFAULT_SERVER reaches all of them."""
    if not DummyJack.available():
        pytest.skip("jackd is not installed (apt-get install jackd2)")
    name = f"docs{os.getpid()}"
    with DummyJack(name):
        _run_the_docs_connection_commands(server_address)
    # jackd died of SIGPIPE at this stop in every run (notifying clients that had gone) and kept its slot
    # in JACK's 8-slot registry; stop() gives it back, or CI machines run out of slots.
    assert name not in [entry.name for entry in jack_registry.servers()]


def _run_the_docs_connection_commands(server_address: str) -> None:
    commands = docs_connection_commands()
    assert len(commands) >= 2
    # The DAW of the docs' example: Ardour with a MIDI track "Ostinato" and "Send MIDI Clock" on.
    ardour = JackClientWithPorts("ardour", inputs=["Ostinato/midi_in 1"], outputs=["MIDI Clock out"])
    try:
        with bridge_process(server_address, "Ostinato", "docs-session", default_names=True) as bridge:
            listed = subprocess.run([*OSTINATO, "bridge", "--list-ports", "--api", "jack"],
                                    capture_output=True, text=True, timeout=60)
            assert listed.returncode == 0, listed.stderr
            for command in commands:
                done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=10)
                assert done.returncode == 0, f"{command!r}: {done.stdout} {done.stderr}"
            wired = connections()
            out, _ = stop_bridge(bridge)
        # The names the bridge printed are the ones the docs connect.
        assert "port out: Ostinato out:Ostinato out" in out and "port in: Ostinato in:Ostinato in" in out
        lines = wired.splitlines()
        out_at = lines.index("Ostinato out:Ostinato out")
        assert lines[out_at + 1].strip() == "ardour:Ostinato/midi_in 1"
        clock_at = lines.index("ardour:MIDI Clock out")
        assert lines[clock_at + 1].strip() == "Ostinato in:Ostinato in"
        # --list-ports while that bridge ran: the names were taken, so JACK renamed the listing's clients,
        # and it printed what JACK really gave; the DAW's ports are listed too.
        assert "out  Ostinato out-01:Ostinato out" in listed.stdout, listed.stdout
        assert "ardour:Ostinato/midi_in 1" in listed.stdout and "ardour:MIDI Clock out" in listed.stdout
    finally:
        ardour.close()


def test_libjacks_own_messages_stay_out_of_the_terminal(jack: DummyJack, server_address: str, tmp_path) -> None:
    """A JACK server that goes away under the bridge makes libjack print socket and futex complaints
    from C; they belong in the native log, not in the user's terminal (the bridge's stderr)."""
    native_log = tmp_path / "native.log"
    with DummyJack(f"chat{os.getpid()}") as private:
        process = start_bridge(server_address, "Chat", "chatter", "--native-log", str(native_log))
        time.sleep(1.0)
        private.stop()  # the server vanishes under the running bridge
        time.sleep(1.5)
    _, err = stop_bridge(process, timeout_s=15)
    chatter = native_log.read_text(errors="replace")
    assert "Jack" in chatter or "jack" in chatter, chatter  # libjack did complain...
    for line in err.splitlines():  # ...but not into the terminal
        assert not re.search(r"Jack[A-Z]\w+|CheckRes|Cannot read socket", line), err
