"""JACK's server registry has 8 slots, and a jackd that dies by a signal keeps its slot. Test runs name
their servers per process, so before this was handled, each run whose server died (jackd 1.9.21 dies of
SIGPIPE when it shuts down while notifying a client that has gone) left a slot behind, and after seven
runs a CI machine could start no JACK server at all. These tests use real jackd processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from daw_bridge import jack_registry
from daw_bridge.jack import DummyJack
from ostinato.errors import MissingAsset


def registered_names() -> list[str]:
    return [entry.name for entry in jack_registry.servers()]


def wait_registered(name: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while name not in registered_names():
        assert time.monotonic() < deadline, f"jackd {name!r} never registered: {registered_names()}"
        time.sleep(0.05)


def test_a_server_that_dies_by_a_signal_gives_its_slot_back(jack_server: DummyJack) -> None:
    name = f"sig{os.getpid()}"
    jack = DummyJack(name).start()
    try:
        assert name in registered_names()
        assert jack._process is not None
        os.kill(jack._process.pid, signal.SIGPIPE)  # what killed the docs test's servers
        jack._process.wait(10)
    finally:
        jack.stop()
    names = registered_names()
    assert name not in names
    assert jack_server.name in names  # a live server's slot is never touched
    assert not list(Path("/dev/shm").glob(f"jack_sem.{os.getuid()}_{name}_*"))


def test_a_registry_full_of_dead_servers_still_lets_a_server_start(jack_server: DummyJack) -> None:
    jackd = shutil.which("jackd")
    assert jackd is not None
    dead = []
    for i in range(8 - len(jack_registry.servers())):  # fill every free slot with a server, then kill it
        name = f"dead{os.getpid()}x{i}"
        process = subprocess.Popen([jackd, "--no-realtime", "-n", name, "-d", "dummy", "-r", "48000", "-p", "1024"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env=dict(os.environ, JACK_NO_AUDIO_RESERVATION="1"))
        try:
            wait_registered(name)
        finally:
            process.kill()
            process.wait(10)
        dead.append(name)
    assert len(jack_registry.servers()) == 8
    refused = DummyJack(f"full{os.getpid()}", reclaim_stale_registry=False)
    with pytest.raises(MissingAsset, match="registry holds at most 8 servers"):
        refused.start()
    with DummyJack(f"new{os.getpid()}") as fresh:  # frees the dead servers' slots and starts
        names = registered_names()
        assert fresh.name in names and jack_server.name in names
        assert not set(dead) & set(names)
    for name in dead:
        jack_registry.remove_semaphore_files(name)
