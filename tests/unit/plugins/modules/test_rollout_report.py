"""rollout_report: the report's content from model_rollout results, and the files the module writes."""

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.report import model, picture
from testground.collection import collections_dir

COMPLETE = {
    "changed": True, "verdict": "complete", "reason": "complete", "message": "rolled out",
    "previous": {"revision": "1", "image": "repo/llm:v1"}, "current": {"revision": "2", "image": "repo/llm:v2"},
    "rolled_back_to": None, "resumed": False,
    "durations": {"change": 0.1, "rollout": 4.0, "total": 4.2},
    "timeline": [{"t": 0.1, "phase": "rollout", "desired": 3, "updated": 1, "ready": 3, "available": 3, "unavailable": 0},
                 {"t": 4.1, "phase": "rollout", "desired": 3, "updated": 3, "ready": 3, "available": 3, "unavailable": 0}],
}
ROLLED_BACK = {
    "failed": True, "changed": True, "verdict": "rolled_back", "reason": "crash_loop",
    "message": "pod llm-1 container server: CrashLoopBackOff", "previous": {"revision": "2", "image": "repo/llm:v2"},
    "current": {"revision": "4", "image": "repo/llm:v2"},
    "rolled_back_to": {"revision": "4", "original_revision": "2", "image": "repo/llm:v2"},
    "durations": {"rollout": 3.0, "rollback": 2.0, "total": 5.1},
    "timeline": [{"t": 0.2, "phase": "rollout", "desired": 3, "updated": 1, "ready": 2},
                 {"t": 3.3, "phase": "rollback", "desired": 3, "updated": 3, "ready": 2},
                 {"t": 5.0, "phase": "rollback", "desired": 3, "updated": 3, "ready": 3}],
}


def entry(cluster, wave, result, started_at=1000.0):
    return {"cluster": cluster, "wave": wave, "started_at": started_at, "target_image": "repo/llm:v2", "result": result}


def test_a_complete_cluster_reads_from_to_verdict_and_timeline():
    r = model.cluster_record(entry("c1", 1, COMPLETE))
    assert r["from"] == {"image": "repo/llm:v1", "revision": "1"}
    assert r["to"] == {"image": "repo/llm:v2", "revision": "2"}
    assert (r["verdict"], r["reason"], r["wave"]) == ("complete", "complete", 1)
    assert [p["updated"] for p in r["timeline"]] == [1, 3]
    assert r["durations"]["total"] == 4.2


def test_clusters_not_reached_are_listed_as_not_started_and_the_outcome_is_failed():
    report = model.build_report([entry("c1", 1, ROLLED_BACK)], run={"run_id": "r1"}, fleet=["c1", "c2", "c3"])
    assert [(r["cluster"], r["verdict"]) for r in report["clusters"]] == [
        ("c1", "rolled_back"), ("c2", "not_started"), ("c3", "not_started")]
    assert report["outcome"] == "failed"
    assert report["failed_clusters"] == [{"cluster": "c1", "verdict": "rolled_back", "reason": "crash_loop",
                                          "message": "pod llm-1 container server: CrashLoopBackOff"}]
    assert report["clusters"][0]["rolled_back_to"]["original_revision"] == "2"


def test_outcome_is_succeeded_only_when_every_cluster_completed():
    ok = [entry("c1", 1, COMPLETE), entry("c2", 2, dict(COMPLETE, verdict="unchanged", changed=False), 1010.0)]
    assert model.build_report(ok)["outcome"] == "succeeded"
    assert model.build_report(ok, fleet=["c1", "c2", "c3"])["outcome"] == "incomplete"
    assert model.build_report([])["outcome"] == "incomplete"


def test_waves_group_clusters_and_start_with_their_first_cluster():
    report = model.build_report([entry("c3", 2, COMPLETE, 1012.0), entry("c2", 2, COMPLETE, 1010.0),
                                 entry("c1", 1, COMPLETE, 1000.0)])
    assert [r["cluster"] for r in report["clusters"]] == ["c1", "c2", "c3"]
    assert report["waves"] == [{"wave": 1, "clusters": ["c1"], "started_at": 1000.0},
                               {"wave": 2, "clusters": ["c2", "c3"], "started_at": 1010.0}]
    assert report["started_at"] == 1000.0


def test_a_failure_before_model_rollout_ran_still_has_a_record():
    r = model.cluster_record(entry("c1", 1, {"failed": True, "msg": "Failed to connect to the API server"}))
    assert (r["verdict"], r["reason"], r["message"]) == ("failed", "error", "Failed to connect to the API server")
    assert r["timeline"] == []


def test_file_names_carry_the_awx_job_so_slices_do_not_collide():
    assert model.file_stem("20260101T000000Z") == "rollout-20260101T000000Z"
    assert model.file_stem("20260101T000000Z", "rollback", {"job_id": 17}) == "rollback-20260101T000000Z-job17"
    assert "/" not in model.file_stem("../x y", "rollout")


def test_summary_names_the_failed_cluster_and_its_reason():
    report = model.build_report([entry("c1", 1, ROLLED_BACK)], fleet=["c1", "c2"])
    lines = model.summary_lines(report)
    assert lines[0].startswith("c1 (wave 1): repo/llm:v2 -> repo/llm:v2: rolled_back (crash_loop): pod llm-1")
    assert lines[1] == "c2 (wave -): not started"


@pytest.mark.skipif(not picture.HAS_MATPLOTLIB, reason="matplotlib not installed")
def test_the_picture_is_a_png_with_one_row_per_cluster(tmp_path):
    report = model.build_report([entry("c1", 1, ROLLED_BACK)], run={"run_id": "r"}, fleet=["c1", "c2"])
    path = str(tmp_path / "r.png")
    assert picture.draw(report, path)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_module_writes_json_and_png(tmp_path):
    """Run the module as Ansible does: JSON arguments on stdin."""
    args = {"ANSIBLE_MODULE_ARGS": {
        "dest": str(tmp_path / "reports"), "run_id": "20260101T000000Z", "image": "repo/llm:v2",
        "waves": [1, 2], "awx": {"job_id": 5}, "fleet": ["c1", "c2", "c3"],
        "clusters": [entry("c1", 1, COMPLETE), entry("c2", 2, ROLLED_BACK, 1010.0)]}}
    proc = subprocess.run([sys.executable, "-m", "ansible_collections.modelops.serving.plugins.modules.rollout_report"],
                          input=json.dumps(args), capture_output=True, text=True, check=False,
                          env=dict(os.environ, PYTHONPATH=collections_dir()))
    result = json.loads(proc.stdout)
    assert result["outcome"] == "failed", proc.stdout + proc.stderr
    assert result["json_path"] == str(tmp_path / "reports" / "rollout-20260101T000000Z-job5.json")
    with open(result["json_path"]) as f:
        written = json.load(f)
    assert written == result["report"]
    assert [c["verdict"] for c in written["clusters"]] == ["complete", "rolled_back", "not_started"]
    if picture.HAS_MATPLOTLIB:
        assert os.path.getsize(result["picture_path"]) > 1000
