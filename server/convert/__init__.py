"""protobuf <-> domain, one module per proto family, called once at the edge of the server.

- composer.py: ostinato.v1 Composer messages (attributes, sampling, clips, NoteSequence) <-> symbolic/
  and server.application's jobs and results. The latent-space calls (Vary, Interpolate) use it too.
- renderer.py: RenderMidi's effects -> audio_render's reverb and chorus settings.

Servicers call a converter on the way in and on the way out, and nothing in between handles protobuf.
"""
