"""The tonal centre a listener hears, and a decode-time steer that keeps it on the requested key.

Scale membership alone does not tell C major from A minor, F major or G major: a listener weighs how
long each pitch class sounds against the profile of every key (Krumhansl-Schmuckler key finding). While
a clip is written, `TonalCentre` keeps the duration-weighted pitch-class histogram of what has sounded
and asks several listeners (key profiles from the key-finding literature) which key they hear. When a
rival key is ahead of the requested one, or close behind it, the next pitch choices lean toward the
pitch classes that separate the two (for A minor against C major: A and E up, C and G down). The lean
is a bias on the model's choices, never a mask: a chord tone the harmony needs stays allowed, and a
key that is already plain gets no lean at all.

The listeners are Krumhansl-Kessler (probe tones), Temperley's Kostka-Payne profile (textbook
excerpts) and Bellman-Budge (chord-weighted corpus counts). Aarden-Essen, which music21's default
`analyze('key')` uses, is deliberately not among them: music21 judges the result from outside.
"""

from __future__ import annotations

import math

import numpy as np

from symbolic.attributes import Key

# Profiles indexed from the tonic (major, minor), as published.
LISTENER_PROFILES = {
    "krumhansl_kessler": ((6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
                          (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)),
    "temperley_kostka_payne": ((0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400),
                               (0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330)),
    "bellman_budge": ((16.80, 0.86, 12.95, 1.41, 13.49, 11.93, 1.25, 20.28, 1.80, 8.04, 0.62, 10.57),
                      (18.16, 0.69, 12.99, 13.34, 1.07, 11.15, 1.38, 21.07, 7.49, 1.53, 0.92, 10.21)),
}


def _key_templates() -> np.ndarray:
    """(listeners, 24 keys, 12 pitch classes): each key's profile, centred and scaled to unit norm.
    Keys 0-11 are the major keys on C..B, 12-23 the minor keys."""
    templates = np.zeros((len(LISTENER_PROFILES), 24, 12))
    for listener, (major, minor) in enumerate(LISTENER_PROFILES.values()):
        for mode_index, profile in enumerate((major, minor)):
            for tonic in range(12):
                rotated = np.roll(np.asarray(profile, dtype=float), tonic)
                centred = rotated - rotated.mean()
                templates[listener, mode_index * 12 + tonic] = centred / np.linalg.norm(centred)
    return templates


_TEMPLATES = _key_templates()
_LISTENERS = np.arange(_TEMPLATES.shape[0])


def key_index(key: Key) -> int | None:
    """Index of a major or minor key among the 24 templates (None for church modes)."""
    if key.mode == "major":
        return key.tonic_pitch_class
    if key.mode == "minor":
        return 12 + key.tonic_pitch_class
    return None


def key_correlations(histogram: np.ndarray) -> np.ndarray:
    """(listeners, 24): each listener's correlation of a pitch-class histogram with every key.

    Asked before every pitch choice (TonalCentre.lean): written with ufuncs and array methods, which
    cost less than numpy's function wrappers (mean, norm) on 12 numbers, with the same arithmetic."""
    histogram = np.asarray(histogram, dtype=float)
    centred = histogram - np.add.reduce(histogram) / histogram.shape[0]
    norm = math.sqrt(centred.dot(centred))
    if norm <= 1e-12:
        return np.zeros(_TEMPLATES.shape[:2])
    return _TEMPLATES @ (centred / norm)


def heard_key(histogram: np.ndarray) -> Key:
    """The key the listeners agree on most (mean correlation) for a pitch-class histogram."""
    index = int(np.argmax(key_correlations(histogram).mean(axis=0)))
    return Key(index % 12, "major" if index < 12 else "minor")


class TonalCentre:
    """Running histogram of what has sounded, and the lean that keeps the requested key in front.

    Args:
        key: the requested key (major or minor; church modes get no lean).
        strength: logits per unit of profile difference at full need.
        margin: the requested key should lead every rival by this much correlation; the lean fades in
            as the lead shrinks below it.
    """

    def __init__(self, key: Key, strength: float = 1.2, margin: float = 0.15) -> None:
        self.target = key_index(key)
        self.strength = strength
        self.margin = margin
        self.histogram = np.zeros(12)
        self._lean: np.ndarray | None = None

    @property
    def active(self) -> bool:
        return self.target is not None

    def hear(self, pitch: int, duration_q: float) -> None:
        self.histogram[int(pitch) % 12] += max(float(duration_q), 0.0)
        self._lean = None

    def hear_many(self, pitches: np.ndarray, durations_q: np.ndarray) -> None:
        if len(pitches):
            self.histogram += np.bincount(np.asarray(pitches, dtype=int) % 12,
                                          weights=np.maximum(np.asarray(durations_q, dtype=float), 0.0), minlength=12)
            self._lean = None

    def lean(self) -> np.ndarray:
        """Per pitch class, the logit lean toward the requested key (zeros when it is plain).

        Asked before every pitch choice after a note has sounded: the key correlations are numpy's,
        the rest one compiled call (symbolic.sample_kernel.tonal_lean, the same arithmetic)."""
        if self._lean is not None:
            return self._lean
        lean = np.zeros(12)
        if self.target is not None and np.add.reduce(self.histogram) > 0:
            from symbolic.sample_kernel import tonal_lean  # numba loads with decoding, not with this module

            tonal_lean(key_correlations(self.histogram), _TEMPLATES, self.target, self.margin,
                       self.strength * math.sqrt(12) / len(_LISTENERS), lean)
        self._lean = lean
        return lean
