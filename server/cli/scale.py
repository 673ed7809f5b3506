"""`ostinato cluster up|down` (a local Ray cluster on loopback addresses) and the Ray flags of `serve`.

Needs the optional extra: pip install '.[ray]'. See docs/scale_out.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cluster",
        help="start or stop a local Ray cluster (for `serve --ray`)",
        description="A local Ray cluster of N nodes on consecutive loopback addresses (127.0.0.2, ...). "
        "Ray contacts outside addresses on its own: run it inside a loopback-only network namespace "
        "(docs/scale_out.md).",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION")
    up = actions.add_parser("up", help="start the head and worker nodes, wait until all joined")
    up.add_argument("--nodes", type=int, default=2, help="number of nodes (default 2)")
    up.add_argument("--first-address", default="127.0.0.2", help="address of the head; workers take the next ones")
    up.add_argument("--cpus-per-node", type=float, default=1.0, help="CPUs each node offers (default 1)")
    up.add_argument("--allow-network", action="store_true", help="start even where other network interfaces exist")
    up.add_argument("--pin-cores", action="store_true", help="node i runs on CPU core i (one-core 'machines' on one host)")
    up.set_defaults(handler=_up)
    down = actions.add_parser("down", help="stop every Ray process of this cluster")
    down.set_defaults(handler=_down)
    parser.set_defaults(handler=lambda _args: parser.print_help() or 2)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Ray cluster (pip install '.[ray]')")
    group.add_argument("--ray", metavar="ADDRESS", help="deploy the model families on this Ray cluster (HEAD:PORT) and front them here")
    group.add_argument("--ray-config", type=Path, help="deployment file (default: server/scale/deployments.toml)")
    group.add_argument("--ray-grpc-port", type=int, default=9000, help="port of Serve's gRPC proxies (default 9000)")
    group.add_argument("--job-store", type=Path, help="directory of finished jobs (default ~/.cache/ostinato/jobs)")


def serve_on_ray(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    from server.scale.config import DeploymentConfigError, load_config

    try:
        import ray  # noqa: F401
    except ImportError:
        print("ostinato serve --ray: Ray is not installed; pip install '.[ray]'", file=sys.stderr)
        return 2
    try:
        config = load_config(args.ray_config)
    except DeploymentConfigError as error:
        print(f"ostinato serve --ray: {error}", file=sys.stderr)
        return 2
    from server.scale.serve import default_job_store
    from server.scale.serve import serve_on_ray as run

    run(settings, config, args.ray, args.ray_grpc_port, args.job_store or default_job_store())
    return 0


def _up(args: argparse.Namespace) -> int:
    from server.scale.cluster import ClusterError, up

    try:
        info = up(args.nodes, args.first_address, args.cpus_per_node, args.allow_network, pin_cores=args.pin_cores)
    except ClusterError as error:
        print(f"ostinato cluster up: {error}", file=sys.stderr)
        return 1
    print(f"cluster up: {info.address} ({len(info.node_addresses)} nodes: {', '.join(info.node_addresses)})", flush=True)
    return 0


def _down(_args: argparse.Namespace) -> int:
    from server.scale.cluster import ClusterError, down

    try:
        down()
    except ClusterError as error:
        print(f"ostinato cluster down: {error}", file=sys.stderr)
        return 1
    print("cluster down")
    return 0
