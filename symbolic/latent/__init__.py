"""A MusicVAE-style latent space for monophonic lines (pop and folk melodies, bass lines), read in 2-bar
pieces: reconstruct, vary, interpolate, and shift clips by attributes ("more dense", "wider", "higher").

    from symbolic.latent import LatentSpace, clip_to_midi, midi_to_clip
    space = LatentSpace.from_pretrained()                 # symbolic/pretrained/latent/
    blend = space.interpolate(midi_to_clip(a), midi_to_clip(b), steps=8)
    files = [clip_to_midi(clip) for clip in blend]

    read = read_clip(midi_bytes, track="Bass")            # the clip plus Notices on what was taken

Modules: representation (the sixteenth-note grid, MIDI I/O, track choice and notices), model (the VAE),
space (what a user calls), measures (attributes on the grid). Training and evaluation (data, pop909,
train, evaluate, evaluate_external) are separate modules that serving never imports.
"""

from symbolic.latent.representation import (MelodyClip, Notice, ReadClip, TimeSignature, clip_to_midi,
                                            midi_to_clip, read_clip)
from symbolic.latent.space import Decoding, LatentSpace

__all__ = ["Decoding", "LatentSpace", "MelodyClip", "Notice", "ReadClip", "TimeSignature", "clip_to_midi",
           "midi_to_clip", "read_clip"]
