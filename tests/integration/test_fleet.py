"""Fleet rollouts as users run them: playbooks/rollout.yml on inventory/testground.yml, three clusters.

Each test gets its own namespace on every cluster of one fleet started for this module.
"""

import glob
import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from tests.integration.conftest import wait_for
from tests.integration.fleet_site import CLUSTERS, INVENTORY, PREFIX, Site
from testground.cluster import Fleet
from testground.collection import REPO_ROOT, ansible_env


def playbook(name):
    return os.path.join(REPO_ROOT, "playbooks", name)


@pytest.fixture(scope="module")
def fleet():
    f = Fleet([PREFIX + c for c in CLUSTERS], cpu_nodes=1, gpu_nodes=0)
    f.start()
    yield f
    f.stop()


def env_for(fleet, **extra):
    env = ansible_env()
    env.update({"TESTGROUND_KUBECONFIG": fleet.kubeconfig, "TESTGROUND_CONTEXT_PREFIX": PREFIX,
                "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"})
    env.update(extra)
    return env


def start_playbook(fleet, name, extravars, args=(), env=None):
    cmd = ["ansible-playbook", "-i", INVENTORY, playbook(name), "-e", json.dumps(extravars)] + list(args)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env or env_for(fleet), start_new_session=True)


def run_playbook(fleet, name, extravars, args=(), env=None, timeout=600):
    proc = start_playbook(fleet, name, extravars, args, env)
    out, _unused = proc.communicate(timeout=timeout)
    return proc.returncode, out


def test_waves_reach_the_new_image_and_the_report_agrees(fleet):
    site = Site(fleet)
    rc, out = run_playbook(fleet, "rollout.yml", site.extravars(model_server_image="repo/llm:v2"))
    assert rc == 0, out
    for c in CLUSTERS:
        assert site.complete(c, "repo/llm:v2"), c
    [path] = site.reports()
    assert os.path.getsize(path[:-5] + ".png") > 10000
    with open(path) as f:
        report = json.load(f)
    assert report["outcome"] == "succeeded"
    by_cluster = {r["cluster"]: r for r in report["clusters"]}
    assert set(by_cluster) == set(CLUSTERS)
    assert [w["clusters"] for w in report["waves"]] == [["tg1"], ["tg2", "tg3"]]
    for c in CLUSTERS:
        r = by_cluster[c]
        d = site.deployment(c)
        assert r["verdict"] == "complete"
        assert r["from"]["image"] == "repo/llm:v1"
        assert r["to"] == {"image": d.spec.template.spec.containers[0].image,
                           "revision": d.metadata.annotations["deployment.kubernetes.io/revision"]}
        assert r["timeline"][-1]["updated"] == r["timeline"][-1]["ready"] == 3
    # wave 2 started after wave 1 ended
    assert by_cluster["tg2"]["started_at"] >= by_cluster["tg1"]["started_at"] + by_cluster["tg1"]["durations"]["total"]

    rc, out = run_playbook(fleet, "status.yml", site.extravars())
    assert rc == 0, out
    for c in CLUSTERS:
        assert "%s  repo/llm:v2  2  complete" % c in out


def test_failing_canary_is_rolled_back_and_stops_the_fleet(fleet):
    site = Site(fleet)
    before = {c: site.deployment(c).metadata.resource_version for c in ("tg2", "tg3")}
    rc, out = run_playbook(fleet, "rollout.yml", site.extravars(model_server_image="repo/llm:crash"))
    assert rc != 0
    assert "tg1: rollout of repo/llm:crash" in out and "rolled_back (crash_loop)" in out, out
    assert "[tg2" not in out and "[tg3" not in out, "a later wave ran a task"
    assert site.complete("tg1", "repo/llm:v1")
    for c in ("tg2", "tg3"):
        assert site.image(c) == "repo/llm:v1"
        assert site.deployment(c).metadata.resource_version == before[c], "%s was touched" % c
    [path] = site.reports()
    with open(path) as f:
        report = json.load(f)
    assert report["outcome"] == "failed"
    assert report["failed_clusters"][0]["cluster"] == "tg1"
    verdicts = {r["cluster"]: r["verdict"] for r in report["clusters"]}
    assert verdicts == {"tg1": "rolled_back", "tg2": "not_started", "tg3": "not_started"}
    assert any(p["phase"] == "rollback" for p in report["clusters"][0]["timeline"])


def test_killed_mid_wave_then_rerun_converges_without_a_double_rollout(fleet):
    site = Site(fleet, ready_delay="3s")
    extravars = site.extravars(model_server_image="repo/llm:v2", rollout_lock_ttl_seconds=10)
    proc = start_playbook(fleet, "rollout.yml", extravars)
    wait_for(lambda: site.image("tg2") == "repo/llm:v2" or proc.poll() is not None, 240, "wave 2 to start")
    assert proc.poll() is None, proc.stdout.read()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not site.complete("tg2", "repo/llm:v2"), "killed too late to test a resume"

    rc, out = run_playbook(fleet, "rollout.yml", extravars)
    assert rc == 0, out
    for c in CLUSTERS:
        assert site.complete(c, "repo/llm:v2"), c
        # one ReplicaSet per image: the rerun resumed the rollout instead of starting another
        assert sorted(rs.spec.template.spec.containers[0].image for rs in site.replicasets(c)) == \
            ["repo/llm:v1", "repo/llm:v2"], c
        assert site.deployment(c).metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    with open(site.reports()[-1]) as f:
        rerun = {r["cluster"]: r for r in json.load(f)["clusters"]}
    assert rerun["tg1"]["verdict"] == "unchanged"
    assert rerun["tg2"]["resumed"] or rerun["tg2"]["verdict"] == "unchanged"


@pytest.mark.parametrize("bad, message", [
    ({"rollout_waves": [1, "two"]}, "Wave sizes"),
    ({"rollout_waves": "1, 150%"}, "Wave sizes"),
    ({"model_server_image": ""}, "is empty or contains spaces"),
    ({"model_server_on_failure": "retry"}, "model_server_on_failure"),
])
def test_a_wrong_survey_value_fails_before_any_cluster_is_touched(fleet, bad, message):
    site = Site(fleet)
    before = {c: site.deployment(c).metadata.resource_version for c in CLUSTERS}
    extravars = site.extravars(model_server_image="repo/llm:v2")
    extravars.update(bad)
    started = time.monotonic()
    rc, out = run_playbook(fleet, "rollout.yml", extravars)
    print("rejected in %.1fs" % (time.monotonic() - started))
    assert rc != 0 and message in out, out
    assert "PLAY [Roll out wave by wave]" not in out
    assert {c: site.deployment(c).metadata.resource_version for c in CLUSTERS} == before
    assert site.reports() == []


def test_rollback_playbook_returns_every_cluster_to_its_previous_image(fleet):
    site = Site(fleet)
    rc, out = run_playbook(fleet, "rollout.yml", site.extravars(model_server_image="repo/llm:v2"))
    assert rc == 0, out
    rc, out = run_playbook(fleet, "rollback.yml", site.extravars())
    assert rc == 0, out
    for c in CLUSTERS:
        assert site.complete(c, "repo/llm:v1"), c
    [path] = glob.glob(os.path.join(site.report_dir, "rollback-*.json"))
    with open(path) as f:
        assert [r["to"]["image"] for r in json.load(f)["clusters"]] == ["repo/llm:v1"] * 3


def test_wall_time_of_one_wave_from_one_to_three_clusters(fleet):
    times = {}
    for target, count in (("tg1", 1), ("all", 3)):
        site = Site(fleet, ready_delay="3s")
        started = time.monotonic()
        rc, out = run_playbook(fleet, "rollout.yml", site.extravars(
            model_server_image="repo/llm:v2", rollout_waves=["100%"], rollout_target=target,
            rollout_report_picture=False))
        times[count] = time.monotonic() - started
        assert rc == 0, out
    print("\none wave, wall time: 1 cluster %.1fs, 3 clusters %.1fs (x%.2f)" % (times[1], times[3], times[3] / times[1]))


def test_a_bearer_token_never_shows_in_verbose_output(fleet):
    site = Site(fleet)
    token = "tg-secret-" + uuid.uuid4().hex
    rc, out = run_playbook(fleet, "status.yml", site.extravars(), args=["-vvv"],
                           env=env_for(fleet, K8S_AUTH_API_KEY=token))
    assert "modelops.serving.model_rollout_info" in out or "model_rollout_info" in out
    assert token not in out
    assert token[10:] not in out
    print("status with a bearer token in the environment: rc=%s" % rc)
