"""The generated drum-groove library: every groove fits its bars, with fills and humanised velocities."""

from __future__ import annotations

import numpy as np

from symbolic.attributes import DRUM_PROGRAM, bar_quarters
from symbolic.drums import GROOVES, KICK, grooves_for, render_groove, steps_per_bar


def test_every_groove_stays_in_its_bars() -> None:
    for index, groove in enumerate(GROOVES):
        table = render_groove(groove, 8, 120.0, seed=index)
        bar_q = bar_quarters(groove.time_signature)
        assert len(table) > 8
        assert (table.program == DRUM_PROGRAM).all()
        assert table.onset_q.min() >= 0 and table.onset_q.max() < 8 * bar_q
        bars_with_notes = set((table.onset_q // bar_q).astype(int))
        assert bars_with_notes == set(range(8)), groove


def test_grooves_cover_the_common_meters() -> None:
    for meter in ((4, 4), (3, 4), (6, 8), (2, 4), (9, 8), (12, 8), (2, 2)):
        assert grooves_for(meter), meter
    assert grooves_for((6, 8), "jig")[0].style == "jig"


def test_fills_and_variation_are_seeded() -> None:
    groove = grooves_for((4, 4), "rock")[0]
    first = render_groove(groove, 8, 100.0, seed=1)
    again = render_groove(groove, 8, 100.0, seed=1)
    other = render_groove(groove, 8, 100.0, seed=2)
    assert np.array_equal(first.pitch, again.pitch) and np.array_equal(first.velocity, again.velocity)
    assert not (len(first) == len(other) and np.array_equal(first.velocity, other.velocity))
    bar_q = bar_quarters((4, 4))
    fourth_bar = first.select((first.onset_q >= 3 * bar_q) & (first.onset_q < 4 * bar_q))
    assert set(fourth_bar.pitch) - set(groove.steps) - {KICK}, "bar 4 ends a phrase with a fill"
    assert len(set(first.velocity)) > 3, "velocities are humanised"
    assert steps_per_bar((6, 8)) == 12
