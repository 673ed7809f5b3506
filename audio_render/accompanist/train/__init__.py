"""Training side of the accompaniment model: prepare (rendered stem pairs), train, evaluate.

Never imported by the serving path (audio_render.accompanist.model and the server).
"""
