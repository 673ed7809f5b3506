"""Arrangements: a piece's form written in a file (TOML) becomes the whole piece — one multi-track MIDI
with tempo, meter, key and section markers, per-track stems and a mix, and an overview picture.

Application level: imports symbolic/ and audio_render/, knows nothing of gRPC. The CLI
(`ostinato arrange`) and the Arranger RPC both call it.

    from server.arrangement import DirectoryCache, load_arrangement_file
    from server.arrangement.run import arranger_for
    arranger = arranger_for(Settings(), DirectoryCache(Path("out/.cache")))   # this process's models
    arrangement = load_arrangement_file(Path("examples/arrangements/pop_song_audio.toml"),
                                        capabilities=arranger.capabilities)   # checked, or ArrangementError
    piece = arranger.arrange(arrangement)
    piece.write(Path("out"), piece.render("TimGM6mb"))   # audio layers mixed in, each a stem

Modules: model (dataclasses), loader (TOML, schema.json, line-numbered errors), arranger (section by
section, Drumify, cache), layers (audio layers from the Accompanist and the MelodyGenerator, their mix),
piece (MIDI, audio, overview), run (wiring the models of this process).
"""

from server.arrangement.arranger import Arranger, DirectoryCache, MemoryCache, SectionResult
from server.arrangement.loader import ArrangementError, load_arrangement, load_arrangement_file
from server.arrangement.model import Arrangement, SectionSpec, TrackSpec, Variation
from server.arrangement.piece import Piece

__all__ = ["Arrangement", "ArrangementError", "Arranger", "DirectoryCache", "MemoryCache", "Piece",
           "SectionResult", "SectionSpec", "TrackSpec", "Variation", "load_arrangement", "load_arrangement_file"]
