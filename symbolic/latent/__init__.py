"""A MusicVAE-style latent space for 2-4 bar melody clips: reconstruct, vary, interpolate, and shift
clips along attribute vectors ("more dense").

    from symbolic.latent import LatentSpace, clip_to_midi, midi_to_clip
    space = LatentSpace.from_pretrained()                 # symbolic/pretrained/latent/
    blend = space.interpolate(midi_to_clip(a), midi_to_clip(b), steps=8)
    files = [clip_to_midi(clip) for clip in blend]

Modules: representation (the sixteenth-note grid and MIDI I/O), model (the VAE), space (what a user
calls), measures (attributes on the grid). Training and evaluation (data, train, evaluate) are separate
modules that serving never imports.
"""

from symbolic.latent.representation import MelodyClip, TimeSignature, clip_to_midi, midi_to_clip
from symbolic.latent.space import Decoding, LatentSpace

__all__ = ["Decoding", "LatentSpace", "MelodyClip", "TimeSignature", "clip_to_midi", "midi_to_clip"]
