"""Wiring an Arranger to the models of this process (no gRPC): the Composer, the latent space for
latent variations, basic-pitch for audio tracks, the melody model and the Accompanist for audio layers,
each loaded on first use and shared through the process's model registry."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from server.arrangement.arranger import Arranger, SectionCache, model_fingerprint
from server.arrangement.layers import LayerModels
from server.settings import Settings
from symbolic.attributes import NoteTable


def load_composer(model_dir: Path, torch_threads: int = 1):  # type: ignore[no-untyped-def]
    """The process's one Composer of `model_dir` (the registry the services use too)."""
    from server.application.models import MODELS

    return MODELS.composer(Settings(composer_model_dir=Path(model_dir), torch_threads=torch_threads))


def load_latent(model_dir: Path, torch_threads: int = 1):  # type: ignore[no-untyped-def]
    """The process's one latent space of `model_dir`."""
    from server.application.models import MODELS

    return MODELS.latent_space(Settings(latent_model_dir=Path(model_dir), torch_threads=torch_threads))


def transcription_available() -> bool:
    return importlib.util.find_spec("basic_pitch") is not None and importlib.util.find_spec("onnxruntime") is not None


def transcribe_to_grid(audio: bytes, tempo_bpm: float, time_signature: tuple[int, int]) -> NoteTable:
    """A recorded melody as one voice of notes on the sixteenth-note grid of the given tempo."""
    from audio_render.transcribe import quantise, transcribe

    grid = quantise(transcribe(audio, monophonic=True), tempo_bpm, steps_per_quarter=4)
    return NoteTable(grid.onset.astype(float), grid.duration.astype(float), grid.pitch.astype(int),
                     np.zeros(len(grid), dtype=int), grid.velocity.astype(int))


def layer_models(settings: Settings) -> LayerModels:
    """The process's melody model and Accompanist for audio layers (each only when its checkpoint is
    there), and the server's default SoundFont for rendering what a layer hears."""
    from audio_render.soundfonts import resolve_soundfont
    from server.application.models import MODELS

    from ostinato.errors import MissingAsset

    melody_dir, accompanist_dir = Path(settings.melody_model_dir), Path(settings.accompanist_model_dir)
    try:
        soundfont = resolve_soundfont("", settings.soundfont_dirs, settings.default_soundfont)
    except MissingAsset:
        return LayerModels()  # nothing to render what a layer hears with: no layers on this server
    return LayerModels(
        melody=(lambda: MODELS.melody_model(settings)) if (melody_dir / "config.json").is_file() else None,
        accompanist=(lambda part: MODELS.accompaniment_writer(settings, part)) if (accompanist_dir / "config.json").is_file() else None,
        soundfont=soundfont)


def arranger_for(settings: Settings, cache: SectionCache | None = None) -> Arranger:
    """An Arranger over this process's models (the registry the services use too); the cache key
    includes every checkpoint and the SoundFont layers are rendered with."""
    from server.application.models import MODELS

    layers = layer_models(settings)
    model_id = ":".join(model_fingerprint(Path(directory)) for directory in (
        settings.composer_model_dir, settings.latent_model_dir, settings.melody_model_dir,
        settings.accompanist_model_dir)) + f":{Path(layers.soundfont).name}"
    return Arranger(composer=lambda: MODELS.composer(settings), latent=lambda: MODELS.latent_space(settings),
                    transcriber=transcribe_to_grid if transcription_available() else None, layers=layers,
                    cache=cache, model_id=model_id)
