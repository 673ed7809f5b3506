"""Continue with a new section through the server: key, tempo and instruments change at the boundary,
the primer comes back unchanged, and a bad change is INVALID_ARGUMENT naming what was wrong."""

from __future__ import annotations

import io

import grpc
import pretty_midi
import pytest

from server.client import Client, ServerError
from server.client.composer import make_attributes
from tests.conftest import make_midi


def test_continue_changes_key_tempo_and_instruments_at_the_boundary(client: Client) -> None:
    scale = [60, 62, 64, 65, 67, 69, 71, 72] * 4
    primer = make_midi([(pitch, i * 0.5, i * 0.5 + 0.45) for i, pitch in enumerate(scale)], program=73)  # 8 bars
    clip = client.continue_midi(primer, 4, seed=3, changes=make_attributes(key="A minor", tempo_bpm=90.0),
                                entering=["acoustic bass"])
    parsed = pretty_midi.PrettyMIDI(io.BytesIO(clip.midi))
    times, tempos = parsed.get_tempo_changes()
    assert [round(t) for t in tempos] == [120, 90] and times[1] == pytest.approx(16.0)
    assert [pretty_midi.key_number_to_key_name(k.key_number) for k in parsed.key_signature_changes][-1] == "A minor"
    flute = next(i for i in parsed.instruments if i.program == 73)
    before = [(n.pitch, round(n.start, 3)) for n in flute.notes if n.start < 16.0]
    assert before == [(p, round(i * 0.5, 3)) for i, p in enumerate(scale)]
    bass = [i for i in parsed.instruments if i.program == 32]
    assert bass and all(n.start >= 16.0 - 1e-6 for n in bass[0].notes) and bass[0].notes
    assert clip.requested.key.tonic_pitch_class == 9


def test_a_bad_change_is_invalid_argument(client: Client) -> None:
    with pytest.raises(ServerError) as caught:
        client.continue_midi(make_midi(), 2, leaving=["violin"])
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT and "violin" in str(caught.value)
