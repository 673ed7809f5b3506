"""Builds the gRPC server: every Ostinato service, health checking, reflection, limits, auth, TLS,
and a graceful stop (in-flight calls finish within the grace period, new ones are refused)."""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from dataclasses import dataclass
from importlib import import_module
from types import FrameType, ModuleType
from typing import Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from server.admission import AdmissionInterceptor
from server.auth import BearerTokenInterceptor
from server.settings import Settings

log = logging.getLogger("ostinato.server")

# Every service, by its module in server/services. A server imports only the modules it serves, so an
# in-process CLI command that starts one service does not load the others' libraries.
SERVICE_NAMES = ("composer", "renderer", "melody", "accompanist", "bridge", "arrangement")


def service_modules(names: Iterable[str] = SERVICE_NAMES) -> tuple[ModuleType, ...]:
    """The service modules (each has SERVICE_NAME and add_to_server(server, settings))."""
    return tuple(import_module(f"server.services.{name}") for name in names)


@dataclass
class RunningServer:
    """A started server and what is needed to stop it well."""

    grpc_server: grpc.Server
    port: int
    settings: Settings
    health: health.HealthServicer
    service_names: tuple[str, ...]

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.port}"

    def stop(self, grace_s: float | None = None) -> None:
        """Marks the server NOT_SERVING, refuses new calls and lets in-flight ones finish."""
        self.health.enter_graceful_shutdown()
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        self.grpc_server.stop(grace).wait()

    def wait(self) -> None:
        self.grpc_server.wait_for_termination()


def _server_credentials(settings: Settings) -> grpc.ServerCredentials:
    assert settings.tls_cert_file and settings.tls_key_file
    return grpc.ssl_server_credentials(
        [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())]
    )


def start_server(settings: Settings, services: Iterable[str] = SERVICE_NAMES) -> RunningServer:
    """Builds and starts the server with `services` (default: all); port 0 picks a free port (see
    RunningServer.port).

    Raises:
        SettingsError: settings it must not start with (an empty auth token...).
        MissingAsset: with preload_models, a model that cannot be loaded.
    """
    settings.validate()
    admission = AdmissionInterceptor(settings.workers, settings.max_queued_calls, settings.queue_timeout_s,
                                     settings.max_stream_calls, settings.max_calls_per_client)
    # Auth first: an unauthenticated caller learns nothing, not even which methods exist.
    interceptors: list[grpc.ServerInterceptor] = [BearerTokenInterceptor(settings.auth_token)] if settings.auth_token else []
    interceptors.append(admission)
    pool_size = AdmissionInterceptor.pool_size(settings.workers, settings.max_queued_calls, settings.max_stream_calls)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="ostinato-rpc"),
        interceptors=interceptors,
        options=[
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=pool_size,
    )
    names = tuple(module.add_to_server(server, settings) for module in service_modules(services))
    if settings.preload_models and any(name.endswith(".Composer") for name in names):
        _preload_latent(settings)  # Vary/Interpolate: a failure here is MissingAsset, a one-line refusal

    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *names):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

    reflection.enable_server_reflection(
        (*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )

    address = settings.address
    if settings.tls:
        port = server.add_secure_port(address, _server_credentials(settings))
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not listen on {address}")
    server.start()
    log.info("ostinato serving on %s:%d (%s)", settings.host, port, "TLS" if settings.tls else "plaintext")
    return RunningServer(server, port, settings, health_servicer, names)


def _preload_latent(settings: Settings) -> None:
    """The latent model (Vary/Interpolate) is served by a module, not a servicer: load it here too."""
    from server.services.latent import load_space

    load_space(settings)


def serve_forever(settings: Settings, ready: threading.Event | None = None) -> None:
    """Runs until SIGINT/SIGTERM, then stops gracefully."""
    running = start_server(settings)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping (grace %.0f s)", signum, settings.shutdown_grace_s)
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"ostinato serving on {running.address} — services: {', '.join(running.service_names)}", flush=True)
    if ready is not None:
        ready.set()
    stopping.wait()
    running.stop()
