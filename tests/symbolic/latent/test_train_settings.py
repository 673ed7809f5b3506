"""`python -m symbolic.latent.train --resume` keeps the run's own training settings."""

from __future__ import annotations

import argparse
from dataclasses import asdict

import pytest

from symbolic.latent.train import TrainConfig, _train_config


def args(**given: float | None) -> argparse.Namespace:
    values = {"batch_size": None, "max_beta": None, "free_bits": None, "learning_rate": None}
    values.update(given)
    return argparse.Namespace(**values)


def test_a_resumed_run_keeps_its_own_settings_unless_the_command_line_changes_one() -> None:
    run = TrainConfig(batch_size=32, max_beta=0.5, free_bits=256.0, learning_rate=5e-4)
    state = {"train_config": asdict(run)}
    resumed = _train_config(args(), state, drums=True)
    assert (resumed.free_bits, resumed.learning_rate, resumed.batch_size, resumed.max_beta) == (256.0, 5e-4, 32, 0.5)
    assert resumed.transpose == 0  # drums are never transposed
    changed = _train_config(args(learning_rate=1e-4), state, drums=False)
    assert changed.learning_rate == 1e-4 and changed.free_bits == 256.0 and changed.transpose == TrainConfig.transpose


def test_a_new_run_takes_the_defaults_and_an_old_checkpoint_asks_for_its_settings() -> None:
    assert _train_config(args(), None, drums=False) == TrainConfig()
    with pytest.raises(SystemExit, match="--free-bits"):
        _train_config(args(learning_rate=1e-3, batch_size=64, max_beta=0.2), {"model": {}}, drums=False)
    given = _train_config(args(learning_rate=1e-3, batch_size=64, max_beta=0.2, free_bits=256.0), {"model": {}}, drums=False)
    assert given.free_bits == 256.0
