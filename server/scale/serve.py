"""`ostinato serve --ray ADDRESS`: deploy the model families on a Ray cluster, then run the front server.

    ostinato serve --ray 127.0.0.2:6390 --port 50051 [--ray-config deployments.toml] [--ray-grpc-port 9000]

Ray processes reach out to the network on their own: on this project's machines every Ray process runs
inside ../shared/tools/loopback-only (see docs/scale_out.md).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from concurrent import futures
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from server.auth import BearerTokenInterceptor
from server.scale.config import ScaleConfig
from server.scale.front import Forwarder, ForwardingService, JobStore
from server.scale.replica import deployment_class, service_methods
from server.settings import Settings

log = logging.getLogger("ostinato.scale")

# Stateful services that stay on the front server's node.
LOCAL_MODULES = ("server.services.bridge",)
HEALTH_POLL_S = 2.0


def default_job_store() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ostinato" / "jobs"


def servicer_function(service_name: str) -> str:
    """Import path of the bytes-in, bytes-out add-function of a service, for Serve's gRPC proxy."""
    service = descriptor_pool.Default().FindServiceByName(service_name)
    return f"server.scale.proxy_services.add_{service.name}Servicer_to_server"


def deploy(config: ScaleConfig, settings: Settings, ray_address: str, grpc_port: int) -> None:
    """Connects to the cluster and deploys one Serve application per family (idempotent)."""
    import ray
    from ray import serve
    from ray.serve.config import gRPCOptions, HTTPOptions

    head_host = ray_address.rsplit(":", 1)[0]
    ray.init(address=ray_address, namespace="ostinato", log_to_driver=False, logging_level=logging.WARNING)
    functions = [servicer_function(service_methods(family.module)[0]) for family in config.families]
    serve.start(
        http_options=HTTPOptions(host=head_host, port=grpc_port + 1),
        grpc_options=gRPCOptions(port=grpc_port, grpc_servicer_functions=functions),
    )
    replica_settings = replace(settings, preload_models=True, auth_token=None, tls_cert_file=None, tls_key_file=None)
    for family in config.families:
        deployment = serve.deployment(deployment_class(family.module)).options(**family.serve_options())
        log.info("deploying %s (%s)", family.name, family.module)
        serve.run(deployment.bind(replica_settings), name=family.name, route_prefix=f"/{family.name}", blocking=False)


def application_states(names: list[str]) -> dict[str, bool]:
    """Whether each Serve application is RUNNING (False where it is not, or unknown)."""
    from ray import serve

    applications = serve.status().applications
    return {name: name in applications and str(applications[name].status).endswith("RUNNING") for name in names}


@dataclass
class RunningFront:
    grpc_server: grpc.Server
    port: int
    forwarder: Forwarder
    health: health.HealthServicer
    stop_polling: threading.Event

    def stop(self, grace_s: float) -> None:
        self.stop_polling.set()
        self.health.enter_graceful_shutdown()
        self.grpc_server.stop(grace_s).wait()
        self.forwarder.close()


def start_front(settings: Settings, config: ScaleConfig, proxy_address: str, job_store: Path,
                states: Any = application_states) -> RunningFront:
    """Starts the front server: local stateful services, forwarded families, health, reflection, auth."""
    import importlib

    interceptors = [BearerTokenInterceptor(settings.auth_token)] if settings.auth_token else []
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="ostinato-front"),
        interceptors=interceptors,
        options=[
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    forwarder = Forwarder(proxy_address, settings.max_message_bytes)
    jobs = JobStore(job_store)
    forwarded: dict[str, str] = {}
    for family in config.families:
        service_name, methods = service_methods(family.module)
        server.add_generic_rpc_handlers((ForwardingService(service_name, methods, family.name, forwarder, jobs),))
        forwarded[service_name] = family.name
    local = [importlib.import_module(module).add_to_server(server, settings) for module in LOCAL_MODULES]

    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in local:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    names = (*forwarded, *local)
    reflection.enable_server_reflection((*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server)

    if settings.tls:
        from server.app import _server_credentials

        port = server.add_secure_port(settings.address, _server_credentials(settings))
    else:
        port = server.add_insecure_port(settings.address)
    if port == 0:
        raise OSError(f"could not listen on {settings.address}")

    stop_polling = threading.Event()

    def poll_health() -> None:
        while True:
            try:
                running = states(list(forwarded.values()))
            except Exception as error:  # noqa: BLE001 - the cluster is unreachable: report NOT_SERVING
                log.warning("cannot read the deployments' state: %s", error)
                running = {family: False for family in forwarded.values()}
            for service_name, family in forwarded.items():
                status = health_pb2.HealthCheckResponse.SERVING if running.get(family) else health_pb2.HealthCheckResponse.NOT_SERVING
                health_servicer.set(service_name, status)
            overall = all(running.get(family) for family in forwarded.values())
            health_servicer.set("", health_pb2.HealthCheckResponse.SERVING if overall else health_pb2.HealthCheckResponse.NOT_SERVING)
            if stop_polling.wait(HEALTH_POLL_S):
                return

    threading.Thread(target=poll_health, name="ostinato-health", daemon=True).start()
    server.start()
    return RunningFront(server, port, forwarder, health_servicer, stop_polling)


def serve_on_ray(settings: Settings, config: ScaleConfig, ray_address: str, grpc_port: int, job_store: Path) -> None:
    """Deploys, starts the front server, announces it, and runs until SIGINT/SIGTERM."""
    deploy(config, settings, ray_address, grpc_port)
    head_host = ray_address.rsplit(":", 1)[0]
    front = start_front(settings, config, f"{head_host}:{grpc_port}", job_store)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    families = ", ".join(f.name for f in config.families)
    print(f"ostinato serving on {settings.host}:{front.port} — Ray {ray_address}, families: {families}", flush=True)
    stopping.wait()
    front.stop(settings.shutdown_grace_s)
