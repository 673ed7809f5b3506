"""One settings object, built at start-up from defaults, environment variables and command-line flags,
then passed down. Nothing else in the server reads the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from ostinato.limits import DEFAULT_AUDIO_LIMITS, DEFAULT_MIDI_LIMITS

PACKAGE_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_SOUNDFONT_DIRS = (Path("/usr/share/sounds/sf2"), Path("/usr/share/soundfonts"))


class SettingsError(ValueError):
    """Settings the server refuses to start with; the message is one line for the operator."""


@dataclass(frozen=True)
class Limits:
    """Per-request limits. Each is documented in the .proto of the service that enforces it."""

    max_midi_bytes: int = DEFAULT_MIDI_LIMITS.max_bytes
    max_audio_bytes: int = DEFAULT_AUDIO_LIMITS.max_bytes
    max_bars: int = 64
    max_variations: int = 16
    max_interpolation_steps: int = 16
    max_text_chars: int = 1000
    max_render_s: float = 600.0
    max_input_audio_s: float = 300.0
    max_generated_audio_s: float = 120.0
    max_sessions: int = 16
    max_watchers_per_session: int = 32
    # Generate requests a Bridge session may have in progress at once (more get a notice).
    max_pending_requests_per_session: int = 4
    # A session nobody follows is closed after this long (a client that vanished frees its slot).
    session_idle_close_s: float = 30.0


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 50051
    # Calls that do work (everything but health checks, reflection and Bridge streams) running at
    # once; up to max_queued_calls more wait in arrival order for up to queue_timeout_s (or their
    # deadline), then are refused with RESOURCE_EXHAUSTED and a retry hint (server/admission.py).
    workers: int = 64
    max_queued_calls: int = 256
    queue_timeout_s: float = 30.0
    # Long-lived Bridge streams (Session, WatchSession) have their own threads, so followers never
    # take a worker from unary calls; beyond this many they are refused at once.
    max_stream_calls: int = 128
    # Work calls one client connection may have running or waiting (0: no cap beyond the queue's).
    max_calls_per_client: int = 32
    # Only the multi-process front (server/scale) reads this; the server sizes its own pool from the
    # lanes above (server/admission.py).
    max_concurrent_rpcs: int = 64
    max_message_bytes: int = 64 * 1024 * 1024
    # Seconds in-flight calls get to finish on shutdown before they are cancelled.
    shutdown_grace_s: float = 10.0
    # When set, every call must carry "authorization: Bearer <token>".
    auth_token: str | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    soundfont_dirs: tuple[Path, ...] = DEFAULT_SOUNDFONT_DIRS
    # A SoundFont name (file stem) or path; the quality default is FluidR3_GM.
    default_soundfont: str = "FluidR3_GM"
    composer_model_dir: Path = PACKAGE_ROOT / "symbolic" / "pretrained" / "default"
    latent_model_dir: Path = PACKAGE_ROOT / "symbolic" / "pretrained" / "latent"
    # The 16-bar hierarchical model; its lower decoder is the model of latent_model_dir.
    latent_section_model_dir: Path = PACKAGE_ROOT / "symbolic" / "pretrained" / "latent16"
    latent_drums_model_dir: Path = PACKAGE_ROOT / "symbolic" / "pretrained" / "latent_drums"
    # The trio model; its melody/bass and drum decoders are the models of the two directories above.
    latent_trio_model_dir: Path = PACKAGE_ROOT / "symbolic" / "pretrained" / "latent_trio"
    # A directory with a melody model: the embedded one, a transformers-layout musicgen-melody
    # checkpoint, or an audiocraft-layout one (state_dict.bin + compression_state_dict.bin).
    melody_model_dir: Path = PACKAGE_ROOT / "audio_render" / "pretrained" / "melody"
    accompanist_model_dir: Path = PACKAGE_ROOT / "audio_render" / "pretrained" / "accompanist"
    # Load every model at start-up instead of on first use.
    preload_models: bool = False
    # torch threads per model call; 1 avoids two calls fighting over two cores.
    torch_threads: int = 1
    limits: Limits = field(default_factory=Limits)

    def validate(self) -> None:
        """Refuses settings the server must not start with (ValueError with a one-line reason)."""
        if self.auth_token is not None and not self.auth_token.strip():
            raise SettingsError("the auth token is empty: give a non-empty token, or none to serve without auth")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise SettingsError("the TLS certificate and key go together")
        for name in ("workers", "max_stream_calls", "max_message_bytes"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_queued_calls < 0 or not self.queue_timeout_s >= 0 or not self.shutdown_grace_s >= 0:
            raise SettingsError("max_queued_calls, queue_timeout_s and shutdown_grace_s must be >= 0")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None and self.tls_key_file is not None

    def with_overrides(self, **overrides: object) -> "Settings":
        """Returns a copy with the given fields replaced; None values are ignored."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


# Environment variable -> (field, parser). Flags given on the command line win over these.
_ENV: dict[str, tuple[str, type]] = {
    "OSTINATO_HOST": ("host", str),
    "OSTINATO_PORT": ("port", int),
    "OSTINATO_WORKERS": ("workers", int),
    "OSTINATO_MAX_QUEUED_CALLS": ("max_queued_calls", int),
    "OSTINATO_QUEUE_TIMEOUT_S": ("queue_timeout_s", float),
    "OSTINATO_MAX_STREAM_CALLS": ("max_stream_calls", int),
    "OSTINATO_MAX_MESSAGE_BYTES": ("max_message_bytes", int),
    "OSTINATO_AUTH_TOKEN": ("auth_token", str),
    "OSTINATO_TLS_CERT": ("tls_cert_file", Path),
    "OSTINATO_TLS_KEY": ("tls_key_file", Path),
    "OSTINATO_DEFAULT_SOUNDFONT": ("default_soundfont", str),
    "OSTINATO_COMPOSER_MODEL": ("composer_model_dir", Path),
    "OSTINATO_LATENT_MODEL": ("latent_model_dir", Path),
    "OSTINATO_LATENT16_MODEL": ("latent_section_model_dir", Path),
    "OSTINATO_LATENT_DRUMS_MODEL": ("latent_drums_model_dir", Path),
    "OSTINATO_LATENT_TRIO_MODEL": ("latent_trio_model_dir", Path),
    "OSTINATO_MELODY_MODEL": ("melody_model_dir", Path),
    "OSTINATO_ACCOMPANIST_MODEL": ("accompanist_model_dir", Path),
}


def settings_from_env(environ: Mapping[str, str] | None = None, base: Settings | None = None) -> Settings:
    """Builds Settings from OSTINATO_* environment variables over `base` (or the defaults)."""
    environ = os.environ if environ is None else environ
    base = base or Settings()
    overrides: dict[str, object] = {}
    for name, (field_name, parse) in _ENV.items():
        value = environ.get(name)
        if value:
            overrides[field_name] = parse(value)
    dirs = environ.get("OSTINATO_SOUNDFONT_DIRS")
    if dirs:
        overrides["soundfont_dirs"] = tuple(Path(d) for d in dirs.split(os.pathsep) if d)
    return base.with_overrides(**overrides)
