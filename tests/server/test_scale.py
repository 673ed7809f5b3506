"""Scale-out on Ray: a two-node cluster inside a loopback-only network namespace, every service through
the normal Python client and the Node client, both Composer replicas serving, one replica killed under
load with no result lost, a finished job fetched again by id (tests/server/scale_scenario.py does the
work inside the namespace; this test checks its findings)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from server.scale.config import DeploymentConfigError, load_config, parse_config
from server.scale.front import replica_lost

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK_ONLY = ROOT.parent / "shared" / "tools" / "loopback-only"


def test_deployment_file_errors_name_the_family_and_field(tmp_path: Path) -> None:
    assert {f.name for f in load_config().families} == {"composer", "renderer", "melody", "accompanist", "arranger"}
    with pytest.raises(DeploymentConfigError, match=r"\[composer\] replicas"):
        parse_config({"composer": {"module": "server.services.composer", "replicas": 0}})
    with pytest.raises(DeploymentConfigError, match=r"\[melody\] unknown field"):
        parse_config({"melody": {"module": "server.services.melody", "gpus": 1}})
    with pytest.raises(DeploymentConfigError, match=r"min_replicas 3 > max_replicas 2"):
        parse_config({"composer": {"module": "server.services.composer",
                                   "autoscaling": {"min_replicas": 3, "max_replicas": 2, "target_ongoing_requests": 2}}})
    bad = tmp_path / "bad.toml"
    bad.write_text("[composer]\nmodule = 'server.services.nothing_here'\n")
    with pytest.raises(DeploymentConfigError, match="cannot be imported"):
        load_config(bad)
    options = parse_config({"composer": {"module": "server.services.composer", "num_gpus": 1,
                                         "autoscaling": {"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 2}}}).families[0].serve_options()
    assert options["autoscaling_config"]["max_replicas"] == 4 and options["ray_actor_options"]["num_gpus"] == 1
    assert "num_replicas" not in options


def test_only_a_lost_replica_is_retried() -> None:
    import grpc

    assert replica_lost(grpc.StatusCode.UNAVAILABLE, "")
    assert replica_lost(grpc.StatusCode.INTERNAL, "ray.exceptions.ActorDiedError: The actor died unexpectedly")
    assert not replica_lost(grpc.StatusCode.INTERNAL, "internal error in Generate: KeyError")
    assert not replica_lost(grpc.StatusCode.INVALID_ARGUMENT, "the actor died")


def test_cluster_up_refuses_outside_a_loopback_only_namespace() -> None:
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install '.[ray]'")
    from server.scale.cluster import ClusterError, only_loopback, up

    if only_loopback():
        pytest.skip("this process already runs in a loopback-only namespace")
    with pytest.raises(ClusterError, match="loopback-only"):
        up(2)


@pytest.fixture(scope="module")
def scenario() -> dict:
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install '.[ray]'")
    if not LOOPBACK_ONLY.exists():
        pytest.skip(f"{LOOPBACK_ONLY} is missing: Ray must run inside a loopback-only namespace")
    if os.geteuid() != 0:
        pytest.skip("loopback-only needs root (unshare --net)")
    if shutil.which("node") is None:
        pytest.fail("node is required for the cross-language check (.ci/run installs it)")
    result = subprocess.run(
        [str(LOOPBACK_ONLY), sys.executable, str(ROOT / "tests" / "server" / "scale_scenario.py")],
        capture_output=True, text=True, timeout=1500, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    findings = json.loads(result.stdout.strip().splitlines()[-1])
    assert "error" not in findings, (findings, result.stderr[-3000:])
    return findings


def test_every_service_answers_through_the_cluster_as_on_one_server(scenario: dict) -> None:
    client = scenario["client"]
    assert client["generate_bars"] == 4
    assert client["describe_pitches"] == [60, 62, 64, 65, 67, 69, 71, 72]
    assert client["describe_bad"]["code"] == "INVALID_ARGUMENT" and "MIDI" in client["describe_bad"]["details"]
    assert client["render_s"] > 1.0
    assert client["melody_sample_rate"] > 0
    assert client["vary_count"] == 2
    assert client["accompany"]["code"] in {"INVALID_ARGUMENT", "UNIMPLEMENTED"}  # bad audio, as on one server


def test_the_node_client_discovers_and_calls_the_cluster(scenario: dict) -> None:
    node = scenario["node"]
    assert "error" not in node, node
    assert {"ostinato.v1.Composer", "ostinato.v1.Renderer", "ostinato.v1.Arranger", "ostinato.v1.Bridge"} <= set(node["services"])
    assert node["reflection"]["pitches"] == [60, 62, 64, 65, 67, 69, 71, 72]
    assert node["badMidi"]["code"] == "INVALID_ARGUMENT"


def test_both_replicas_serve_and_a_killed_one_loses_nothing(scenario: dict) -> None:
    assert len(scenario["replica_tags"]) == 2, scenario["replica_tags"]
    kill = scenario["kill"]
    assert kill["lost"] == 0, kill
    assert kill["ok"] + kill["failed"] == kill["calls"], kill
    assert set(kill["failed_codes"]) <= {"UNAVAILABLE"}, kill  # failed calls say the replica was lost
    assert kill["recovered_s"] is not None, kill


def test_a_deadline_and_a_finished_job(scenario: dict) -> None:
    assert scenario["deadline"]["code"] == "DEADLINE_EXCEEDED"
    jobs = scenario["jobs"]
    assert jobs["first_job"] == "started" and jobs["again_job"] == "replayed"
    assert jobs["same_result"]
