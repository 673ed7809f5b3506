"""One settings object, built at start-up from defaults, environment variables and command-line flags,
then passed down. Nothing else in the server reads the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping

PACKAGE_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_SOUNDFONT_DIRS = (Path("/usr/share/sounds/sf2"), Path("/usr/share/soundfonts"))


@dataclass(frozen=True)
class Limits:
    """Per-request limits. Each is documented in the .proto of the service that enforces it."""

    max_midi_bytes: int = 4 * 1024 * 1024
    max_audio_bytes: int = 32 * 1024 * 1024
    max_bars: int = 64
    max_variations: int = 16
    max_interpolation_steps: int = 16
    max_text_chars: int = 1000
    max_render_s: float = 600.0
    max_input_audio_s: float = 300.0
    max_generated_audio_s: float = 120.0
    max_sessions: int = 16
    max_watchers_per_session: int = 32


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 50051
    # Thread-pool size: how many calls run at once. A streaming call (a Bridge session, a render)
    # holds its thread until it ends, so calls beyond max_concurrent_rpcs are refused at once with
    # RESOURCE_EXHAUSTED rather than queued behind long streams; keep it <= workers.
    workers: int = 64
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
    # A directory with a melody model: the embedded one, a transformers-layout musicgen-melody
    # checkpoint, or an audiocraft-layout one (state_dict.bin + compression_state_dict.bin).
    melody_model_dir: Path = PACKAGE_ROOT / "audio_render" / "pretrained" / "melody"
    # Load every model at start-up instead of on first use.
    preload_models: bool = False
    # torch threads per model call; 1 avoids two calls fighting over two cores.
    torch_threads: int = 1
    limits: Limits = field(default_factory=Limits)

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
    "OSTINATO_MAX_MESSAGE_BYTES": ("max_message_bytes", int),
    "OSTINATO_AUTH_TOKEN": ("auth_token", str),
    "OSTINATO_TLS_CERT": ("tls_cert_file", Path),
    "OSTINATO_TLS_KEY": ("tls_key_file", Path),
    "OSTINATO_DEFAULT_SOUNDFONT": ("default_soundfont", str),
    "OSTINATO_COMPOSER_MODEL": ("composer_model_dir", Path),
    "OSTINATO_LATENT_MODEL": ("latent_model_dir", Path),
    "OSTINATO_MELODY_MODEL": ("melody_model_dir", Path),
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


def field_names() -> list[str]:
    return [f.name for f in fields(Settings)]
