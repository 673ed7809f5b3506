"""Accompaniment over audio tokens: drums for a drumless mix (JukeDrummer), backing for a melody (SingSong).

Serving path: `model.Accompanist.from_pretrained(dir)` -> `generate(AccompanimentRequest, progress, cancel)`,
built on `network` (the transformer), `features` and `beats` (what the model hears) and the shared mel
codec. The `train` folder (prepare, train, evaluate) is never imported by the server.
"""
