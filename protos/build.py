"""Compiles the Ostinato contract into Python modules and a descriptor set.

Run `python -m protos.build` after editing a .proto file; the generated modules are committed so that
installing the package needs no compiler. tests/protos checks that they are up to date.

Outputs:
- protos/ostinato/v1/*_pb2.py, *_pb2.pyi, *_pb2_grpc.py (imports rewritten to the `protos` package).
- protos/third_party/note_seq_music_pb2.py: note-seq's NoteSequence messages, generated from the dumped
  descriptor under the same file name and proto package (`magenta`), so the contract gets them without
  importing the note_seq package (whose __init__ loads librosa, bokeh and pandas: ~1.5 s). Either module
  may be imported first: the descriptor pool accepts the identical file twice and both share one class.
- protos/ostinato.binpb: a FileDescriptorSet with all imports, for clients in other languages
  (`@grpc/proto-loader`'s loadFileDescriptorSetFromBuffer, `grpcurl -protoset`, `buf lint`).
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

PROTOS_DIR = Path(__file__).resolve().parent
CONTRACT_DIR = PROTOS_DIR / "ostinato" / "v1"
# note-seq's wheel has music.proto compiled but not its source: its descriptor, dumped from the installed
# module, stands in for the source file when compiling.
NOTE_SEQ_DESCRIPTORS = PROTOS_DIR / "third_party" / "note_seq_music.binpb"
DESCRIPTOR_SET = PROTOS_DIR / "ostinato.binpb"
NOTE_SEQ_PROTO = "note_seq/protobuf/music.proto"
NOTE_SEQ_MODULE = "note_seq_music_pb2"

_IMPORT_RE = re.compile(r"^from ostinato\.v1 import ", re.MULTILINE)
_NOTE_SEQ_IMPORT_RE = re.compile(r"^from note_seq\.protobuf import music_pb2 ", re.MULTILINE)


def proto_files() -> list[Path]:
    return sorted(CONTRACT_DIR.glob("*.proto"))


def compile_contract(out_dir: Path = PROTOS_DIR, descriptor_set: Path = DESCRIPTOR_SET) -> list[Path]:
    """Compiles every .proto under protos/ostinato/v1 into `out_dir`; returns the generated files."""
    relative = [str(p.relative_to(PROTOS_DIR)) for p in proto_files()]
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTOS_DIR}",
        f"--descriptor_set_in={NOTE_SEQ_DESCRIPTORS}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--descriptor_set_out={descriptor_set}",
        "--include_imports",
        "--include_source_info",
        *relative,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed; see its messages above")
    generated = sorted((out_dir / "ostinato" / "v1").glob("*_pb2*.py*"))
    for path in generated:
        text = _IMPORT_RE.sub("from protos.ostinato.v1 import ", path.read_text())
        path.write_text(_NOTE_SEQ_IMPORT_RE.sub(f"from protos.third_party import {NOTE_SEQ_MODULE} ", text))
    return [*generated, compile_note_seq(out_dir)]


def compile_note_seq(out_dir: Path = PROTOS_DIR) -> Path:
    """Generates protos/third_party/note_seq_music_pb2.py from note-seq's dumped descriptor."""
    with tempfile.TemporaryDirectory() as scratch:
        args = ["grpc_tools.protoc", f"--descriptor_set_in={NOTE_SEQ_DESCRIPTORS}", f"--python_out={scratch}",
                NOTE_SEQ_PROTO]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed on note-seq's music.proto; see its messages above")
        text = (Path(scratch) / NOTE_SEQ_PROTO).with_suffix("").with_name("music_pb2.py").read_text()
    text = text.replace("'note_seq.protobuf.music_pb2'", f"'protos.third_party.{NOTE_SEQ_MODULE}'")
    target = out_dir / "third_party" / f"{NOTE_SEQ_MODULE}.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def main() -> int:
    for path in compile_contract():
        print(path.relative_to(PROTOS_DIR.parent))
    print(DESCRIPTOR_SET.relative_to(PROTOS_DIR.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
