"""The latent space a musician uses: reconstruct, vary, interpolate and shift clips by attributes.

    space = LatentSpace.from_pretrained()           # the shipped checkpoint, or a trained directory
    clip = midi_to_clip(open("a.mid", "rb").read())
    variations = space.vary(clip, num_variations=4, similarity_distance=0.3)
    blend = space.interpolate(clip_a, clip_b, steps=8)   # endpoints are the reconstructions of a and b

Interpolation follows MusicVAE: spherical interpolation between the two posterior means, each point
decoded. Variations follow Magenta.js `similar`: the clip's latent is moved towards a fresh prior sample
by similarity_distance (0 = the clip's own reconstruction, 1 = an unrelated sample). Attribute shifts
add MusicVAE-style attribute vectors (mean latent of the top quartile of training clips by an attribute
minus that of the bottom quartile), scaled so that amount 1.0 aims at one standard deviation.

Decoding is greedy (argmax per step) unless a temperature is given, so the same request gives the same
clips.

Clip lengths: the model was trained on 2- and 4-bar windows. A 1-bar clip is read as 2 bars and a 3-bar
clip as 4 (padded with rest, trimmed again on output); longer clips are cut into 2-bar pieces, each
with its own latent, and joined again (a note tied over a piece boundary restarts there). Interpolating
clips of different lengths pairs their pieces in order, reusing the shorter clip's pieces cyclically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ostinato.errors import InvalidInput, LimitExceeded, MissingAsset
from ostinato.runtime import CancelToken, ProgressEvent, ProgressFn, no_progress
from symbolic.latent.measures import ATTRIBUTES
from symbolic.latent.model import CONFIG_NAME, MelodyVAE, features_tensor
from symbolic.latent.representation import MAX_STEPS as MODEL_MAX_STEPS
from symbolic.latent.representation import NO_EVENT, MelodyClip, metric_features

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained" / "latent"
ATTRIBUTE_VECTORS_NAME = "attribute_vectors.json"
MAX_STEPS = 16
MAX_VARIATIONS = 16
ALIASES = {"density": "rhythm_intensity", "note_density": "rhythm_intensity", "range": "pitch_range_octaves",
           "register": "mean_pitch", "pitch": "mean_pitch"}


@dataclass(frozen=True)
class Decoding:
    """How latents become notes. temperature 0 is greedy; top_k 0 keeps every class."""

    temperature: float = 0.0
    top_k: int = 0
    seed: int = 0


@dataclass(frozen=True)
class AttributeVector:
    """Latent direction of one attribute and the attribute's statistics in the training windows."""

    direction: np.ndarray
    attribute_delta: float  # mean attribute of the top quartile minus the bottom quartile
    attribute_std: float


def check_decoding(decoding: Decoding) -> None:
    if decoding.temperature != 0 and not 0.1 <= decoding.temperature <= 2.0:
        raise InvalidInput(f"temperature {decoding.temperature:g} is out of range: use 0.1-2.0, or 0 for greedy")
    if decoding.top_k < 0:
        raise InvalidInput("top_k must be 0 (off) or positive")


@dataclass(frozen=True)
class _Pieces:
    """A clip cut into model-sized pieces of equal (padded) length."""

    pieces: list[MelodyClip]
    real_steps: list[int]  # steps of each piece that belong to the clip


def split(clip: MelodyClip) -> _Pieces:
    """Cuts a clip into the pieces the model reads (see the module docstring)."""
    steps_per_bar = clip.time_signature.steps_per_bar
    bars = clip.num_bars
    padded = {1: 2, 3: 4}.get(bars, bars)
    if bars <= 4 and padded * steps_per_bar <= MODEL_MAX_STEPS:
        spans = [(0, bars, padded)]
    else:
        spans = [(start, min(2, bars - start), 2) for start in range(0, bars, 2)]
    pieces, real = [], []
    for start_bar, piece_bars, padded_bars in spans:
        tokens = clip.tokens[start_bar * steps_per_bar:(start_bar + piece_bars) * steps_per_bar]
        padding = np.full((padded_bars - piece_bars) * steps_per_bar, NO_EVENT, dtype=tokens.dtype)
        pieces.append(replace(clip, tokens=np.concatenate([tokens, padding])))
        real.append(piece_bars * steps_per_bar)
    return _Pieces(pieces, real)


def join(decoded: list[MelodyClip], layout: _Pieces, like: MelodyClip) -> MelodyClip:
    """Concatenates decoded pieces, dropping padding; meter, tempo and program from `like`."""
    tokens = np.concatenate([clip.tokens[:steps] for clip, steps in zip(decoded, layout.real_steps)])
    return replace(like, tokens=tokens)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation (MusicVAE's choice for Gaussian latents); linear for parallel vectors."""
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    cos = np.clip(np.dot(a, b) / norm, -1.0, 1.0) if norm > 0 else 1.0
    omega = np.arccos(cos)
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


class LatentSpace:
    def __init__(self, model: MelodyVAE, attribute_vectors: dict[str, AttributeVector] | None = None) -> None:
        self.model = model.eval()
        self.attribute_vectors = attribute_vectors or {}

    @classmethod
    def from_pretrained(cls, directory: Path | None = None) -> "LatentSpace":
        """Loads a model directory (config.json, model.safetensors, optional attribute_vectors.json)."""
        directory = Path(directory) if directory is not None else PRETRAINED_DIR
        if not (directory / CONFIG_NAME).exists():
            raise MissingAsset(f"no latent model in {directory}: train one with "
                               "`python -m symbolic.latent.train` or restore symbolic/pretrained/latent/")
        model = MelodyVAE.from_pretrained(directory)
        vectors: dict[str, AttributeVector] = {}
        path = directory / ATTRIBUTE_VECTORS_NAME
        if path.exists():
            for name, entry in json.loads(path.read_text()).items():
                vectors[name] = AttributeVector(np.array(entry["direction"], dtype=np.float32),
                                                float(entry["attribute_delta"]), float(entry["attribute_std"]))
        return cls(model, vectors)

    # -- primitives on model-sized clips (2-4 bars, at most 64 steps) --------------------------------
    def encode(self, clips: list[MelodyClip]) -> np.ndarray:
        """Posterior means, shape (len(clips), latent_dim); clips of one length go in one batch."""
        means = np.zeros((len(clips), self.model.config.latent_dim), dtype=np.float32)
        by_shape: dict[tuple, list[int]] = {}
        for index, clip in enumerate(clips):
            by_shape.setdefault((clip.time_signature, clip.num_steps), []).append(index)
        for (time_signature, steps), indexes in by_shape.items():
            tokens = torch.from_numpy(np.stack([clips[i].tokens for i in indexes]).astype(np.int64))
            features = features_tensor(metric_features(time_signature, steps), len(indexes))
            with torch.no_grad():
                mean, _ = self.model.encode(tokens, features)
            means[indexes] = mean.numpy()
        return means

    def decode(self, latents: np.ndarray, like: MelodyClip, decoding: Decoding = Decoding()) -> list[MelodyClip]:
        """Decodes latents to clips with the meter, length, tempo and program of `like`."""
        features = features_tensor(metric_features(like.time_signature, like.num_steps), latents.shape[0])
        generator = torch.Generator().manual_seed(int(decoding.seed)) if decoding.temperature > 0 else None
        tokens = self.model.decode(torch.from_numpy(np.asarray(latents, dtype=np.float32)), features,
                                   decoding.temperature, decoding.top_k, generator).numpy()
        return [replace(like, tokens=row) for row in tokens]

    def shift(self, latent: np.ndarray, shifts: dict[str, float]) -> np.ndarray:
        """Adds attribute vectors to a latent (or a stack of them); amounts are in standard deviations."""
        latent = latent.copy()
        for name, amount in shifts.items():
            key = ALIASES.get(name, name)
            if key not in self.attribute_vectors:
                known = ", ".join(sorted(self.attribute_vectors) or ATTRIBUTES)
                raise InvalidInput(f"unknown attribute to shift: {name!r}; use one of {known}")
            if not -4.0 <= amount <= 4.0:
                raise InvalidInput(f"shift of {name} by {amount:g} standard deviations: use -4 to 4")
            vector = self.attribute_vectors[key]
            latent += amount * vector.attribute_std / vector.attribute_delta * vector.direction
        return latent

    # -- what a musician asks for (clips of any length) ----------------------------------------------
    def _decode_pieces(self, latents: np.ndarray, layout: _Pieces, like: MelodyClip,
                       decoding: Decoding) -> list[MelodyClip]:
        """Decodes rows of len(layout.pieces) latents each into whole clips."""
        count = len(layout.pieces)
        decoded = self.decode(latents, layout.pieces[0], decoding)
        return [join(decoded[i:i + count], layout, like) for i in range(0, len(decoded), count)]

    def reconstruct(self, clip: MelodyClip, decoding: Decoding = Decoding()) -> MelodyClip:
        """The clip as the model hears it: encoded and decoded again."""
        layout = split(clip)
        return self._decode_pieces(self.encode(layout.pieces), layout, clip, decoding)[0]

    def vary(self, clip: MelodyClip, num_variations: int, similarity_distance: float,
             shifts: dict[str, float] | None = None, decoding: Decoding = Decoding(),
             max_variations: int = MAX_VARIATIONS, progress: ProgressFn = no_progress,
             cancel: CancelToken | None = None) -> list[MelodyClip]:
        """num_variations clips near `clip`, in its meter, length, tempo and program.

        With similarity_distance > 0 every variation differs from the clip's reconstruction: one that
        happens to decode to the same notes is drawn again (up to 4 more times).
        """
        if num_variations < 1:
            raise InvalidInput(f"num_variations is {num_variations}: ask for at least 1")
        if num_variations > max_variations:
            raise LimitExceeded("variations", num_variations, max_variations)
        if not 0.0 <= similarity_distance <= 1.0:
            raise InvalidInput(f"similarity_distance {similarity_distance:g} is out of range: use 0-1")
        check_decoding(decoding)
        rng = np.random.default_rng(decoding.seed)
        layout = split(clip)
        encoded = self.encode(layout.pieces)
        latents = np.stack([self.shift(z, shifts or {}) for z in encoded])
        if similarity_distance == 0:
            progress(ProgressEvent("vary", 0.5, f"decoding {num_variations} variations"))
            return self._decode_pieces(np.tile(latents, (num_variations, 1)), layout, clip, decoding)
        original = self._decode_pieces(encoded, layout, clip, decoding)[0].tokens
        results: list[MelodyClip | None] = [None] * num_variations
        pending = list(range(num_variations))
        for attempt in range(5):
            if cancel is not None:
                cancel.check()
            noise = rng.standard_normal((len(pending), *latents.shape)).astype(np.float32)
            points = np.concatenate([np.stack([slerp(z, n, similarity_distance) for z, n in zip(latents, row)])
                                     for row in noise])
            decoded = self._decode_pieces(points, layout, clip, replace(decoding, seed=decoding.seed + attempt))
            still_same = []
            for index, candidate in zip(pending, decoded):
                results[index] = candidate
                if np.array_equal(candidate.tokens, original):
                    still_same.append(index)
            done = num_variations - len(still_same)
            progress(ProgressEvent("vary", done / num_variations, f"{done} of {num_variations} variations"))
            if not still_same:
                break
            pending = still_same
        return [variation for variation in results if variation is not None]

    def interpolate(self, start: MelodyClip, end: MelodyClip, steps: int, decoding: Decoding = Decoding(),
                    max_steps: int = MAX_STEPS, progress: ProgressFn = no_progress,
                    cancel: CancelToken | None = None) -> list[MelodyClip]:
        """`steps` clips from start to end, endpoints included (the endpoints are the reconstructions of
        start and end). steps == 1 gives the single midpoint blend (in the meter of start).

        Each clip takes the meter, length and program of the nearer endpoint; tempo moves linearly.
        """
        if steps < 1:
            raise InvalidInput(f"steps is {steps}: ask for 1-{max_steps} clips")
        if steps > max_steps:
            raise LimitExceeded("interpolation steps", steps, max_steps)
        check_decoding(decoding)
        layouts = split(start), split(end)
        latents = self.encode(layouts[0].pieces), self.encode(layouts[1].pieces)
        fractions = [0.5] if steps == 1 else [i / (steps - 1) for i in range(steps)]
        results: list[MelodyClip] = []
        # Points take the meter of the nearer endpoint; each half is decoded as one batch.
        halves = [i for i, f in enumerate(fractions) if f <= 0.5], [i for i, f in enumerate(fractions) if f > 0.5]
        for half, layout, like in zip(halves, layouts, (start, end)):
            if not half:
                continue
            if cancel is not None:
                cancel.check()
            pieces = len(layout.pieces)
            points = np.stack([
                slerp(latents[0][p % len(latents[0])], latents[1][p % len(latents[1])], fractions[i])
                for i in half for p in range(pieces)])
            clips = self._decode_pieces(points, layout, like, replace(decoding, seed=decoding.seed + half[0]))
            for index, clip in zip(half, clips):
                fraction = fractions[index]
                results.append(replace(clip, tempo_bpm=(1 - fraction) * start.tempo_bpm + fraction * end.tempo_bpm))
            progress(ProgressEvent("interpolate", len(results) / steps, f"{len(results)} of {steps} clips"))
        return results
