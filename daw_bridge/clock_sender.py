"""The stand-in DAW's clock, in a process of its own (`python -m daw_bridge.clock_sender`).

A DAW sends MIDI clock from its realtime audio thread, never late by more than its buffer. A Python
thread in a busy test process cannot: it waits for the GIL behind other threads that the kernel has
preempted, and ticks went out 100 ms late and then in a burst on a loaded 2-core machine, which no
real DAW does. This process does nothing but send the clock, on SCHED_FIFO where the system allows.

Protocol (lines of text): it opens its port and prints `ready`; each `run` line on stdin is a JSON
object {"start": hex bytes, "lead_in_s": seconds, "intervals_s": [seconds between ticks]}: it sends the
start message, prints `start <monotonic>`, sends one tick per interval (the first one lead_in_s after
the start) printing `tick <monotonic> <index>` for each, then `done`. A `stop` line ends a run between
ticks; end of stdin ends the process.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import rtmidi

from daw_bridge import midi
from daw_bridge.loopback import wait_until
from daw_bridge.ports import SETTLE_S, MidiApi, find_port, new_client

CLOCK_PRIORITY = 20  # SCHED_FIFO priority (the bridge's note player runs at 20 too)


def main(argv: list[str] | None = None) -> int:
    from daw_bridge.player import try_realtime

    parser = argparse.ArgumentParser(prog="python -m daw_bridge.clock_sender")
    parser.add_argument("--api", required=True)
    parser.add_argument("--port", required=True, help="the bridge's input port (a name fragment)")
    parser.add_argument("--client-name", default="Stand-in DAW clock")
    args = parser.parse_args(argv)
    out = new_client(rtmidi.MidiOut, MidiApi.parse(args.api), args.client_name)
    out.open_port(find_port(out.get_ports(), args.port, "input"))
    time.sleep(SETTLE_S)
    realtime = try_realtime(CLOCK_PRIORITY)
    commands: list[str] = []
    stop = threading.Event()
    arrived = threading.Condition()

    def read_commands() -> None:
        for line in sys.stdin:
            with arrived:
                if line.strip() == "stop":
                    stop.set()
                else:
                    commands.append(line)
                arrived.notify()
        with arrived:
            commands.append("")  # end of input
            stop.set()
            arrived.notify()

    threading.Thread(target=read_commands, daemon=True).start()
    print(f"ready realtime={int(realtime)}", flush=True)
    while True:
        with arrived:
            while not commands:
                arrived.wait()
            line = commands.pop(0)
        if not line:
            break
        run = json.loads(line)
        stop.clear()
        start_s = time.monotonic()
        out.send_message(bytes.fromhex(run["start"]))
        print(f"start {start_s:.6f}", flush=True)
        at = start_s + float(run["lead_in_s"])
        for index, interval in enumerate(run["intervals_s"]):
            if stop.is_set():
                break
            wait_until(at)
            sent_s = time.monotonic()
            out.send_message(bytes((midi.CLOCK,)))
            print(f"tick {sent_s:.6f} {index}", flush=True)
            at += float(interval)
        print("done", flush=True)
    out.close_port()
    return 0


if __name__ == "__main__":
    sys.exit(main())
