"""Drumify and Groove in domain terms: checks, the shipped Groove model, progress and cancellation.

The Composer service and the bridge's clip factory both call these. Payload sizes are checked where the
bytes arrive (server.rpc.check_size), before a job is built.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from ostinato.errors import InvalidInput
from ostinato.limits import DEFAULT_MIDI_LIMITS
from ostinato.midi_scan import scan_midi
from ostinato.runtime import CancelToken, ProgressEvent, ProgressFn, no_progress
from server.application.models import MODELS, ModelRegistry
from symbolic.attributes import Attributes, extract
from symbolic.midi_io import Clip, midi_to_clip

MAX_SEED = 2**63 - 1
# Notes a Drumify or Groove file may hold (RESOURCE_EXHAUSTED above): both read and rewrite every event
# through mido (~50 us of CPU per note), so this keeps one call near a second of CPU. A dense 10-minute
# pop arrangement has ~5,000 notes.
MAX_EDIT_NOTES = 12_000
_EDIT_LIMITS = replace(DEFAULT_MIDI_LIMITS, max_notes=MAX_EDIT_NOTES)


def _check_edit_size(midi: bytes) -> None:
    """LimitExceeded for a file over MAX_EDIT_NOTES (a file that is not MIDI at all is named by the reader)."""
    if bytes(midi[:4]) == b"MThd":
        scan_midi(bytes(midi), _EDIT_LIMITS)


@dataclass
class DrumifyJob:
    midi: bytes
    style: str = ""  # empty: the meter's first groove
    merge: bool = False  # the whole file with drums added, or the drum track alone
    seed: int = 0  # chooses among the meter's grooves (0 or 1: the first)


@dataclass
class GrooveJob:
    midi: bytes
    amount: float = 1.0
    seed: int = 0  # 0: one is chosen (and returned)


@dataclass
class EditedClip:
    """A user's clip changed by Drumify or Groove: the file, its notes and what it measures as."""

    midi: bytes
    clip: Clip
    measured: Attributes
    seed: int


def _measured(midi: bytes, seed: int) -> EditedClip:
    clip = midi_to_clip(midi)
    return EditedClip(midi, clip, extract(clip.table, clip.time_signature, clip.tempo_bpm, bars=clip.bars), seed)


def check_style(style: str) -> str | None:
    """None for no style; InvalidInput naming the known styles for one the library does not have."""
    from symbolic.groove import known_styles

    name = style.strip().lower()
    if not name:
        return None
    styles = known_styles()
    if name not in styles:
        raise InvalidInput(f"unknown drum style {style[:40]!r}: use one of {', '.join(styles)}")
    return name


def drumify(job: DrumifyJob, progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> EditedClip:
    """Drums that follow the clip's rhythm: the drum track alone, or the file with it (job.merge)."""
    from symbolic.groove import drumify as make_drums

    progress = progress or no_progress
    cancel = cancel or CancelToken()
    style = check_style(job.style)
    if job.seed < 0 or job.seed > MAX_SEED:
        raise InvalidInput(f"seed {job.seed} is out of range")
    _check_edit_size(job.midi)
    progress(ProgressEvent("drumify", 0.0, "reading the clip's rhythm"))
    cancel.check()
    seed = max(1, job.seed)
    midi = make_drums(job.midi, style, seed, drums_only=not job.merge)
    cancel.check()
    progress(ProgressEvent("drumify", 1.0, "drums written"))
    return _measured(midi, seed)


def groove(job: GrooveJob, progress: ProgressFn | None = None, cancel: CancelToken | None = None,
           models: ModelRegistry = MODELS) -> EditedClip:
    """The clip with humanised timing and velocities (amount 0: the file unchanged)."""
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    if not math.isfinite(job.amount) or not 0.0 <= job.amount <= 1.0:
        raise InvalidInput(f"groove amount {job.amount:g} must be between 0 and 1")
    if job.seed < 0 or job.seed > MAX_SEED:
        raise InvalidInput(f"seed {job.seed} is out of range")
    _check_edit_size(job.midi)
    seed = job.seed or random.SystemRandom().randrange(1, 2**31)
    progress(ProgressEvent("groove", 0.0, "loading the groove model"))
    model = models.groove_model()
    cancel.check()
    progress(ProgressEvent("groove", 0.3, "humanising timing and velocities"))
    midi = model.generate(job.midi, job.amount, seed)
    cancel.check()
    progress(ProgressEvent("groove", 1.0, "groove applied"))
    return _measured(midi, seed)
