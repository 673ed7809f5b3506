"""Arrangements: a piece's form written in a file (TOML) becomes the whole piece — one multi-track MIDI
with tempo, meter, key and section markers, per-track stems and a mix, and an overview picture.

Application level: imports symbolic/ and audio_render/, knows nothing of gRPC. The CLI
(`ostinato arrange`) and the Arranger RPC both call it.

    from server.arrangement import Arranger, DirectoryCache, load_arrangement_file
    arrangement = load_arrangement_file(Path("examples/arrangements/aaba.toml"))   # checked, or ArrangementError
    piece = Arranger(composer=load_composer, cache=DirectoryCache(Path("out/.cache"))).arrange(arrangement)
    piece.write(Path("out"), piece.render("TimGM6mb"))

Modules: model (dataclasses), loader (TOML, schema.json, line-numbered errors), arranger (section by
section, cache), piece (MIDI, audio, overview), run (wiring the models of this process).
"""

from server.arrangement.arranger import Arranger, DirectoryCache, MemoryCache, SectionResult
from server.arrangement.loader import ArrangementError, load_arrangement, load_arrangement_file
from server.arrangement.model import Arrangement, SectionSpec, TrackSpec, Variation
from server.arrangement.piece import Piece

__all__ = ["Arrangement", "ArrangementError", "Arranger", "DirectoryCache", "MemoryCache", "Piece",
           "SectionResult", "SectionSpec", "TrackSpec", "Variation", "load_arrangement", "load_arrangement_file"]
