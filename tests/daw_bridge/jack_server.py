"""One private JACK server (dummy backend) for the whole test process.

libjack keeps process-wide state bound to the first server a process talks to: clients of a second
server started later in the same process saw no ports. So every real-port test, in tests/daw_bridge/
and tests/server/, shares this one server; it is killed by pid when the test session ends (and by the
kernel if the test process dies first, see DummyJack).
"""

from __future__ import annotations

import os

import pytest

from daw_bridge.jack import DummyJack
from ostinato.errors import MissingAsset

_server: DummyJack | None = None


@pytest.fixture(scope="session")
def jack_server(request: pytest.FixtureRequest) -> DummyJack:
    global _server
    if not DummyJack.available():
        pytest.skip("jackd is not installed (apt-get install jackd2): real-port tests need a JACK server")
    if _server is None:
        try:
            # Realtime JACK threads, as on a studio machine: with --no-realtime, one background process
            # on this 2-core machine made notes arrive 20-1200 ms late or after the DAW stopped. Where
            # realtime scheduling is not permitted, jackd says so and runs without it.
            _server = DummyJack(f"ostest{os.getpid()}", realtime=True, reclaim_stale_registry=True).start()
        except MissingAsset:
            _server = DummyJack(f"ostest{os.getpid()}", reclaim_stale_registry=True).start()

        def stop() -> None:
            global _server
            if _server is not None:
                _server.stop()
                _server = None

        request.session.config.add_cleanup(stop)
    return _server
