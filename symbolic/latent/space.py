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
from symbolic.latent.representation import MelodyClip, metric_features

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained" / "latent"
ATTRIBUTE_VECTORS_NAME = "attribute_vectors.json"
MAX_STEPS = 16
MAX_VARIATIONS = 16
ALIASES = {"density": "notes_per_bar", "note_density": "notes_per_bar", "range": "pitch_range_octaves",
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

    # -- primitives ---------------------------------------------------------------------------------
    def encode(self, clips: list[MelodyClip]) -> np.ndarray:
        """Posterior means, shape (len(clips), latent_dim)."""
        means = []
        for clip in clips:
            tokens = torch.from_numpy(clip.tokens.astype(np.int64)).unsqueeze(0)
            features = features_tensor(metric_features(clip.time_signature, clip.num_steps), 1)
            with torch.no_grad():
                mean, _ = self.model.encode(tokens, features)
            means.append(mean[0].numpy())
        return np.stack(means)

    def decode(self, latents: np.ndarray, like: MelodyClip, decoding: Decoding = Decoding()) -> list[MelodyClip]:
        """Decodes latents to clips with the meter, length, tempo and program of `like`."""
        features = features_tensor(metric_features(like.time_signature, like.num_steps), latents.shape[0])
        generator = torch.Generator().manual_seed(int(decoding.seed)) if decoding.temperature > 0 else None
        tokens = self.model.decode(torch.from_numpy(np.asarray(latents, dtype=np.float32)), features,
                                   decoding.temperature, decoding.top_k, generator).numpy()
        return [replace(like, tokens=row) for row in tokens]

    def reconstruct(self, clip: MelodyClip, decoding: Decoding = Decoding()) -> MelodyClip:
        return self.decode(self.encode([clip]), clip, decoding)[0]

    def shift(self, latent: np.ndarray, shifts: dict[str, float]) -> np.ndarray:
        """Adds attribute vectors; amounts are in standard deviations of the attribute."""
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

    # -- what a musician asks for -------------------------------------------------------------------
    def vary(self, clip: MelodyClip, num_variations: int, similarity_distance: float,
             shifts: dict[str, float] | None = None, decoding: Decoding = Decoding(),
             max_variations: int = MAX_VARIATIONS, progress: ProgressFn = no_progress,
             cancel: CancelToken | None = None) -> list[MelodyClip]:
        """num_variations clips near `clip`.

        With similarity_distance > 0 each variation differs from the clip's reconstruction (a new prior
        sample is drawn when one happens to decode to the same notes, up to 4 times).
        """
        if num_variations < 1:
            raise InvalidInput(f"num_variations is {num_variations}: ask for at least 1")
        if num_variations > max_variations:
            raise LimitExceeded("variations", num_variations, max_variations)
        if not 0.0 <= similarity_distance <= 1.0:
            raise InvalidInput(f"similarity_distance {similarity_distance:g} is out of range: use 0-1")
        check_decoding(decoding)
        rng = np.random.default_rng(decoding.seed)
        encoded = self.encode([clip])[0]
        latent = self.shift(encoded, shifts or {})
        if similarity_distance == 0:
            points = np.repeat(latent[None, :], num_variations, axis=0)
            progress(ProgressEvent("vary", 0.5, f"decoding {num_variations} variations"))
            return self.decode(points, clip, decoding)
        original = self.decode(encoded[None, :], clip, decoding)[0].tokens
        results: list[MelodyClip | None] = [None] * num_variations
        pending = list(range(num_variations))
        for attempt in range(5):
            if cancel is not None:
                cancel.check()
            noise = rng.standard_normal((len(pending), latent.shape[0])).astype(np.float32)
            points = np.stack([slerp(latent, row, similarity_distance) for row in noise])
            decoded = self.decode(points, clip, replace(decoding, seed=decoding.seed + attempt))
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
        return [clip for clip in results if clip is not None]

    def interpolate(self, start: MelodyClip, end: MelodyClip, steps: int, decoding: Decoding = Decoding(),
                    max_steps: int = MAX_STEPS, progress: ProgressFn = no_progress,
                    cancel: CancelToken | None = None) -> list[MelodyClip]:
        """`steps` clips from start to end, endpoints included (the endpoints are the reconstructions of
        start and end). steps == 1 gives the single midpoint blend (in the meter of start).

        Each clip takes the meter, bar count and program of the nearer endpoint; tempo moves linearly.
        """
        if steps < 1:
            raise InvalidInput(f"steps is {steps}: ask for 1-{max_steps} clips")
        if steps > max_steps:
            raise LimitExceeded("interpolation steps", steps, max_steps)
        check_decoding(decoding)
        latents = self.encode([start, end])
        fractions = [0.5] if steps == 1 else [i / (steps - 1) for i in range(steps)]
        results: list[MelodyClip] = []
        # Points take the meter of the nearer endpoint; each half is decoded as one batch.
        halves = [[i for i, f in enumerate(fractions) if f <= 0.5], [i for i, f in enumerate(fractions) if f > 0.5]]
        for half, like in zip(halves, (start, end)):
            if not half:
                continue
            if cancel is not None:
                cancel.check()
            points = np.stack([slerp(latents[0], latents[1], fractions[i]) for i in half])
            for index, clip in zip(half, self.decode(points, like, replace(decoding, seed=decoding.seed + half[0]))):
                fraction = fractions[index]
                results.append(replace(clip, tempo_bpm=(1 - fraction) * start.tempo_bpm + fraction * end.tempo_bpm))
            progress(ProgressEvent("interpolate", len(results) / steps, f"{len(results)} of {steps} clips"))
        return results
