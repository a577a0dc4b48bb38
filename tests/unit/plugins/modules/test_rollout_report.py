"""rollout_report: the report's content from what a fleet run saw, the picture's rows, and the files."""

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.report import model, picture
from testground.collection import collections_dir

T0 = 1767268800.0  # 2026-01-01T12:00:00Z


def identity(at):
    return "rollout 20260101T120000Z c1 2026-01-01T12:00:%06.3fZ" % (at - T0)


def change(verdict="complete", at=T0 + 2.0, **more):
    result = {
        "changed": True, "verdict": verdict, "reason": "complete" if verdict == "complete" else "crash_loop",
        "message": "rolled out" if verdict == "complete" else "pod llm-1 container server: CrashLoopBackOff",
        "previous": {"revision": "1", "image": "repo/llm:v1"}, "current": {"revision": "2", "image": "repo/llm:v2"},
        "rolled_back_to": None, "resumed": False, "diagnostics": [],
        "durations": {"change": 0.1, "rollout": 4.0, "gate": 0.0, "rollback": 0.0, "total": 4.2},
        "timeline": [
            {"t": 0.1, "phase": "rollout", "desired": 3, "updated": 1, "ready": 3, "available": 3, "total": 4},
            {"t": 2.0, "phase": "rollout", "desired": 3, "updated": 1, "ready": 4, "available": 4, "total": 4},
            {"t": 4.1, "phase": "rollout", "desired": 3, "updated": 3, "ready": 3, "available": 3, "total": 3}],
        "lock": {"lease": "modelops-rollout-llm", "holder": identity(at)},
    }
    result.update(more)
    return result


ROLLED_BACK = change(
    "rolled_back", failed=True, current={"revision": "3", "image": "repo/llm:v1"},
    rolled_back_to={"revision": "3", "original_revision": "1", "image": "repo/llm:v1"},
    durations={"change": 0.1, "rollout": 3.0, "gate": 0.0, "rollback": 2.0, "total": 5.2},
    timeline=[{"t": 0.2, "phase": "rollout", "desired": 3, "updated": 2, "ready": 2, "available": 2, "total": 4},
              {"t": 3.2, "phase": "rollback", "desired": 3, "updated": 2, "ready": 2, "available": 2, "total": 4},
              {"t": 5.1, "phase": "rollback", "desired": 3, "updated": 3, "ready": 3, "available": 3, "total": 3}])


def preflight(ok=True, at=T0, reason="ok", message=""):
    return {"ok": ok, "reason": reason, "message": message, "started_at": at, "checked_at": at + 0.5,
            "target_image": "repo/llm:v2", "plan": "change",
            "deployment": {"image": "repo/llm:v1", "revision": "1", "floor": 2, "replicas": {"desired": 3}}}


def entry(cluster, wave, change_result=None, pre=None, **more):
    e = {"cluster": cluster, "wave": wave, "preflight": pre or preflight(), "change": change_result, "wave_failed": []}
    e.update(more)
    return e


def record(report, name):
    return next(r for r in report["clusters"] if r["cluster"] == name)


def test_a_complete_cluster_reads_from_target_verdict_start_and_which_image_served():
    r = model.cluster_record(entry("c1", 1, change()))
    assert (r["verdict"], r["stage"], r["wave"]) == ("complete", "change", 1)
    assert r["from"] == {"image": "repo/llm:v1", "revision": "1"} and r["to"] == {"image": "repo/llm:v2", "revision": "2"}
    assert r["started_at"] == pytest.approx(T0 + 2.0) and r["ended_at"] == pytest.approx(T0 + 6.2)
    assert r["floor"] == 2
    # 4 ready with 1 new pod: the surge pod is ready, and the image before is credited first
    assert [(p["ready_previous"], p["ready_target"]) for p in r["timeline"]] == [(3, 0), (3, 1), (0, 3)]


def test_the_start_of_a_change_comes_from_its_lease_holder_or_its_invocation():
    assert model.change_started_at({"lock": {"holder": identity(T0 + 3.5)}}) == pytest.approx(T0 + 3.5)
    assert model.change_started_at({"invocation": {"module_args": {"lock_identity": identity(T0 + 1)}}}) == \
        pytest.approx(T0 + 1)
    assert model.change_started_at({"lock": {"holder": "someone@else/pid-1/abc"}}) is None


@pytest.mark.parametrize("point, phase, split", [
    ({"updated": 1, "ready": 3, "total": 4}, "rollout", (3, 0)),          # the new pod is not ready yet
    ({"updated": 2, "ready": 3, "total": 4}, "rollout", (2, 1)),
    ({"updated": 1, "ready": 3, "available": 3, "unavailable": 1}, "rollout", (3, 0)),  # no total: available + unavailable
    ({"updated": 1, "ready": 2, "desired": 3}, "rollout", (2, 0)),        # nothing but desired
    ({"updated": 2, "ready": 2, "total": 4}, "rollback", (2, 0)),         # rolling back: updated pods are the old image
    ({"updated": 3, "ready": 4, "total": 4}, "rollback", (3, 1)),
    ({"updated": 3, "ready": 3, "total": 3}, "bake", (0, 3)),
])
def test_ready_pods_are_split_between_the_image_before_and_the_target(point, phase, split):
    assert model.serving_split(point, phase) == split


def test_a_failed_preflight_names_the_cluster_the_stage_and_why_and_refuses_its_wave():
    failed = preflight(ok=False, reason="unreachable", message="cannot reach the Kubernetes API at https://tg2")
    report = model.build_report(
        [entry("c1", 1, change()), entry("c2", 2, {"skipped": True}, pre=failed, wave_failed=["c2"]),
         entry("c3", 2, {"skipped": True}, wave_failed=["c2"])],
        run={"kind": "rollout", "waves": [1, 2, 1], "image": "repo/llm:v2"}, fleet=["c1", "c2", "c3", "c4"])
    assert report["outcome"] == "failed"
    assert report["failed_clusters"] == [{"cluster": "c2", "wave": 2, "stage": "preflight", "verdict": "failed",
                                          "reason": "unreachable",
                                          "message": "cannot reach the Kubernetes API at https://tg2"}]
    c2, c3, c4 = record(report, "c2"), record(report, "c3"), record(report, "c4")
    assert c2["failed_at"] == pytest.approx(T0 + 0.5) and c2["from"]["image"] == "repo/llm:v1"
    assert c2["stop_message"].startswith("c2: preflight failed (unreachable), nothing in this wave was changed")
    assert (c3["verdict"], c3["reason"], c3["wave"]) == ("not_started", "wave_refused", 2)
    assert "the preflight of c2 failed in this wave" in c3["message"] and c3["stop_message"] is None
    assert (c4["verdict"], c4["wave"], c4["planned_wave"]) == ("not_started", None, 3)
    assert c4["message"] == "not started (planned for wave 3): the run stopped when c2 (preflight, unreachable) failed"
    assert [(w["wave"], w["state"]) for w in report["waves"]] == [(1, "done"), (2, "failed"), (3, "not_started")]
    assert report["started_at"] == T0


def test_a_rolled_back_cluster_in_a_wave_with_a_complete_one():
    report = model.build_report([entry("c1", 1, change()), entry("c2", 1, ROLLED_BACK)], run={"waves": ["100%"]},
                                fleet=["c1", "c2"])
    c2 = record(report, "c2")
    assert (c2["verdict"], c2["stage"], c2["reason"]) == ("rolled_back", "change", "crash_loop")
    assert c2["rolled_back_to"]["image"] == "repo/llm:v1"
    assert c2["failed_at"] == pytest.approx(T0 + 2.0 + 3.1)  # change + rollout, before the first rollback point
    assert c2["stop_message"] == ("c2: rollout of repo/llm:v2 ended rolled_back (crash_loop): pod llm-1 container "
                                  "server: CrashLoopBackOff. Rolled back to revision 3 (repo/llm:v1). No later wave "
                                  "starts.")
    assert [(p["ready_previous"], p["ready_target"]) for p in c2["timeline"]] == [(2, 0), (2, 0), (3, 0)]
    assert record(report, "c1")["verdict"] == "complete" and report["waves"][0]["state"] == "failed"


def test_an_unreachable_host_a_failed_bake_and_an_unexpected_error_each_say_where():
    unreachable = {"unreachable": True, "msg": "Failed to connect to the host via ssh", "changed": False}
    bake = {"ok": False, "reason": "bake_image_changed", "message": "serving/llm changed to repo/llm:x",
            "checked_at": T0 + 30, "timeline": [{"t": T0 + 10, "phase": "bake", "desired": 3, "updated": 3,
                                                 "ready": 3, "total": 3}]}
    report = model.build_report([
        entry("c1", 1, change(), bake=bake),
        entry("c2", 1, unreachable),
        entry("c3", 1, None, error={"task": "Change | model_rollout", "message": "boom", "at": T0 + 9}),
    ], run={"waves": ["100%"]})
    c1, c2, c3 = (record(report, n) for n in ("c1", "c2", "c3"))
    assert (c1["stage"], c1["reason"], c1["failed_at"], c1["ended_at"]) == ("bake", "bake_image_changed", T0 + 30, T0 + 30)
    assert c1["bake"]["timeline"][0]["t"] == pytest.approx(8.0) and c1["bake"]["timeline"][0]["ready_target"] == 3
    assert c1["stop_message"].startswith("c1: the bake after its rollout failed (bake_image_changed)")
    assert (c2["stage"], c2["reason"]) == ("change", "unreachable")
    assert "model_rollout did not run on it: Failed to connect" in c2["message"]
    assert (c3["stage"], c3["reason"], c3["failed_at"]) == ("error", "error", T0 + 9)
    assert c3["stop_message"] == "c3: task 'Change | model_rollout' failed: boom. No later wave starts."


def test_outcome_is_succeeded_only_when_every_cluster_completed_and_incomplete_while_waves_remain():
    ok = [entry("c1", 1, change()), entry("c2", 2, dict(change(), verdict="unchanged", changed=False))]
    assert model.build_report(ok)["outcome"] == "succeeded"
    report = model.build_report(ok, run={"waves": [1, 1]}, fleet=["c1", "c2", "c3"])
    assert report["outcome"] == "incomplete"
    assert record(report, "c3")["message"] == (
        "no verdict yet (planned for wave 3): this report was written after wave 2; if the run is no longer going,"
        " it stopped before this cluster's verdict and it may have changed (playbooks/status.yml shows what it serves)")
    nothing_yet = model.build_report([], run={"waves": [1]}, fleet=["c1"])
    assert record(nothing_yet, "c1")["message"] == "not started yet (planned for wave 1)"
    assert model.build_report([])["outcome"] == "incomplete"


def test_per_cluster_images_leave_the_run_without_one_image():
    other = entry("c2", 1, change(), pre=dict(preflight(), target_image="mirror.eu/llm:v2"))
    report = model.build_report([entry("c1", 1, change()), other], run={"kind": "rollout", "image": "repo/llm:v2"})
    assert report["image"] is None
    assert model.headline(report).startswith("rollout of each cluster's own image: succeeded, 2 of 2 clusters done")


def test_file_names_carry_the_awx_job_so_slices_do_not_collide():
    assert model.file_stem("20260101T000000Z") == "rollout-20260101T000000Z"
    assert model.file_stem("20260101T000000Z", "rollback", {"job_id": 17}) == "rollback-20260101T000000Z-job17"
    assert "/" not in model.file_stem("../x y", "rollout")


def test_summary_and_headline_name_the_failed_cluster_its_stage_and_cause():
    run = {"kind": "rollout", "image": "repo/llm:v2", "waves": [1]}
    report = model.build_report([entry("c1", 1, ROLLED_BACK)], run=run, fleet=["c1", "c2"])
    lines = model.summary_lines(report)
    assert lines[0].startswith("c1 (wave 1): repo/llm:v1 -> repo/llm:v2: rolled_back (crash_loop) at change: pod llm-1")
    assert lines[0].endswith("Serving repo/llm:v1 again (revision 3).")
    assert lines[1] == "c2 (wave 2): not started (planned for wave 2): the run stopped when c1 (change, crash_loop) failed"
    assert model.headline(report) == "rollout of repo/llm:v2: failed, 0 of 2 clusters done; c1 failed at change (crash_loop)"


def test_the_picture_rows_show_what_served_the_failure_the_rollback_and_the_planned_waves():
    report = model.build_report([entry("c1", 1, change()), entry("c2", 1, ROLLED_BACK)],
                                run={"kind": "rollout", "waves": [2, 1]}, fleet=["c1", "c2", "c3"])
    plan = picture.rows(report)
    c1, c2, c3 = plan["rows"]
    assert c1["title"] == "c1   wave 1   complete      repo/llm:v1 \u2192 repo/llm:v2" and c1["failure"] is None
    assert c1["top"] == 4, "a ready surge pod is above desired and must fit"
    assert [(p["previous"], p["target"]) for p in c1["points"]] == [(3, 0), (3, 1), (0, 3)]
    assert c2["failure"] == {"x": pytest.approx(5.1), "label": "change: crash_loop"}
    assert c2["rollback"][0] == pytest.approx(2.0 + 3.2)
    assert "serving repo/llm:v1 again (revision 3)" in " ".join(c2["cause"])
    assert (c3["started"], c3["note"], c3["points"]) == (False, "not started (planned for wave 2)", [])
    refused = entry("c4", 2, {"skipped": True}, wave_failed=["c5"])
    assert picture.rows(model.build_report([refused]))["rows"][0]["note"] == (
        "not changed: its wave (2) stopped at the preflight; it still serves repo/llm:v1")
    assert c3["title"].startswith("c3   wave 2   not_started")
    assert [w["wave"] for w in plan["waves"]] == [1]


def test_a_bake_that_saw_another_image_at_once_still_shows_its_span_but_no_split_of_it():
    bake = {"ok": False, "reason": "bake_image_changed", "message": "changed", "checked_at": T0 + 9,
            "timeline": [{"t": T0 + 8, "phase": "bake", "desired": 3, "updated": 1, "ready": 3, "total": 4,
                          "image": "repo/llm:other"}]}
    report = model.build_report([entry("c1", 1, change(), bake=bake)])
    assert report["clusters"][0]["bake"]["timeline"][0]["ready_target"] is None
    row = picture.rows(report)["rows"][0]
    assert row["bake"][0] == pytest.approx(8.0)
    assert [p["x"] for p in row["points"]] == [pytest.approx(2.1), pytest.approx(4.0), pytest.approx(6.1)]
    assert (row["known_until"], row["last_seen"]) == (pytest.approx(8.0), False)


def test_a_preflight_failure_row_says_nothing_changed_and_what_still_serves():
    failed = preflight(ok=False, reason="locked", message="another rollout holds the lock")
    row = picture.rows(model.build_report([entry("c1", 1, {"skipped": True}, pre=failed)]))["rows"][0]
    assert row["note"] == ("preflight failed (locked): nothing on this cluster or in its wave was changed; it still "
                           "serves repo/llm:v1")
    assert row["failure"]["label"] == "preflight: locked" and row["cause"] == ["another rollout holds the lock"]


@pytest.mark.skipif(not picture.HAS_MATPLOTLIB, reason="matplotlib not installed")
def test_the_picture_is_a_png_for_every_kind_of_row(tmp_path):
    failed = preflight(ok=False, reason="locked", message="held")
    report = model.build_report([entry("c1", 1, ROLLED_BACK), entry("c2", 1, {"skipped": True}, pre=failed),
                                 entry("c3", 1, dict(change(), verdict="unchanged", timeline=[]))],
                                run={"run_id": "r", "waves": [3]}, fleet=["c1", "c2", "c3", "c4"])
    path = str(tmp_path / "r.png")
    assert picture.draw(report, path, model.headline(report))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_with_picture_when_final_the_png_waits_for_a_final_outcome(tmp_path):
    from ansible_collections.modelops.serving.plugins.module_utils.report import files

    params = {"dest": str(tmp_path), "run_id": "r1", "kind": "rollout", "waves": [1, 1], "fleet": ["c1", "c2"],
              "picture": True, "picture_when": "final", "artifact": "rollout_report",
              "clusters": [entry("c1", 1, change())]}
    first = files.write(params)
    assert (first["outcome"], first["picture_path"]) == ("incomplete", None)
    assert os.path.exists(first["json_path"])
    assert first["ansible_stats"] == {"data": {"rollout_report": dict(first["report"], json_path=first["json_path"],
                                                                      picture_path=None)},
                                      "per_host": False, "aggregate": False}
    last = files.write(dict(params, clusters=params["clusters"] + [entry("c2", 2, change())]))
    assert last["outcome"] == "succeeded"
    if picture.HAS_MATPLOTLIB:
        assert last["picture_path"] and os.path.exists(last["picture_path"])


def test_the_module_writes_json_and_png(tmp_path):
    """Run the module as Ansible does: JSON arguments on stdin."""
    args = {"ANSIBLE_MODULE_ARGS": {
        "dest": str(tmp_path / "reports"), "run_id": "20260101T000000Z", "image": "repo/llm:v2",
        "waves": [1, 2], "awx": {"job_id": 5}, "fleet": ["c1", "c2", "c3"],
        "clusters": [entry("c1", 1, change()), entry("c2", 2, ROLLED_BACK)]}}
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


def endpoint_change(verdict="complete", at=T0 + 10.0, **more):
    """sagemaker_endpoint_rollout's result as the fleet registers it, started at ``at`` (its provenance tag)."""
    result = {
        "changed": True, "verdict": verdict, "reason": "complete" if verdict == "complete" else "rollback_alarm",
        "message": "in service" if verdict == "complete" else "auto-rollback alarm llm-a-5xx went to ALARM",
        "previous": {"revision": "llm-a-v1", "image": "repo/llm:v1"},
        "current": {"revision": "llm-a-c-2" if verdict == "complete" else "llm-a-v1",
                    "image": "repo/llm:v2" if verdict == "complete" else "repo/llm:v1"},
        "rolled_back_to": None if verdict == "complete" else {"revision": "llm-a-v1", "image": "repo/llm:v1"},
        "diagnostics": [], "failed": verdict != "complete",
        "durations": {"change": 0.2, "rollout": 5.0, "gate": 0.0, "rollback": 0.0, "total": 5.3},
        "timeline": [
            {"t": 0.3, "phase": "rollout", "status": "Updating", "desired": 2, "updated": 0, "ready": 0, "available": 2},
            {"t": 2.0, "phase": "rollout", "status": "Updating", "desired": 2, "updated": 2, "ready": 2, "available": 2},
            {"t": 5.2, "phase": "rollout", "status": "InService", "desired": 2, "updated": 2, "ready": 2,
             "available": 2} if verdict == "complete" else
            {"t": 5.2, "phase": "rollout", "status": "InService", "desired": 2, "updated": 0, "ready": 0,
             "available": 2}],
        "invocation": {"module_args": {"tags": {
            model.FLEET_RUN_TAG: "rollout 20260101T120000Z sm1 2026-01-01T12:00:%06.3fZ" % (at - T0)}}},
    }
    result.update(more)
    return result


def endpoint_entry(host, wave, change_result=None, pre=None, **more):
    e = {"cluster": host, "wave": wave, "platform": "sagemaker", "recorded_at": T0 + 20,
         "endpoint": {"name": "llm-a", "region": "us-east-1", "image": "repo/llm:v2", "instances": "2"},
         "preflight": pre if pre is not None else {
             "changed": True, "verdict": "pending", "reason": "check_mode",
             "previous": {"revision": "llm-a-v1", "image": "repo/llm:v1"},
             "current": {"revision": "llm-a-c-2", "image": "repo/llm:v2"}},
         "change": change_result, "wave_failed": []}
    e.update(more)
    return e


def test_an_endpoint_reads_like_a_cluster_with_instances_of_the_old_fleet_beside_the_new():
    report = model.build_report([entry("tg1", 1, change()), endpoint_entry("sm1", 2, endpoint_change())],
                                run={"run_id": "r", "waves": [1, "100%"], "image": "repo/llm:v2"},
                                fleet=["tg1", "sm1"])
    r = record(report, "sm1")
    assert (r["platform"], r["verdict"], r["stage"], r["started_at"]) == ("sagemaker", "complete", "change", T0 + 10.0)
    assert r["endpoint"] == {"name": "llm-a", "region": "us-east-1"} and r["desired"] == 2
    assert r["from"] == {"image": "repo/llm:v1", "revision": "llm-a-v1"} and r["to"]["revision"] == "llm-a-c-2"
    # blue/green: while updating the old fleet serves all, the new one bakes beside it; then only the new
    assert [(p["ready_previous"], p["ready_target"]) for p in r["timeline"]] == [(2, 0), (2, 2), (0, 2)]
    assert record(report, "tg1")["platform"] == "kubernetes" and record(report, "tg1")["endpoint"] is None
    assert report["outcome"] == "succeeded"
    assert model.headline(report) == "rollout of repo/llm:v2: succeeded, 2 of 2 clusters and endpoints done"
    rows = picture_rows_of(report)
    assert rows["sm1"]["unit"] == "instances" and rows["tg1"]["unit"] == "pods"
    assert rows["sm1"]["title"].startswith("sm1 (SageMaker endpoint llm-a us-east-1)   wave 2   complete")


def picture_rows_of(report):
    return dict((r["cluster"], r) for r in picture.rows(report)["rows"])


def test_an_endpoint_rolled_back_by_sagemaker_stops_the_fleet_and_unseen_endpoints_are_still_endpoints():
    report = model.build_report([endpoint_entry("sm1", 1, endpoint_change("rolled_back"))],
                                run={"run_id": "r", "waves": [1, "100%"]}, fleet=["sm1", "tg1", "sm2"],
                                endpoints={"sm1": "llm-a", "sm2": "llm-b"})
    r = record(report, "sm1")
    assert (r["verdict"], r["reason"], r["failed_at"]) == ("rolled_back", "rollback_alarm", T0 + 10.0 + 5.2)
    assert r["timeline"][-1]["ready_previous"] == 2 and r["timeline"][-1]["ready_target"] == 0
    assert r["stop_message"] == (
        "sm1: rollout of repo/llm:v2 ended rolled_back (rollback_alarm): auto-rollback alarm llm-a-5xx went to ALARM."
        " Rolled back to revision llm-a-v1 (repo/llm:v1). No later wave starts.")
    sm2 = record(report, "sm2")
    assert (sm2["platform"], sm2["endpoint"], sm2["verdict"], sm2["planned_wave"]) == (
        "sagemaker", {"name": "llm-b", "region": None}, "not_started", 2)
    assert record(report, "tg1")["platform"] == "kubernetes"
    assert report["outcome"] == "failed"


def test_an_endpoint_whose_check_mode_run_refuses_fails_its_preflight_and_its_wave_changes_nothing():
    refused = {"failed": True, "verdict": "failed", "reason": "invalid_input",
               "message": "rollback alarm no-such-alarm does not exist", "previous": {"revision": None, "image": None},
               "current": {"revision": None, "image": None}}
    spec_error = {"failed": True, "msg": "missing required arguments: variants"}
    report = model.build_report([
        endpoint_entry("sm1", 1, {"skipped": True}, pre=refused, wave_failed=["sm1", "sm2"]),
        endpoint_entry("sm2", 1, {"skipped": True}, pre=spec_error, wave_failed=["sm1", "sm2"]),
        entry("tg1", 1, {"skipped": True}, wave_failed=["sm1", "sm2"])], run={"run_id": "r", "waves": [3]})
    sm1, sm2, tg1 = record(report, "sm1"), record(report, "sm2"), record(report, "tg1")
    assert (sm1["stage"], sm1["reason"], sm1["failed_at"]) == ("preflight", "invalid_input", T0 + 20)
    assert sm1["target_image"] == "repo/llm:v2" and "no-such-alarm" in sm1["message"]
    assert (sm2["reason"], sm2["message"]) == ("invalid_input", "missing required arguments: variants")
    assert (tg1["verdict"], tg1["reason"]) == ("not_started", "wave_refused")
    assert picture_rows_of(report)["sm1"]["note"].startswith("preflight failed (invalid_input): nothing on this endpoint")
    # an endpoint with nothing to do, or another's update it will wait for, passes
    for verdict in ("unchanged", "pending"):
        assert model.endpoint_preflight({"verdict": verdict, "previous": {}})["ok"]


def test_a_skipped_endpoint_neither_fails_the_run_nor_counts_as_done(tmp_path):
    skipped = {"reason": "not_supported", "message": "a SageMaker endpoint: rollback.yml rolls back clusters only"}
    report = model.build_report([entry("tg1", 1, change()), endpoint_entry("sm1", 1, None, skipped=skipped)],
                                run={"run_id": "r", "kind": "rollback", "waves": ["100%"]}, fleet=["tg1", "sm1"])
    sm1 = record(report, "sm1")
    assert (sm1["verdict"], sm1["reason"], sm1["stop_message"]) == ("skipped", "not_supported", None)
    assert report["outcome"] == "succeeded" and report["failed_clusters"] == [] and report["waves"][0]["state"] == "done"
    assert model.headline(report).endswith("1 of 1 clusters and endpoints done, 1 skipped (sm1)")
    assert "sm1 (wave 1): a SageMaker endpoint: rollback.yml rolls back clusters only" in model.summary_lines(report)
    row = picture_rows_of(report)["sm1"]
    assert (row["started"], row["failure"], row["points"]) == (False, None, [])
    assert row["note"].startswith("a SageMaker endpoint")
    assert picture.draw(report, str(tmp_path / "r.png"), model.headline(report))
