"""A private JACK server with the dummy backend: real virtual MIDI ports on machines without sound
hardware or ALSA (CI, headless servers). Used by the tests and benchmarks; handy for trying the bridge.

    with DummyJack("ostinato-try") as jack:   # sets JACK_DEFAULT_SERVER while open
        ...
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from daw_bridge import jack_registry
from ostinato.errors import InvalidInput, MissingAsset


def _die_with_parent() -> None:
    """In the child before exec: the kernel sends SIGTERM to jackd if the process that started it dies
    (a test run killed by a timeout must not leave a JACK server behind). The signal follows the
    thread that started jackd: start it from a thread that lives as long as the server should."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class DummyJack:
    """Starts `jackd --no-realtime -n NAME -d dummy` and stops it (by its pid) on close.

    Args:
        name: the JACK server name, at most 20 characters (unique per test session, so parallel runs
            never share one).
        sample_rate_hz / period_frames: the dummy backend's cycle; MIDI moves once a period, so
            the period bounds the port's delivery jitter (128 frames at 48 kHz: 2.7 ms).
        log_path: where jackd's output goes (default: a file in the temporary directory, removed
            when the server stops or fails to start; a failed start's error quotes its last lines).
        realtime: run JACK's threads with realtime priority (needs CAP_SYS_NICE or an rtprio limit),
            as a configured studio machine does; off by default, as on CI.
        sync: synchronous mode (the server waits for every client each cycle): without realtime
            priority on a loaded machine, asynchronous mode delayed and lost messages in the
            benchmark; but a client process dying then stalls the others until JACK's timeout, so
            the tests, where bridges come and go, use the default asynchronous mode.
        reclaim_stale_registry: if jackd refuses to start because JACK's server registry (8 slots) is
            full, free the slots of servers whose process is gone (daw_bridge.jack_registry; live
            servers' slots are never touched) and try once more. On by default.

    A server that dies by a signal (SIGKILL; SIGPIPE, which jackd 1.9.21 dies of when it notifies a
    client that has gone while it shuts down) keeps its registry slot: stop() frees the slot of its own
    server in that case, and removes the semaphore files libjack left for the server's clients.
    """

    def __init__(
        self,
        name: str,
        sample_rate_hz: int = 48_000,
        period_frames: int = 128,
        log_path: Path | None = None,
        realtime: bool = False,
        sync: bool = False,
        reclaim_stale_registry: bool = True,
    ) -> None:
        if len(name) > 20:
            # jack_lsp (jackd2 1.9.21) crashes in malloc on longer server names.
            raise InvalidInput(f"JACK server name {name!r} is too long: use at most 20 characters")
        self.name = name
        self.sample_rate_hz = sample_rate_hz
        self.period_frames = period_frames
        self._own_log = log_path is None  # a file of our own, removed when the server stops or fails
        self._log_path = log_path or Path(tempfile.gettempdir()) / f"ostinato-jackd-{name}.log"
        self.realtime = realtime
        self.sync = sync
        self.reclaim_stale_registry = reclaim_stale_registry
        self._process: subprocess.Popen[bytes] | None = None
        self._registry_was_full = False  # the last start failed on a full server registry
        self._previous_env: dict[str, str | None] = {}

    @property
    def period_s(self) -> float:
        return self.period_frames / self.sample_rate_hz

    @staticmethod
    def available() -> bool:
        return shutil.which("jackd") is not None

    def start(self, timeout_s: float = 10.0) -> "DummyJack":
        try:
            return self._start(timeout_s)
        except MissingAsset as failure:
            if not (self.reclaim_stale_registry and self._registry_was_full):
                raise
            try:
                freed = jack_registry.free_dead_servers()
            except (OSError, ValueError) as why:  # an unknown layout, or the lock not to be had
                raise MissingAsset(f"{failure}; freeing dead servers' entries failed: {why}") from failure
            if not freed:
                raise  # eight live servers: nothing to reclaim
            return self._start(timeout_s)

    def _start(self, timeout_s: float) -> "DummyJack":
        jackd = shutil.which("jackd")
        if jackd is None:
            raise MissingAsset("jackd is not installed (Debian/Ubuntu: apt-get install jackd2)")
        env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
        log = open(self._log_path, "wb")
        self._process = subprocess.Popen(
            [jackd, "--realtime" if self.realtime else "--no-realtime", *(["--sync"] if self.sync else []),
             "-n", self.name, "-d", "dummy",
             "-r", str(self.sample_rate_hz), "-p", str(self.period_frames)],
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()  # the child has its own descriptor
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                message = self._failure_message()
                self._process = None
                if self._own_log:
                    self._log_path.unlink(missing_ok=True)
                raise MissingAsset(message)
            if self._ready():
                self._previous_env = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
                os.environ["JACK_DEFAULT_SERVER"] = self.name
                # Clients must never start a stray default server (a JACK client's default).
                os.environ["JACK_NO_START_SERVER"] = "1"
                return self
            time.sleep(0.05)
        self.stop()
        raise MissingAsset(f"jackd did not come up within {timeout_s:g} s")

    def _failure_message(self) -> str:
        assert self._process is not None
        lines = [line for line in self._log_path.read_text(errors="replace").splitlines()
                 if line and "XRun" not in line and "buffer overruns" not in line]
        message = f"jackd exited at start-up with code {self._process.returncode}: {' / '.join(lines[-2:])}"
        self._registry_was_full = any("Too many servers" in line for line in lines)
        if self._registry_was_full:
            message += (
                ". JACK's registry holds at most 8 servers and keeps the entries of servers that died "
                "without unregistering (killed by a signal): stop stray jackd processes; the entries of dead "
                "ones are freed by DummyJack(reclaim_stale_registry=True), or, with no JACK server "
                "running, delete /dev/shm/jack-shm-registry"
            )
        return message

    def _ready(self) -> bool:
        lsp = shutil.which("jack_lsp")
        if lsp is None:
            time.sleep(0.5)
            return True
        result = subprocess.run(
            [lsp, "-s", self.name], capture_output=True, env=dict(os.environ, JACK_NO_START_SERVER="1"), timeout=5
        )
        return result.returncode == 0 and b"system:" in result.stdout

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
            if self._process.returncode != 0:  # died by a signal before unregistering
                try:
                    jack_registry.free_dead_servers(pid=self._process.pid)
                except (OSError, ValueError):
                    pass  # its slot stays; a later start frees it (reclaim_stale_registry)
            jack_registry.remove_semaphore_files(self.name)
            self._process = None
            if self._own_log:
                self._log_path.unlink(missing_ok=True)
        for key, value in self._previous_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._previous_env = {}

    def __enter__(self) -> "DummyJack":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
