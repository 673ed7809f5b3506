"""The front server of a Ray deployment: what clients connect to, unchanged from the single server.

It keeps what Ray Serve's gRPC proxy cannot do: bearer-token auth, TLS, grpc.health.v1 that follows the
deployments' state, reflection of the whole contract, and status codes exactly as the servicers set them.
Each call of a model family is forwarded, as raw bytes, to the Serve proxy with the family's
`application` metadata and the call's deadline; client cancellation cancels the forwarded call.

A call whose replica dies before it answered is retried (up to RETRIES times, within its deadline); a
stream that had already sent messages is failed with UNAVAILABLE and says so, never cut silently. With
`ostinato-job-id: ID` metadata the call becomes a job: it runs to the end even if the client goes away,
its responses are kept in the job store (a directory every front server can share), and a later call
with the same method and id gets them again without new work.

Bridge sessions are stateful and stay on this front server's node.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import grpc

from server.scale.replica import DEADLINE_METADATA, REPLICA_METADATA

log = logging.getLogger("ostinato.scale")

JOB_METADATA = "ostinato-job-id"
JOB_STATE_METADATA = "ostinato-job"
RETRIES_METADATA = "ostinato-retries"
RETRIES = 3
RETRY_BACKOFF_S = (0.2, 0.5, 1.0)
# A job without a client deadline runs for at most this long.
JOB_MAX_S = 900.0
_JOB_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Signs in a failed forwarded call that the replica (not the request) failed: such a call is retried.
_REPLICA_LOST = re.compile(r"ActorDiedError|RayActorError|ActorUnavailableError|actor died|has died|worker.*(exit|died)|"
                           r"unexpectedly|DeploymentUnavailable|no replicas", re.IGNORECASE)
_DROPPED_METADATA = {"authorization", "user-agent", ":authority", "application", DEADLINE_METADATA}


def replica_lost(code: grpc.StatusCode, details: str) -> bool:
    """True when a forwarded call failed because its replica went away, not because of the request."""
    if code is grpc.StatusCode.UNAVAILABLE:
        return True
    return code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN) and bool(_REPLICA_LOST.search(details or ""))


@dataclass
class ForwardOutcome:
    """How a forwarded call ended."""

    code: grpc.StatusCode = grpc.StatusCode.OK
    details: str = ""
    retries: int = 0
    replica: str = ""


class Forwarder:
    """Forwards calls of the model families to the Serve proxy, retrying a lost replica."""

    def __init__(self, proxy_address: str, max_message_bytes: int) -> None:
        self._channel = grpc.insecure_channel(
            proxy_address,
            options=[
                ("grpc.max_send_message_length", max_message_bytes),
                ("grpc.max_receive_message_length", max_message_bytes),
            ],
        )

    def close(self) -> None:
        self._channel.close()

    def forward(
        self,
        path: str,
        application: str,
        server_streaming: bool,
        request: bytes,
        metadata: list[tuple[str, str]],
        deadline_unix_s: float | None,
        on_cancel: Callable[[Callable[[], None]], None],
        outcome: ForwardOutcome,
    ) -> Iterator[bytes]:
        """Yields the response messages (raw bytes); `outcome` says how the call ended."""
        sent = 0
        metadata = [*metadata, ("application", application)]
        if deadline_unix_s is not None:
            metadata.append((DEADLINE_METADATA, f"{deadline_unix_s:.3f}"))
        for attempt in range(RETRIES + 1):
            timeout = None if deadline_unix_s is None else max(0.0, deadline_unix_s - time.time())
            if timeout is not None and timeout <= 0:
                outcome.code, outcome.details = grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded"
                return
            try:
                if server_streaming:
                    call = self._channel.unary_stream(path)(request, metadata=metadata, timeout=timeout)
                    on_cancel(call.cancel)
                    for message in call:
                        sent += 1
                        yield message
                else:
                    future = self._channel.unary_unary(path).future(request, metadata=metadata, timeout=timeout)
                    on_cancel(future.cancel)
                    message = future.result()
                    call = future
                    sent += 1
                    yield message
                outcome.replica = dict(call.trailing_metadata() or ()).get(REPLICA_METADATA, "")
                outcome.code, outcome.details = grpc.StatusCode.OK, ""
                return
            except grpc.RpcError as error:
                code, details = error.code(), error.details() or ""
                if replica_lost(code, details) and sent == 0 and attempt < RETRIES:
                    outcome.retries += 1
                    log.warning("%s: replica lost (%s), retrying (%d)", path, details[:120], outcome.retries)
                    time.sleep(RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)])
                    continue
                if replica_lost(code, details) and sent:
                    code = grpc.StatusCode.UNAVAILABLE
                    details = (f"the replica serving this call was lost after {sent} response message(s); "
                               f"call again (with '{JOB_METADATA}' metadata a finished job can be fetched again)")
                elif code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                    details = details.splitlines()[0][:300] if details else "internal error on a replica"
                outcome.code, outcome.details = code, details
                return


@dataclass
class Job:
    """One job's responses, as they arrive and after it ended."""

    key: str
    messages: list[bytes] = field(default_factory=list)
    outcome: ForwardOutcome | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)

    def follow(self) -> Iterator[bytes]:
        """Yields every message (from the first), waiting for new ones until the job ends."""
        index = 0
        while True:
            with self.changed:
                while index >= len(self.messages) and self.outcome is None:
                    self.changed.wait(timeout=1.0)
                pending = self.messages[index:]
                finished = self.outcome is not None and index + len(pending) >= len(self.messages)
            yield from pending
            index += len(pending)
            if finished:
                return


class JobStore:
    """Jobs by (method, id): running ones in memory, ended ones in files under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._running: dict[str, Job] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(method: str, job_id: str) -> str:
        return hashlib.sha256(f"{method}\n{job_id}".encode()).hexdigest()[:32]

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.job"

    def load(self, key: str) -> Job | None:
        path = self._path(key)
        if not path.exists():
            return None
        data = path.read_bytes()
        header_end = data.index(b"\n")
        header = json.loads(data[:header_end])
        job = Job(key, outcome=ForwardOutcome(grpc.StatusCode[header["code"]], header["details"], header["retries"], header["replica"]))
        offset = header_end + 1
        while offset < len(data):
            (size,) = struct.unpack_from(">I", data, offset)
            job.messages.append(data[offset + 4 : offset + 4 + size])
            offset += 4 + size
        return job

    def _save(self, job: Job) -> None:
        assert job.outcome is not None
        header = {"code": job.outcome.code.name, "details": job.outcome.details, "retries": job.outcome.retries,
                  "replica": job.outcome.replica, "messages": len(job.messages), "ended_unix_s": time.time()}
        body = b"".join(struct.pack(">I", len(m)) + m for m in job.messages)
        temporary = self._path(job.key).with_suffix(".tmp")
        temporary.write_bytes(json.dumps(header).encode() + b"\n" + body)
        temporary.replace(self._path(job.key))

    def attach_or_start(self, key: str, start: Callable[[Job], None]) -> tuple[Job, str]:
        """The job with this key: ended (from the store), running, or started now by `start(job)`."""
        with self._lock:
            job = self._running.get(key)
            if job is not None:
                return job, "attached"
            stored = self.load(key)
            if stored is not None:
                return stored, "replayed"
            job = Job(key)
            self._running[key] = job
        threading.Thread(target=self._run, args=(job, start), name="ostinato-job", daemon=True).start()
        return job, "started"

    def _run(self, job: Job, start: Callable[[Job], None]) -> None:
        try:
            start(job)
        finally:
            with job.changed:
                if job.outcome is None:
                    job.outcome = ForwardOutcome(grpc.StatusCode.INTERNAL, "the job ended without an outcome")
                job.changed.notify_all()
            if job.outcome.code is not grpc.StatusCode.UNAVAILABLE:  # a lost replica's job may be run again
                self._save(job)
            with self._lock:
                self._running.pop(job.key, None)


def _raw_handler(server_streaming: bool, behaviour: Callable[[bytes, grpc.ServicerContext], Iterator[bytes]]) -> grpc.RpcMethodHandler:
    if server_streaming:
        return grpc.unary_stream_rpc_method_handler(behaviour)

    def unary(request: bytes, context: grpc.ServicerContext) -> bytes:
        messages = list(behaviour(request, context))
        return messages[0] if messages else b""

    return grpc.unary_unary_rpc_method_handler(unary)


class ForwardingService(grpc.GenericRpcHandler):
    """Every RPC of one service, forwarded to one Serve application."""

    def __init__(self, service_name: str, methods: list[tuple[str, bool]], application: str,
                 forwarder: Forwarder, jobs: JobStore) -> None:
        self._application = application
        self._forwarder = forwarder
        self._jobs = jobs
        self._handlers = {
            f"/{service_name}/{name}": _raw_handler(streaming, self._behaviour(f"/{service_name}/{name}", streaming))
            for name, streaming in methods
        }

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        return self._handlers.get(handler_call_details.method)

    def _behaviour(self, path: str, server_streaming: bool) -> Callable[[bytes, grpc.ServicerContext], Iterator[bytes]]:
        def behave(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
            incoming = [(k, v) for k, v in context.invocation_metadata() if k not in _DROPPED_METADATA]
            job_id = dict(incoming).get(JOB_METADATA)
            remaining = context.time_remaining()
            deadline = time.time() + remaining if remaining is not None and remaining < 1e8 else None
            if job_id is None:
                outcome = ForwardOutcome()
                yield from self._forwarder.forward(path, self._application, server_streaming, request, incoming,
                                                   deadline, context.add_callback, outcome)
                self._finish(context, outcome)
                return
            if not _JOB_ID.match(job_id):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{JOB_METADATA} must be 1-64 characters of A-Z a-z 0-9 . _ -")
            job_deadline = deadline if deadline is not None else time.time() + JOB_MAX_S

            def start(job: Job) -> None:
                outcome = ForwardOutcome()
                for message in self._forwarder.forward(path, self._application, server_streaming, request, incoming,
                                                       job_deadline, lambda _cancel: None, outcome):
                    with job.changed:
                        job.messages.append(message)
                        job.changed.notify_all()
                with job.changed:
                    job.outcome = outcome
                    job.changed.notify_all()

            job, state = self._jobs.attach_or_start(JobStore.key(path, job_id), start)
            yield from job.follow()
            assert job.outcome is not None
            self._finish(context, job.outcome, [(JOB_STATE_METADATA, state)])

        return behave

    @staticmethod
    def _finish(context: grpc.ServicerContext, outcome: ForwardOutcome, extra: list[tuple[str, str]] | None = None) -> None:
        trailing = [(RETRIES_METADATA, str(outcome.retries)), *(extra or [])]
        if outcome.replica:
            trailing.append((REPLICA_METADATA, outcome.replica))
        context.set_trailing_metadata(tuple(trailing))
        if outcome.code is not grpc.StatusCode.OK:
            context.abort(outcome.code, outcome.details)
