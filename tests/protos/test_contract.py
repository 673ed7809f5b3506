"""The contract: generated code matches the .proto files, buf lint passes, and no change breaks the
released contract (protos/released/)."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

import pytest

from protos.build import PROTOS_DIR, compile_contract

ROOT = PROTOS_DIR.parent
BUF = ROOT / "tests" / "node" / "node_modules" / ".bin" / "buf"
RELEASED = sorted((PROTOS_DIR / "released").glob("*.binpb"))


@pytest.fixture(scope="module")
def fresh_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("protos")
    image = out / "ostinato.binpb"
    compile_contract(out_dir=out, descriptor_set=image)
    return out, image


def test_generated_code_is_up_to_date(fresh_build: tuple[Path, Path]) -> None:
    out, _ = fresh_build
    generated = sorted((out / "ostinato" / "v1").glob("*_pb2*.py*"))
    assert generated, "protoc produced nothing"
    stale = [p.name for p in generated if not filecmp.cmp(p, PROTOS_DIR / "ostinato" / "v1" / p.name, shallow=False)]
    assert not stale, f"run `python -m protos.build`: stale generated files {stale}"


def _buf(*args: str) -> subprocess.CompletedProcess[str]:
    if not BUF.exists():
        pytest.fail("buf is missing: run `npm install` in tests/node (.ci/run does)")
    return subprocess.run([str(BUF), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_buf_lint(fresh_build: tuple[Path, Path]) -> None:
    # note-seq's music.proto has no source in its wheel, so buf reads the compiled image and lints
    # only our files.
    result = _buf("lint", str(fresh_build[1]), "--path", "ostinato/v1", "--config", "buf.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("released", RELEASED, ids=[p.name for p in RELEASED])
def test_no_breaking_change_against_released(fresh_build: tuple[Path, Path], released: Path) -> None:
    result = _buf("breaking", str(fresh_build[1]), "--against", str(released), "--path", "ostinato/v1",
                  "--config", "buf.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
