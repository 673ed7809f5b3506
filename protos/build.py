"""Compiles the Ostinato contract into Python modules and a descriptor set.

Run `python -m protos.build` after editing a .proto file; the generated modules are committed so that
installing the package needs no compiler. tests/protos checks that they are up to date.

Outputs:
- protos/ostinato/v1/*_pb2.py, *_pb2.pyi, *_pb2_grpc.py (imports rewritten to the `protos` package).
- protos/ostinato.binpb: a FileDescriptorSet with all imports, for clients in other languages
  (`@grpc/proto-loader`'s loadFileDescriptorSetFromBuffer, `grpcurl -protoset`, `buf lint`).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from grpc_tools import protoc

PROTOS_DIR = Path(__file__).resolve().parent
CONTRACT_DIR = PROTOS_DIR / "ostinato" / "v1"
# note-seq's wheel has music.proto compiled but not its source: its descriptor, dumped from the installed
# module, stands in for the source file when compiling.
NOTE_SEQ_DESCRIPTORS = PROTOS_DIR / "third_party" / "note_seq_music.binpb"
DESCRIPTOR_SET = PROTOS_DIR / "ostinato.binpb"

_IMPORT_RE = re.compile(r"^from ostinato\.v1 import ", re.MULTILINE)


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
        text = path.read_text()
        path.write_text(_IMPORT_RE.sub("from protos.ostinato.v1 import ", text))
    return generated


def main() -> int:
    for path in compile_contract():
        print(path.relative_to(PROTOS_DIR.parent))
    print(DESCRIPTOR_SET.relative_to(PROTOS_DIR.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
