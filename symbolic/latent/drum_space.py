"""The latent space of drum clips: reconstruct, vary and interpolate drum grooves (MusicVAE's drum model).

    from symbolic.latent.drum_space import DrumSpace
    from symbolic.latent.drum_representation import drum_clip_to_midi, read_drum_clip
    space = DrumSpace.from_pretrained()                     # symbolic/pretrained/latent_drums/
    read = read_drum_clip(midi_bytes)                       # DrumClip + Notices (InvalidInput without drums)
    blend = space.interpolate(read.clip, other.clip, steps=8)
    files = [drum_clip_to_midi(clip) for clip in blend]     # one GM drum track on channel 10

The model is the line model's VAE (model.MelodyVAE) over 512 drum classes (drum_representation), and the
space is LatentSpace with what is pitch-specific turned off: no register keeping, no attribute shifts,
and interpolation likeness measured on the set of pieces struck per step. Clips are read in 2-bar pieces,
one latent each, like LatentSpace; a clip with an odd number of bars is padded with a silent bar (silence
is the drum grid's rest) and trimmed again.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ostinato.errors import InvalidInput, MissingAsset
from symbolic.latent.drum_representation import NUM_DRUM_CLASSES, DrumClip
from symbolic.latent.model import CONFIG_NAME, MelodyVAE
from symbolic.latent.space import PIECE_BARS, Decoding, LatentSpace

PRETRAINED_DRUMS_DIR = Path(__file__).resolve().parents[1] / "pretrained" / "latent_drums"


def pad_to_pieces(clip: DrumClip) -> DrumClip:
    """The clip with silent bars added up to whole PIECE_BARS-bar pieces."""
    steps = clip.time_signature.steps_per_bar * (-clip.num_bars % PIECE_BARS)
    if not steps:
        return clip
    return replace(clip, tokens=np.concatenate([clip.tokens, np.zeros(steps, dtype=clip.tokens.dtype)]))


def _trim(clips: list[DrumClip], like: DrumClip) -> list[DrumClip]:
    return [replace(clip, tokens=clip.tokens[:like.num_steps]) for clip in clips]


class DrumSpace(LatentSpace):
    """LatentSpace for DrumClip (see the module docstring); the same method names and arguments."""

    def __init__(self, model: MelodyVAE) -> None:
        if model.config.num_classes != NUM_DRUM_CLASSES:
            raise MissingAsset(f"the model has {model.config.num_classes} classes, not the drum grid's "
                               f"{NUM_DRUM_CLASSES}: load a drum model (symbolic/pretrained/latent_drums/)")
        super().__init__(model, {})

    @classmethod
    def from_pretrained(cls, directory: Path | None = None) -> "DrumSpace":
        """Loads a drum model directory (config.json, model.safetensors); default the shipped one."""
        directory = Path(directory) if directory is not None else PRETRAINED_DRUMS_DIR
        if not (directory / CONFIG_NAME).exists():
            raise MissingAsset(f"no latent drum model in {directory}: train one with `python -m "
                               "symbolic.latent.train --family drums --drum-dir DIR` or restore "
                               "symbolic/pretrained/latent_drums/")
        return cls(MelodyVAE.from_pretrained(directory))

    # -- what differs from pitched lines ----------------------------------------------------------------
    def _keep_register(self, tokens: np.ndarray, reference: np.ndarray, span: int) -> np.ndarray:
        return tokens

    def _states(self, tokens: np.ndarray) -> np.ndarray:
        return np.asarray(tokens)  # the set of pieces struck at each step

    def _voice_of(self, clip: DrumClip) -> dict:
        return {}

    def shift_clip(self, clip: DrumClip, shifts: dict[str, float]) -> DrumClip:
        self._check_shifts(shifts)  # drums have no attribute shifts: any name is refused
        return clip

    # -- clips of any length: padded to whole pieces, trimmed back ------------------------------------
    def reconstruct(self, clip: DrumClip, decoding: Decoding = Decoding()) -> DrumClip:
        self._check(clip)
        return _trim([super().reconstruct(pad_to_pieces(clip), decoding)], clip)[0]

    def vary(self, clip: DrumClip, num_variations: int, similarity_distance: float,
             shifts: dict[str, float] | None = None, decoding: Decoding = Decoding(), **kwargs) -> list[DrumClip]:
        """num_variations drum clips near `clip` (see LatentSpace.vary; none is the reconstruction)."""
        self._check(clip)
        return _trim(super().vary(pad_to_pieces(clip), num_variations, similarity_distance, shifts, decoding,
                                  **kwargs), clip)

    def interpolate(self, start: DrumClip, end: DrumClip, steps: int, decoding: Decoding = Decoding(),
                    **kwargs) -> list[DrumClip]:
        """`steps` clips from start to end; the endpoints are the reconstructions of start and end."""
        self._check(start)
        self._check(end)
        clips = super().interpolate(pad_to_pieces(start), pad_to_pieces(end), steps, decoding, **kwargs)
        fractions = [i / (steps - 1) for i in range(len(clips))]
        return [_trim([clip], start if f <= 0.5 else end)[0] for clip, f in zip(clips, fractions)]

    @staticmethod
    def _check(clip: DrumClip) -> None:
        if not isinstance(clip, DrumClip):
            raise InvalidInput(f"the drum model takes a DrumClip (read_drum_clip), not {type(clip).__name__}")
        if not clip.tokens.any():
            raise InvalidInput("the drum clip is silent: give a clip with drum hits")
