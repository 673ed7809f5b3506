"""Symbolic (MIDI) composition: an attribute-conditioned transformer over miditok REMI tokens.

Serving path: composer.Composer (generate / continue_clip / infill) -> decoding (constrained sampling)
-> model.MusicTransformer; attributes.extract measures clips (training prefixes and evaluation);
text.parse_text maps words to attributes; midi_io and codec convert MIDI, note tables and tokens.
Training path (never imported by the server): prepare, data/, train, evaluate. symbolic.latent holds
the MusicVAE-style latent space.
"""
