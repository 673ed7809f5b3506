"""Wiring an Arranger to the models of this process (no gRPC): the Composer, the latent space for
latent variations and basic-pitch for audio tracks, each loaded on first use and shared."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from server.arrangement.arranger import Arranger, SectionCache, model_fingerprint
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


def build_arranger(composer_model_dir: Path, latent_model_dir: Path, *, torch_threads: int = 1,
                   cache: SectionCache | None = None) -> Arranger:
    """An Arranger over this process's models; the cache key includes both checkpoints."""
    return Arranger(
        composer=lambda: load_composer(composer_model_dir, torch_threads),
        latent=lambda: load_latent(latent_model_dir, torch_threads),
        transcriber=transcribe_to_grid if transcription_available() else None,
        cache=cache,
        model_id=f"{model_fingerprint(composer_model_dir)}:{model_fingerprint(latent_model_dir)}")
