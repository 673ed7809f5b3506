"""`ostinato cluster up|down`: a local Ray cluster of N "nodes" on loopback addresses.

Every node is a `ray start` on its own address (127.0.0.2, 127.0.0.3, ...) with its own ports, which is
how a multi-machine cluster looks to Ray, on one machine. Ray probes cloud metadata addresses and a usage
endpoint on its own, so `up` refuses to run where any network interface other than loopback exists,
unless told otherwise: run it inside ../shared/tools/loopback-only (docs/scale_out.md).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HEAD_PORT = 6390
# Each node gets this many ports, from NODE_PORT_BASE + index * NODE_PORT_STRIDE.
NODE_PORT_BASE = 20000
NODE_PORT_STRIDE = 200


class ClusterError(RuntimeError):
    """The cluster could not be started or stopped; the message says why and what to do."""


@dataclass(frozen=True)
class ClusterInfo:
    address: str
    node_addresses: tuple[str, ...]
    cpus_per_node: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def only_loopback() -> bool:
    """True when this process sees no network interface but loopback (a loopback-only namespace)."""
    # /proc/net/dev belongs to this process's network namespace (/sys/class/net may show the host's).
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    interfaces = [line.split(":", 1)[0].strip() for line in lines if ":" in line]
    return interfaces == ["lo"]


def _ray_executable() -> str:
    beside = Path(sys.executable).with_name("ray")
    if beside.exists():
        return str(beside)
    found = shutil.which("ray")
    if not found:
        raise ClusterError("the `ray` command is not installed: pip install '.[ray]'")
    return found


def _node_ports(index: int) -> list[str]:
    base = NODE_PORT_BASE + index * NODE_PORT_STRIDE
    return [
        f"--node-manager-port={base}",
        f"--object-manager-port={base + 1}",
        f"--dashboard-agent-grpc-port={base + 2}",
        f"--dashboard-agent-listen-port={base + 3}",
        f"--metrics-export-port={base + 4}",
        f"--runtime-env-agent-port={base + 5}",
        f"--min-worker-port={base + 10}",
        f"--max-worker-port={base + NODE_PORT_STRIDE - 1}",
    ]


def _environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment.update({
        "RAY_USAGE_STATS_ENABLED": "0",
        # Spread calls over every replica, not only those on the node whose proxy took the call.
        "RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING": "0",
        "RAY_SERVE_PROXY_PREFER_LOCAL_AZ_ROUTING": "0",
    })
    return environment


def up(nodes: int, first_address: str = "127.0.0.2", cpus_per_node: float = 1.0, allow_network: bool = False,
       timeout_s: float = 120.0, pin_cores: bool = False) -> ClusterInfo:
    """Starts a head and nodes-1 workers on consecutive loopback addresses; returns when all joined.

    With `pin_cores`, node i and every process it starts run on CPU core i (modulo the core count), so
    N one-core nodes on one machine behave like N one-core machines (benchmarks).
    """
    if nodes < 1 or nodes > 16:
        raise ClusterError(f"--nodes must be 1..16, got {nodes}")
    if cpus_per_node <= 0:
        raise ClusterError(f"--cpus-per-node must be > 0, got {cpus_per_node}")
    if not allow_network and not only_loopback():
        raise ClusterError(
            "this process can reach network interfaces other than loopback, and Ray contacts outside "
            "addresses on its own: run inside a loopback-only network namespace (e.g. "
            "../shared/tools/loopback-only ostinato cluster up ...), or pass --allow-network on a real cluster"
        )
    first = ipaddress.ip_address(first_address)
    addresses = tuple(str(first + index) for index in range(nodes))
    ray = _ray_executable()
    environment = _environment()
    common = ["--disable-usage-stats", f"--num-cpus={cpus_per_node:g}", "--log-style=record"]
    def pinned(index: int) -> list[str]:
        return ["taskset", "-c", str(index % (os.cpu_count() or 1))] if pin_cores else []

    head = [*pinned(0), ray, "start", "--head", f"--node-ip-address={addresses[0]}", f"--port={HEAD_PORT}",
            f"--ray-client-server-port={HEAD_PORT + 1}", "--include-dashboard=false", *common, *_node_ports(0)]
    _run(head, environment)
    address = f"{addresses[0]}:{HEAD_PORT}"
    for index, node_address in enumerate(addresses[1:], start=1):
        _run([*pinned(index), ray, "start", f"--address={address}", f"--node-ip-address={node_address}", *common, *_node_ports(index)], environment)
    _wait_for_nodes(address, nodes, timeout_s)
    return ClusterInfo(address, addresses, cpus_per_node)


def _run(command: list[str], environment: dict[str, str]) -> None:
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise ClusterError(f"`{' '.join(command[:5])} ...` failed: " + " | ".join(tail))


def _wait_for_nodes(address: str, nodes: int, timeout_s: float) -> None:
    probe = (
        "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False); "
        "print(sum(1 for n in ray.nodes() if n['Alive']))"
    )
    deadline = time.monotonic() + timeout_s
    alive = 0
    while time.monotonic() < deadline:
        result = subprocess.run([sys.executable, "-c", probe, address], env=_environment(), capture_output=True, text=True, timeout=120)
        if result.returncode == 0 and result.stdout.strip().isdigit():
            alive = int(result.stdout.strip().splitlines()[-1])
            if alive >= nodes:
                return
        time.sleep(1.0)
    raise ClusterError(f"only {alive} of {nodes} nodes joined within {timeout_s:.0f} s")


def down() -> None:
    """Stops every Ray process of this machine's (namespace's) cluster."""
    _run([_ray_executable(), "stop", "--force"], _environment())
