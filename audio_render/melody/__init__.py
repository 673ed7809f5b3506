"""Melody-conditioned generation in the manner of MusicGen-melody.

Serving path: `loading.load_melody_model(dir)` -> `model.MelodyModel.generate(...)`, which uses
`sampler.FastSampler` and the chroma of `audio_render.chroma`. Training-side modules (`prepare_data`,
`train`, `evaluate`) are never imported by the server.
"""

from audio_render.melody.model import AudioPiece, GenerationStats, MelodyModel, MelodyRequest, ModelInfo

__all__ = ["AudioPiece", "GenerationStats", "MelodyModel", "MelodyRequest", "ModelInfo"]
