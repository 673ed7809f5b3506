"""The application layer: what the server does, in domain terms, with no gRPC in it.

Servicers (server/services/) convert protobuf to the requests defined here (server/convert/), call one
function of this package, and convert the result back. The bridge's clip factory calls the same
functions, so every path shares one model instance, one text-merge rule and one validation.

- models.py: the model instances of the process (one Composer, one LatentSpace, one melody model),
  loaded on first use or at start-up, shared by every service.
- text.py: free text -> attributes, and the one rule that merges them with explicit attributes.
- composing.py: Generate / Continue / Infill / DescribeMidi on the Composer.
- latent.py: Vary / Interpolate through the latent space: their validation and results.
- melody.py: GenerateFromMelody's checks and the melody it reads (audio, or MIDI rendered).
- groove.py: Drumify (drums that follow a clip) and Groove (humanised timing and velocity).
- session_extras.py: Drumify and accompaniment for a DAW session's clip (the bridge's clip factory).
"""
