"""A client in another language: Node.js with @grpc/grpc-js discovers the server by reflection and
calls it, and also loads the shipped descriptor set (protos/ostinato.binpb)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import make_midi

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "node"


@pytest.fixture(scope="module")
def node_modules() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are required for the cross-language test (.ci/run installs them)")
    modules = NODE_DIR / "node_modules"
    if not (modules / "@grpc" / "grpc-js").exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=600)
    return modules


def test_node_client_discovers_and_calls(node_modules: Path, server_address: str, tmp_path: Path) -> None:
    midi_path = tmp_path / "tune.mid"
    midi_path.write_bytes(make_midi(tempo_bpm=100.0))
    result = subprocess.run(
        ["node", str(NODE_DIR / "client.js"), server_address, str(midi_path), str(ROOT / "protos" / "ostinato.binpb")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    findings = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"ostinato.v1.Composer", "ostinato.v1.Renderer", "ostinato.v1.MelodyGenerator",
            "ostinato.v1.Accompanist", "ostinato.v1.Bridge"} <= set(findings["services"])
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    assert findings["reflection"]["pitches"] == scale
    assert findings["descriptorSet"]["pitches"] == scale
    assert findings["descriptorSet"]["qpm"] == pytest.approx(100.0)
    assert findings["badMidi"]["code"] == "INVALID_ARGUMENT"
    assert "MIDI" in findings["badMidi"]["details"]
