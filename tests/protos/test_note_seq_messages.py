"""The contract's NoteSequence comes from protos/third_party (no note_seq package import) and is the
very class note-seq's own music_pb2 gives, whichever module a process imports first."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import pytest

from protos.build import PROTOS_DIR, compile_note_seq

_CHECK = """
import sys
order = sys.argv[1]
if order == "note_seq_first":
    from note_seq.protobuf import music_pb2
    from protos.ostinato.v1 import composer_pb2
else:
    from protos.ostinato.v1 import composer_pb2
    assert "note_seq" not in sys.modules, "the contract imported the note_seq package"
    from note_seq.protobuf import music_pb2
clip = composer_pb2.Clip()
clip.note_sequence.notes.add(pitch=62, start_time=0.0, end_time=0.5)
assert type(clip.note_sequence) is music_pb2.NoteSequence
assert music_pb2.NoteSequence.FromString(clip.note_sequence.SerializeToString()).notes[0].pitch == 62
print("ok")
"""


@pytest.mark.parametrize("order", ["contract_first", "note_seq_first"])
def test_one_note_sequence_class_in_either_import_order(order: str) -> None:
    result = subprocess.run([sys.executable, "-c", _CHECK, order], cwd=PROTOS_DIR.parent, capture_output=True,
                            text=True, timeout=300)
    # The last line: with CI set, pyfluidsynth (imported by note_seq) announces its library on stdout first.
    assert result.returncode == 0 and result.stdout.strip().splitlines()[-1:] == ["ok"], result.stderr[-3000:]


def test_generated_note_seq_module_is_up_to_date(tmp_path: Path) -> None:
    fresh = compile_note_seq(tmp_path)
    assert filecmp.cmp(fresh, PROTOS_DIR / "third_party" / fresh.name, shallow=False), "run `python -m protos.build`"
