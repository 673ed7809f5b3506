"""The model instances of this process, each loaded once and shared.

The Composer service, the latent-space calls, the bridge's clip factory and the melody service all ask
this registry, so a process holds one Composer (one LatentSpace, one melody model) however many services
or servers use it. Instances are keyed by what defines them (model directory, limits, threads), so a
server started with another model directory gets its own. The model code is imported on the first load,
not when the server starts; the Composer decodes in numpy and never imports torch (the latent space
and the melody model do, when they load).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Hashable

from ostinato.errors import asset_errors
from server.settings import Settings

if TYPE_CHECKING:
    from audio_render.accompanist.model import Accompanist
    from audio_render.melody.model import MelodyModel
    from symbolic.composer import Composer
    from symbolic.groove_model import GrooveModel
    from symbolic.latent.drum_space import DrumSpace
    from symbolic.latent.hierarchical import SectionSpace
    from symbolic.latent.space import LatentSpace
    from symbolic.latent.trio import TrioSpace

log = logging.getLogger("ostinato.models")


class ModelRegistry:
    """Loads each model on first request and hands the same instance to every later caller."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._loaded: dict[Hashable, Any] = {}

    def _get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        with self._guard:
            if key in self._loaded:
                return self._loaded[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one load per key; other models load in parallel
            if key not in self._loaded:
                started = time.monotonic()
                with asset_errors(key[0], key[1]):  # corrupt weights: FAILED_PRECONDITION, not INTERNAL
                    instance = load()
                log.info("loaded %s from %s in %.1f s", key[0], key[1], time.monotonic() - started)
                with self._guard:
                    self._loaded[key] = instance
            return self._loaded[key]

    def composer(self, settings: Settings) -> "Composer":
        """The symbolic generator of settings.composer_model_dir (MissingAsset if absent)."""
        max_bars = settings.limits.max_bars
        key = ("composer", Path(settings.composer_model_dir), max_bars)

        def load() -> "Composer":
            from symbolic.composer import Composer, Limits  # numpy only: no torch for generating

            return Composer.from_pretrained(settings.composer_model_dir,
                                            Limits(max_bars=max_bars, max_primer_bars=max_bars))

        return self._get(key, load)

    def latent_space(self, settings: Settings) -> "LatentSpace":
        """The latent space of settings.latent_model_dir (MissingAsset if absent)."""
        key = ("latent space", Path(settings.latent_model_dir), settings.torch_threads)

        def load() -> "LatentSpace":
            _set_torch_threads(settings.torch_threads)
            from symbolic.latent.space import LatentSpace

            return LatentSpace.from_pretrained(Path(settings.latent_model_dir))

        return self._get(key, load)

    def section_space(self, settings: Settings) -> "SectionSpace":
        """The 16-bar model of settings.latent_section_model_dir over the latent space above."""
        key = ("16-bar latent space", Path(settings.latent_section_model_dir), Path(settings.latent_model_dir),
               settings.torch_threads)

        def load() -> "SectionSpace":
            from symbolic.latent.hierarchical import SectionSpace

            return SectionSpace.from_pretrained(Path(settings.latent_section_model_dir), self.latent_space(settings))

        return self._get(key, load)

    def drum_space(self, settings: Settings) -> "DrumSpace":
        """The drum latent space of settings.latent_drums_model_dir (MissingAsset if absent)."""
        key = ("drum latent space", Path(settings.latent_drums_model_dir), settings.torch_threads)

        def load() -> "DrumSpace":
            _set_torch_threads(settings.torch_threads)
            from symbolic.latent.drum_space import DrumSpace

            return DrumSpace.from_pretrained(Path(settings.latent_drums_model_dir))

        return self._get(key, load)

    def trio_space(self, settings: Settings) -> "TrioSpace":
        """The trio model of settings.latent_trio_model_dir over the line and drum models' directories."""
        key = ("trio latent space", Path(settings.latent_trio_model_dir), Path(settings.latent_model_dir),
               Path(settings.latent_drums_model_dir), settings.torch_threads)

        def load() -> "TrioSpace":
            _set_torch_threads(settings.torch_threads)
            from symbolic.latent.trio import TrioSpace

            return TrioSpace.from_pretrained(Path(settings.latent_trio_model_dir), Path(settings.latent_model_dir),
                                             Path(settings.latent_drums_model_dir))

        return self._get(key, load)

    def melody_model(self, settings: Settings) -> "MelodyModel":
        """The melody-conditioned audio model of settings.melody_model_dir (MissingAsset if absent)."""
        key = ("melody model", Path(settings.melody_model_dir), settings.torch_threads)

        def load() -> "MelodyModel":
            from audio_render.melody.loading import load_melody_model

            return load_melody_model(settings.melody_model_dir, threads=settings.torch_threads)

        return self._get(key, load)

    def groove_model(self) -> "GrooveModel":
        """The Groove model shipped in symbolic/pretrained/groove (numpy tables, no torch)."""
        from symbolic.groove_model import PRETRAINED_DIR, GrooveModel

        return self._get(("groove model", PRETRAINED_DIR), lambda: GrooveModel.from_pretrained(PRETRAINED_DIR))

    def accompanist(self, settings: Settings) -> "Accompanist":
        """The accompaniment model of settings.accompanist_model_dir (MissingAsset if absent)."""
        key = ("accompanist", Path(settings.accompanist_model_dir), settings.torch_threads)

        def load() -> "Accompanist":
            from audio_render.accompanist.model import Accompanist

            return Accompanist.from_pretrained(settings.accompanist_model_dir, threads=settings.torch_threads)

        return self._get(key, load)

    def accompaniment_writer(self, settings: Settings, part: str, route: str | None = None) -> Any:
        """What writes `part` ("drums" or "backing") by `route` ("tokens": the Accompanist over codec tokens;
        "composer": the hybrid backing, written by the shared Composer and rendered); no route: the part's
        default (DEFAULT_ACCOMPANY_ROUTES). Both have generate(request, progress, cancel)."""
        route = route or DEFAULT_ACCOMPANY_ROUTES[part]
        if route == "tokens":
            return self.accompanist(settings)
        from audio_render.accompanist.composed import ComposedBacking

        return ComposedBacking(self.composer(settings))


# The accompaniment route a request that names none takes: the one that measures better for the part
# (backing: the hybrid is in key, the token model is not; README's figures).
DEFAULT_ACCOMPANY_ROUTES = {"drums": "tokens", "backing": "composer"}


def _set_torch_threads(threads: int) -> None:
    import torch  # the first model load pays for torch, not the server's start

    torch.set_num_threads(threads)


# The one registry of this process.
MODELS = ModelRegistry()
