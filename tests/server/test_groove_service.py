"""Drumify and Groove through a real server socket (and the CLI): the drums follow the clip's onsets, the
groove moves onsets off the grid by amounts a player would, keeps every note, and repeats with a seed."""

from __future__ import annotations

import io
import subprocess
import sys

import grpc
import numpy as np
import pretty_midi
import pytest

from server.client import Client, ServerError
from symbolic.attributes import NoteTable
from symbolic.drums import KICK
from symbolic.midi_io import table_to_midi

OSTINATO = [sys.executable, "-m", "server.cli"]
TEMPO_BPM = 100.0
SECONDS_PER_BEAT = 60.0 / TEMPO_BPM


def quantised_clip(bars: int = 8) -> bytes:
    """A quantised piano clip at 100 bpm, 4/4, all velocities 80: a bass note on beats 1 and 3, chords
    on beats 2 and 4, a melody in eighths with sixteenths in every other bar; bar 5 is silent."""
    onsets, pitches, durations = [], [], []
    for bar in range(bars):
        if bar == 5:
            continue
        start = bar * 4.0
        for beat in (0.0, 2.0):
            onsets.append(start + beat), pitches.append(36 + bar % 3), durations.append(1.0)
        for beat in (1.0, 3.0):
            for pitch in (60, 64, 67):
                onsets.append(start + beat), pitches.append(pitch), durations.append(0.5)
        step = 0.25 if bar % 2 else 0.5
        for index in range(int(4 / step)):
            onsets.append(start + index * step), pitches.append(72 + (index * 5) % 12), durations.append(step)
    count = len(onsets)
    table = NoteTable(np.array(onsets), np.array(durations), np.array(pitches), np.zeros(count, dtype=int),
                      np.full(count, 80))
    return table_to_midi(table, (4, 4), TEMPO_BPM, bars=bars)


def notes(midi: bytes, drums: bool | None = None) -> list[pretty_midi.Note]:
    parsed = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    return sorted((n for i in parsed.instruments if drums is None or i.is_drum == drums for n in i.notes),
                  key=lambda n: (n.pitch, n.start))


def onsets_by_pitch_order(midi: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    found = notes(midi)
    return (np.array([n.start for n in found]), np.array([n.pitch for n in found]),
            np.array([n.velocity for n in found]))


# -- Drumify ------------------------------------------------------------------------------------------
def test_drumify_plays_on_the_clips_onsets_and_keeps_its_silent_bar(client: Client) -> None:
    original = quantised_clip()
    clip = client.drumify(original, style="rock")
    drums = notes(clip.midi, drums=True)
    assert drums and not notes(clip.midi, drums=False), "without merge only the drum track comes back"
    bar_s = 4 * SECONDS_PER_BEAT
    pitched_onsets = {round(n.start / (SECONDS_PER_BEAT / 4)) for n in notes(original)}
    drum_steps = {round(n.start / (SECONDS_PER_BEAT / 4)) for n in drums}
    # every drum hit lands on a sixteenth where the clip plays, or on the groove's backbeat (beats 2, 4)
    backbeat = {step for step in drum_steps if step % 16 in (4, 12)}
    assert drum_steps - backbeat <= pitched_onsets
    kicks = [n for n in drums if n.pitch == KICK]
    bass_onsets = {round(n.start / (SECONDS_PER_BEAT / 4)) for n in notes(original) if n.pitch <= 55}
    assert {round(n.start / (SECONDS_PER_BEAT / 4)) for n in kicks} >= bass_onsets  # the kick doubles the bass
    assert not [n for n in drums if 5 * bar_s - 0.01 <= n.start < 6 * bar_s - 0.01], "the silent bar stays silent"
    assert clip.measured.instruments[0].is_drum and clip.seed == 1
    # the NoteSequence carries the same drums
    assert sum(1 for n in clip.note_sequence.notes if n.is_drum) == len(drums)


def test_drumify_merge_keeps_the_clip_and_adds_the_drums(client: Client) -> None:
    original = quantised_clip()
    merged = client.drumify(original, merge=True, seed=2).midi
    kept = [(n.pitch, round(n.start, 4), round(n.end, 4), n.velocity) for n in notes(merged, drums=False)]
    assert kept == [(n.pitch, round(n.start, 4), round(n.end, 4), n.velocity) for n in notes(original)]
    assert notes(merged, drums=True)


def test_drumify_refuses_bad_input_naming_the_problem(client: Client) -> None:
    with pytest.raises(ServerError) as error:
        client.drumify(quantised_clip(), style="dubstep")
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT and "dubstep" in error.value.details
    assert "rock" in error.value.details  # the known styles are named
    with pytest.raises(ServerError) as error:
        client.drumify(client.drumify(quantised_clip()).midi)  # drums alone: nothing pitched to follow
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT and "pitched notes" in error.value.details
    with pytest.raises(ServerError) as error:
        client.drumify(b"not a midi file")
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT and "MIDI" in error.value.details


# -- Groove -------------------------------------------------------------------------------------------
def test_groove_moves_onsets_off_the_grid_by_plausible_amounts_and_keeps_every_note(client: Client) -> None:
    original = quantised_clip()
    progress = []
    clip = client.groove(original, amount=1.0, seed=7, on_progress=progress.append)
    assert progress and progress[-1].fraction == pytest.approx(1.0)
    before_on, before_pitch, before_velocity = onsets_by_pitch_order(original)
    after_on, after_pitch, after_velocity = onsets_by_pitch_order(clip.midi)
    assert len(after_on) == len(before_on) and (after_pitch == before_pitch).all()
    moved_ms = (after_on - before_on) * 1000
    assert np.mean(np.abs(moved_ms) > 2.0) > 0.5, "most onsets leave the grid"
    assert 3.0 < np.std(moved_ms) < 40.0, np.std(moved_ms)  # players, not a drunk: tens of ms at most
    assert np.abs(moved_ms).max() <= 0.125 * SECONDS_PER_BEAT * 1000 + 1.0  # never more than a 32nd
    assert abs(np.mean(moved_ms)) < 15.0  # no constant shift of the whole clip
    assert after_velocity.std() > 3.0 and (after_velocity != 80).mean() > 0.5
    assert 50 < after_velocity.mean() < 110
    # accents by position: downbeats louder on average than sixteenth off-beats
    step = np.round(before_on / (SECONDS_PER_BEAT / 4)).astype(int) % 16
    assert after_velocity[step == 0].mean() > after_velocity[step % 2 == 1].mean()
    assert clip.seed == 7


def test_groove_is_deterministic_with_a_seed_and_amount_0_is_unchanged(client: Client) -> None:
    original = quantised_clip()
    first = client.groove(original, amount=0.6, seed=11).midi
    assert client.groove(original, amount=0.6, seed=11).midi == first
    assert client.groove(original, amount=0.6, seed=12).midi != first
    unchanged = client.groove(original, amount=0.0, seed=11)
    assert unchanged.midi == original
    # a smaller amount moves less
    full_on = onsets_by_pitch_order(client.groove(original, amount=1.0, seed=11).midi)[0]
    half_on = onsets_by_pitch_order(client.groove(original, amount=0.3, seed=11).midi)[0]
    base = onsets_by_pitch_order(original)[0]
    assert np.abs(half_on - base).mean() < np.abs(full_on - base).mean()


def test_groove_refuses_bad_input_naming_the_problem(client: Client) -> None:
    for amount in (1.5, -0.1, float("nan")):
        with pytest.raises(ServerError) as error:
            client.groove(quantised_clip(), amount=amount)
        assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT and "amount" in error.value.details
    with pytest.raises(ServerError) as error:
        client.groove(b"MThd garbage")
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT and "MIDI" in error.value.details


def test_a_file_over_the_edit_note_budget_is_refused_before_any_work(client: Client) -> None:
    """Drumify and Groove rewrite every event of the file; one over MAX_EDIT_NOTES is RESOURCE_EXHAUSTED
    (a hostile 20,000-note file cost 3.5 s of server CPU before this bound)."""
    from server.application.groove import MAX_EDIT_NOTES

    many = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(80, 60 + i % 12, i * 0.01, i * 0.01 + 0.005) for i in range(MAX_EDIT_NOTES + 1)]
    many.instruments.append(piano)
    buffer = io.BytesIO()
    many.write(buffer)
    for call in (client.groove, client.drumify):
        with pytest.raises(ServerError) as error:
            call(buffer.getvalue())
        assert error.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "notes" in error.value.details


def test_the_cli_writes_drums_and_a_humanised_clip(server_address: str, tmp_path) -> None:
    clip = tmp_path / "clip.mid"
    clip.write_bytes(quantised_clip())
    done = subprocess.run([*OSTINATO, "drumify", str(clip), "-o", str(tmp_path / "drums.mid"), "--merge",
                           "--server", server_address], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    merged = notes((tmp_path / "drums.mid").read_bytes())
    assert len(notes((tmp_path / "drums.mid").read_bytes(), drums=True)) > 0 and len(merged) > len(notes(clip.read_bytes()))
    done = subprocess.run([*OSTINATO, "groove", str(clip), "-o", str(tmp_path / "humanised.mid"), "--amount", "0.5",
                           "--seed", "3", "--server", server_address], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "seed 3" in done.stdout
    assert len(notes((tmp_path / "humanised.mid").read_bytes())) == len(notes(clip.read_bytes()))
    done = subprocess.run([*OSTINATO, "groove", str(tmp_path / "missing.mid"), "-o", str(tmp_path / "x.mid"),
                           "--server", server_address], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "missing.mid" in done.stderr and "Traceback" not in done.stderr
