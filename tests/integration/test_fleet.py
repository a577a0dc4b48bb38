"""Fleet rollouts as operators run them: playbooks/rollout.yml, rollback.yml and status.yml on
inventory/testground.yml (three clusters, waves wave_1 = tg1 and wave_2 = tg2, tg3), with limits, and
every failure path's report and picture data checked against what the clusters hold.

Each test gets its own namespace on every cluster of one fleet started for this module.
"""

import json
import os
import signal
import time
import uuid

import pytest

from tests.helpers.kube import wait_for
from tests.integration.fleet_site import (
    CLUSTERS,
    PREFIX,
    PlaybookProcess,
    Site,
    env_for,
    picture_rows,
    recap,
    run_playbook,
    start_fleet,
)


@pytest.fixture(scope="module")
def fleet():
    f = start_fleet()
    yield f
    f.stop()


def assert_recap_failed(out, failed, passed=()):
    counts = recap(out)
    for host in failed:
        assert counts[host]["failed"] == 1, (host, counts)
    for host in passed:
        assert counts[host]["failed"] == 0, (host, counts)


def test_waves_reach_the_new_image_and_the_report_agrees(fleet):
    site = Site(fleet)
    rc, out = run_playbook(fleet, "rollout.yml", site.extravars(model_server_image="repo/llm:v2"))
    assert rc == 0, out
    for c in CLUSTERS:
        assert site.complete(c, "repo/llm:v2"), c
    report = site.report()
    assert os.path.getsize(report["path"][:-5] + ".png") > 10000
    assert report["outcome"] == "succeeded" and report["failed_clusters"] == []
    assert [(w["wave"], w["clusters"], w["state"]) for w in report["waves"]] == [
        (1, ["tg1"], "done"), (2, ["tg2", "tg3"], "done")]
    for c in CLUSTERS:
        r = report["by_cluster"][c]
        d = site.deployment(c)
        assert (r["verdict"], r["stage"], r["from"]["image"]) == ("complete", "change", "repo/llm:v1")
        assert r["to"] == {"image": d.spec.template.spec.containers[0].image,
                           "revision": d.metadata.annotations["deployment.kubernetes.io/revision"]}
        last = r["timeline"][-1]
        assert last["updated"] == last["ready"] == last["ready_target"] == 3 and last["ready_previous"] == 0
        assert r["timeline"][0]["ready_target"] == 0 and r["floor"] == 2
    # wave 2 started after wave 1 ended, and the picture puts it there
    assert report["by_cluster"]["tg2"]["started_at"] >= report["by_cluster"]["tg1"]["ended_at"]
    rows = picture_rows(report)
    assert rows["tg2"]["points"][0]["x"] > rows["tg1"]["known_until"]
    assert "report: " + report["path"] in out and "rollout of repo/llm:v2: succeeded, 3 of 3 clusters done" in out

    rc, out = run_playbook(fleet, "status.yml", site.extravars())
    assert rc == 0, out
    for c in CLUSTERS:
        assert "%s  repo/llm:v2  2  complete" % c in out


@pytest.mark.parametrize("args, target, selected", [
    (["--limit", "tg2"], None, ["tg2"]),
    (["--limit", "wave_2"], None, ["tg2", "tg3"]),
    (["--limit", "!wave_1"], None, ["tg2", "tg3"]),
    ([], "wave_2", ["tg2", "tg3"]),
    (["--limit", "tg1:localhost"], None, ["tg1"]),
], ids=["one-cluster", "wave_2", "not-wave_1", "rollout_target", "with-localhost"])
def test_any_limit_or_target_rolls_exactly_those_clusters_and_reports_them(fleet, args, target, selected):
    site = Site(fleet)
    before = site.versions()
    extravars = site.extravars(model_server_image="repo/llm:v2", rollout_waves=[1, "100%"])
    if target:
        extravars["rollout_target"] = target
    rc, out = run_playbook(fleet, "rollout.yml", extravars, args)
    assert rc == 0, out
    for c in CLUSTERS:
        if c in selected:
            assert site.complete(c, "repo/llm:v2"), c
        else:
            assert site.deployment(c).metadata.resource_version == before[c], "%s was touched" % c
    report = site.report()
    assert [(r["cluster"], r["verdict"]) for r in report["clusters"]] == [(c, "complete") for c in selected]
    assert [w["clusters"] for w in report["waves"]] == [selected[:1]] + ([selected[1:]] if selected[1:] else [])


def test_a_wave_wider_than_forks_says_so_and_the_report_shows_when_each_cluster_really_changed(fleet):
    site = Site(fleet, ready_delay="2s")
    rc, out = run_playbook(fleet, "rollout.yml", site.extravars(model_server_image="repo/llm:v2",
                                                                rollout_waves=["100%"]), ["--forks", "1"])
    assert rc == 0, out
    assert "3 clusters in this wave and forks is 1: at most 1 roll at once" in out
    by = site.report()["by_cluster"]
    starts = sorted((by[c]["started_at"], by[c]["ended_at"]) for c in CLUSTERS)
    # one fork: each cluster's change began after the one before it had ended
    assert starts[1][0] >= starts[0][1] and starts[2][0] >= starts[1][1], starts


def test_rollback_and_status_with_a_limit_touch_and_show_only_those_clusters(fleet):
    site = Site(fleet)
    rc, out = run_playbook(fleet, "rollout.yml", site.extravars(model_server_image="repo/llm:v2"))
    assert rc == 0, out
    before = site.versions()
    rc, out = run_playbook(fleet, "rollback.yml", site.extravars(), ["--limit", "tg2"])
    assert rc == 0, out
    assert site.complete("tg2", "repo/llm:v1")
    assert [site.deployment(c).metadata.resource_version for c in ("tg1", "tg3")] == [before["tg1"], before["tg3"]]
    back = site.report("rollback")
    assert [(r["cluster"], r["verdict"], r["target_image"]) for r in back["clusters"]] == [
        ("tg2", "complete", "repo/llm:v1")]
    rc, out = run_playbook(fleet, "status.yml", site.extravars(), ["--limit", "wave_2"])
    assert rc == 0, out
    assert "tg2  repo/llm:v1  3  complete" in out and "tg3  repo/llm:v2  2  complete" in out
    assert "tg1  " not in out


def test_rollback_and_status_with_an_excluding_limit_or_a_target_touch_and_show_only_those_clusters(fleet):
    site = Site(fleet)
    rc, out = run_playbook(fleet, "rollout.yml", site.extravars(model_server_image="repo/llm:v2"))
    assert rc == 0, out

    before = site.versions()
    rc, out = run_playbook(fleet, "rollback.yml", site.extravars(), ["--limit", "!wave_1"])
    assert rc == 0, out
    assert site.complete("tg2", "repo/llm:v1") and site.complete("tg3", "repo/llm:v1")
    assert site.deployment("tg1").metadata.resource_version == before["tg1"], "tg1 was touched"
    assert [(r["cluster"], r["verdict"]) for r in site.report("rollback")["clusters"]] == [
        ("tg2", "complete"), ("tg3", "complete")]

    rc, out = run_playbook(fleet, "status.yml", site.extravars(rollout_target="wave_1"))
    assert rc == 0, out
    assert "tg1  repo/llm:v2  2  complete" in out and "tg2  " not in out and "tg3  " not in out
    rc, out = run_playbook(fleet, "status.yml", site.extravars(), ["--limit", "!wave_1"])
    assert rc == 0, out
    assert "tg2  repo/llm:v1  3  complete" in out and "tg3  repo/llm:v1  3  complete" in out and "tg1  " not in out

    before = site.versions()
    rc, out = run_playbook(fleet, "rollback.yml", site.extravars(rollout_target="wave_1"))
    assert rc == 0, out
    assert site.complete("tg1", "repo/llm:v1")
    assert [site.deployment(c).metadata.resource_version for c in ("tg2", "tg3")] == [before["tg2"], before["tg3"]]
    [_first, second] = site.reports("rollback")
    with open(second) as f:
        assert [(r["cluster"], r["target_image"], r["verdict"]) for r in json.load(f)["clusters"]] == [
            ("tg1", "repo/llm:v1", "complete")]


def test_a_target_that_the_limit_leaves_empty_fails_before_anything(fleet):
    site = Site(fleet)
    before = site.versions()
    rc, out = run_playbook(fleet, "rollout.yml", site.extravars(model_server_image="repo/llm:v2",
                                                                rollout_target="wave_2"), ["--limit", "tg1"])
    assert rc != 0
    assert "rollout_target 'wave_2' matches no host of the inventory that the limit tg1 leaves" in out, out
    assert site.versions() == before and site.reports() == []


def test_failing_canary_is_rolled_back_and_stops_the_fleet(fleet):
    site = Site(fleet)
    before = site.versions()
    rc, out = run_playbook(fleet, "rollout.yml", site.extravars(model_server_image="repo/llm:crash"))
    assert rc == 2
    assert "tg1: rollout of repo/llm:crash ended rolled_back (crash_loop)" in out and "No later wave starts." in out
    assert "[tg2" not in out and "[tg3" not in out, "a later wave ran a task"
    assert_recap_failed(out, ["tg1"])
    assert site.complete("tg1", "repo/llm:v1")
    for c in ("tg2", "tg3"):
        assert site.deployment(c).metadata.resource_version == before[c], "%s was touched" % c
    report = site.report()
    assert report["outcome"] == "failed"
    assert [(f["cluster"], f["stage"], f["reason"]) for f in report["failed_clusters"]] == [
        ("tg1", "change", "crash_loop")]
    tg1 = report["by_cluster"]["tg1"]
    assert tg1["rolled_back_to"]["image"] == "repo/llm:v1" and tg1["verdict"] == "rolled_back"
    # the crashing pods never served: no ready pod of the new image at any moment
    assert max(p["ready_target"] for p in tg1["timeline"]) == 0
    assert any(p["phase"] == "rollback" for p in tg1["timeline"])
    for c in ("tg2", "tg3"):
        r = report["by_cluster"][c]
        assert (r["verdict"], r["wave"], r["planned_wave"]) == ("not_started", None, 2)
        assert r["message"] == "not started (planned for wave 2): the run stopped when tg1 (change, crash_loop) failed"
    rows = picture_rows(report)
    assert rows["tg1"]["failure"]["label"] == "change: crash_loop" and rows["tg1"]["rollback"]
    assert "serving repo/llm:v1 again" in " ".join(rows["tg1"]["cause"])
    assert rows["tg3"]["note"] == "not started (planned for wave 2)" and rows["tg3"]["title"].startswith("tg3   wave 2")


def test_a_failed_preflight_in_a_wave_of_several_names_the_cluster_and_changes_nothing_in_it(fleet):
    site = Site(fleet)
    down = fleet[PREFIX + "tg2"]
    tg3_before = site.deployment("tg3").metadata.resource_version
    down.kill_apiserver()
    try:
        rc, out = run_playbook(fleet, "rollout.yml", site.extravars(model_server_image="repo/llm:v2"))
    finally:
        down.start_apiserver()
        down.wait_apiserver()
    assert rc == 2, out
    assert "tg2: preflight failed (unreachable), nothing in this wave was changed and no later wave starts" in out, out
    assert "Report: " + site.reports()[0] in out
    assert_recap_failed(out, ["tg2"], passed=["tg1", "tg3"])
    assert site.complete("tg1", "repo/llm:v2")
    assert site.deployment("tg3").metadata.resource_version == tg3_before, "tg3 was changed"
    report = site.report()
    tg2, tg3 = report["by_cluster"]["tg2"], report["by_cluster"]["tg3"]
    assert (report["outcome"], tg2["verdict"], tg2["stage"], tg2["reason"], tg2["wave"]) == (
        "failed", "failed", "preflight", "unreachable", 2)
    assert "cannot reach the Kubernetes API" in tg2["message"] and tg2["failed_at"] is not None
    assert (tg3["verdict"], tg3["reason"], tg3["wave"]) == ("not_started", "wave_refused", 2)
    assert "the preflight of tg2 failed in this wave" in tg3["message"]
    assert report["by_cluster"]["tg1"]["verdict"] == "complete"
    rows = picture_rows(report)
    assert rows["tg2"]["note"].startswith("preflight failed (unreachable): nothing on this cluster or in its wave")
    assert rows["tg2"]["failure"]["label"] == "preflight: unreachable"


def test_a_failure_inside_a_multi_cluster_wave_stops_the_run_after_the_others_finish(fleet):
    site = Site(fleet)
    # tg2 pulls from its own registry (a host variable) and gets a crashing build; tg3 the good one.
    inventory = site.inventory({"tg1": {"model_server_image": "repo/llm:v2"},
                                "tg2": {"model_server_image": "repo/llm:crash"},
                                "tg3": {"model_server_image": "repo/llm:v2"}})
    extravars = site.extravars(rollout_waves=[1, 2])
    rc, out = run_playbook(fleet, "rollout.yml", extravars, inventory=inventory)
    assert rc == 2, out
    assert_recap_failed(out, ["tg2"], passed=["tg1", "tg3"])
    assert "tg2: rollout of repo/llm:crash ended rolled_back (crash_loop)" in out
    assert site.complete("tg2", "repo/llm:v1") and site.complete("tg3", "repo/llm:v2")
    report = site.report()
    assert report["image"] is None, "each cluster had its own image"
    assert [(w["wave"], w["state"]) for w in report["waves"]] == [(1, "done"), (2, "failed")]
    tg2, tg3 = report["by_cluster"]["tg2"], report["by_cluster"]["tg3"]
    assert (tg2["verdict"], tg2["target_image"], tg2["rolled_back_to"]["image"]) == (
        "rolled_back", "repo/llm:crash", "repo/llm:v1")
    assert (tg3["verdict"], tg3["target_image"]) == ("complete", "repo/llm:v2")
    assert max(p["ready_target"] for p in tg2["timeline"]) == 0
    assert rows_title(report, "tg2") == "tg2   wave 2   rolled_back at change: crash_loop      repo/llm:v1 \u2192 repo/llm:crash"

    # A rollback now leaves tg2 where model_rollout put it: the crashing revision never served.
    tg2_before = site.deployment("tg2").metadata.resource_version
    rc, out = run_playbook(fleet, "rollback.yml", site.extravars(), ["--limit", "tg2"], inventory=inventory)
    assert rc == 0, out
    assert site.deployment("tg2").metadata.resource_version == tg2_before
    assert site.report("rollback")["by_cluster"]["tg2"]["verdict"] == "unchanged"


def rows_title(report, cluster):
    return picture_rows(report)[cluster]["title"]


def test_a_cluster_that_stops_serving_during_the_bake_fails_there_and_stops_the_run(fleet):
    site = Site(fleet)
    run = PlaybookProcess(fleet, "rollout.yml", site.extravars(model_server_image="repo/llm:v2",
                                                               rollout_bake_seconds=600))
    # The bake holds the run open for ten minutes; another hand changes tg1 while it watches.
    wait_for(lambda: "TASK [modelops.serving.fleet : Bake" in run.output or run.proc.poll() is not None, 300,
             "the bake to start")
    assert run.proc.poll() is None, run.output
    site.set_image("tg1", "repo/llm:other")
    rc, out = run.wait(120)
    assert rc == 2, out
    assert "tg1: the bake after its rollout failed (bake_image_changed)" in out
    assert_recap_failed(out, ["tg1"])
    report = site.report()
    tg1 = report["by_cluster"]["tg1"]
    assert (tg1["verdict"], tg1["stage"], tg1["reason"]) == ("failed", "bake", "bake_image_changed")
    assert "repo/llm:other" in tg1["message"] and tg1["bake"]["timeline"]
    assert tg1["failed_at"] >= tg1["started_at"] + tg1["durations"]["total"]
    assert [report["by_cluster"][c]["verdict"] for c in ("tg2", "tg3")] == ["not_started", "not_started"]
    rows = picture_rows(report)
    assert rows["tg1"]["bake"] and rows["tg1"]["failure"]["label"] == "bake: bake_image_changed"


def test_an_unreachable_cluster_host_is_reported_failed_where_it_failed(fleet):
    site = Site(fleet)
    # tg2's tasks go through a jump host that is down (nothing listens on this loopback port).
    from testground.process import free_port

    inventory = site.inventory({"tg2": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1",
                                        "ansible_port": free_port(), "ansible_ssh_timeout": 5}})
    before = site.deployment("tg2").metadata.resource_version
    rc, out = run_playbook(fleet, "rollout.yml", site.extravars(model_server_image="repo/llm:v2",
                                                                rollout_waves=["100%"]), inventory=inventory)
    assert rc == 2, out
    assert_recap_failed(out, ["tg2"], passed=["tg1", "tg3"])
    assert "tg2: rollout of repo/llm:v2 ended failed (unreachable)" in out
    assert site.deployment("tg2").metadata.resource_version == before
    assert site.complete("tg1", "repo/llm:v2") and site.complete("tg3", "repo/llm:v2")
    tg2 = site.report()["by_cluster"]["tg2"]
    assert (tg2["verdict"], tg2["stage"], tg2["reason"]) == ("failed", "change", "unreachable")
    assert "model_rollout did not run on it" in tg2["message"]


def test_killed_mid_wave_then_rerun_converges_without_a_double_rollout(fleet):
    site = Site(fleet, ready_delay="3s")
    extravars = site.extravars(model_server_image="repo/llm:v2", rollout_lock_ttl_seconds=10)
    run = PlaybookProcess(fleet, "rollout.yml", extravars)
    wait_for(lambda: site.image("tg2") == "repo/llm:v2" or run.proc.poll() is not None, 240, "wave 2 to start")
    assert run.proc.poll() is None, run.output
    os.killpg(run.proc.pid, signal.SIGKILL)
    run.wait(30)
    assert not site.complete("tg2", "repo/llm:v2"), "killed too late to test a resume"
    # The killed run's report, last written after wave 1, does not claim tg2 is untouched.
    [killed] = site.reports()
    with open(killed) as f:
        tg2 = dict((r["cluster"], r) for r in json.load(f)["clusters"])["tg2"]
    assert tg2["verdict"] == "not_started" and tg2["message"].startswith(
        "no verdict yet (planned for wave 2): this report was written after wave 1;"), tg2["message"]

    rc, out = run_playbook(fleet, "rollout.yml", extravars)
    assert rc == 0, out
    for c in CLUSTERS:
        assert site.complete(c, "repo/llm:v2"), c
        # one ReplicaSet per image: the rerun resumed the rollout instead of starting another
        assert sorted(rs.spec.template.spec.containers[0].image for rs in site.replicasets(c)) == \
            ["repo/llm:v1", "repo/llm:v2"], c
        assert site.deployment(c).metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    with open(site.reports()[-1]) as f:
        rerun = dict((r["cluster"], r) for r in json.load(f)["clusters"])
    assert rerun["tg1"]["verdict"] == "unchanged"
    assert rerun["tg2"]["resumed"] or rerun["tg2"]["verdict"] == "unchanged"


@pytest.mark.parametrize("bad, message", [
    ({"rollout_waves": [1, "two"]}, "Wave sizes"),
    ({"rollout_waves": "1, 150%"}, "Wave sizes"),
    ({"model_server_image": ""}, "is empty or contains spaces"),
    ({"model_server_on_failure": "retry"}, "model_server_on_failure"),
    ({"rollout_bake_seconds": "soon"}, "rollout_bake_seconds"),
])
def test_a_wrong_survey_value_fails_before_any_cluster_is_touched(fleet, bad, message):
    site = Site(fleet)
    before = site.versions()
    extravars = site.extravars(model_server_image="repo/llm:v2")
    extravars.update(bad)
    started = time.monotonic()
    rc, out = run_playbook(fleet, "rollout.yml", extravars)
    print("rejected in %.1fs" % (time.monotonic() - started))
    assert rc != 0 and message in out, out
    assert "Preflight |" not in out and "Change |" not in out
    assert site.versions() == before
    assert site.reports() == []


def test_rollback_playbook_returns_every_cluster_to_its_previous_image(fleet):
    site = Site(fleet)
    rc, out = run_playbook(fleet, "rollout.yml", site.extravars(model_server_image="repo/llm:v2"))
    assert rc == 0, out
    rc, out = run_playbook(fleet, "rollback.yml", site.extravars())
    assert rc == 0, out
    for c in CLUSTERS:
        assert site.complete(c, "repo/llm:v1"), c
    report = site.report("rollback")
    assert [(r["from"]["image"], r["target_image"], r["verdict"]) for r in report["clusters"]] == [
        ("repo/llm:v2", "repo/llm:v1", "complete")] * 3


def test_a_bearer_token_never_shows_in_verbose_output(fleet):
    site = Site(fleet)
    token = "tg-secret-" + uuid.uuid4().hex
    rc, out = run_playbook(fleet, "status.yml", site.extravars(), args=["-vvv"],
                           env=env_for(fleet, K8S_AUTH_API_KEY=token))
    assert "Status | read every cluster" in out
    assert token not in out and token[10:] not in out
    # The same token as a host variable reaches fleet_check and model_rollout as an option (the apiserver
    # takes the kubeconfig's client certificate first, so the runs go through).
    inventory = site.inventory({"tg1": {"model_server_api_key": token}})
    for name, extravars in (("status.yml", site.extravars()),
                            ("rollout.yml", site.extravars(model_server_image="repo/llm:v2", rollout_waves=["100%"]))):
        rc, out = run_playbook(fleet, name, extravars, args=["-vvv"], inventory=inventory)
        assert rc == 0, out
        assert token not in out and token[10:] not in out, name
    # model_rollout got it, as its no_log option: -vvv shows the option masked
    assert '"api_key": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in out
    for path in site.reports():
        with open(path) as f:
            assert token not in f.read()
