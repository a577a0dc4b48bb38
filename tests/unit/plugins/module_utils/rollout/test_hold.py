"""The one hold verdict (canary pause, blue/green window, gate bake) on objects recorded from the test ground."""

import os

import yaml

from ansible_collections.modelops.serving.plugins.module_utils.rollout import hold

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "hold")


def load(name):
    with open(os.path.join(FIXTURES, name)) as f:
        data = yaml.safe_load(f)
    return data if isinstance(data, list) else [data]


def names(pods):
    return [p["metadata"]["name"] for p in pods]


def test_ready_pods_of_a_full_deployment_hold():
    pods = load("pods_ready.yaml")
    assert len(pods) == 3 and all(hold.is_ready(p) for p in pods)
    assert hold.verdict(hold.Baseline(pods), load("deployment_full.yaml")[0], pods) is None


def test_a_deleted_pod_breaks_the_hold_while_it_still_terminates():
    before = load("pods_ready.yaml")
    after = load("pods_one_deleting.yaml")
    deleting = [p for p in after if p["metadata"].get("deletionTimestamp")]
    assert len(deleting) == 1 and deleting[0]["metadata"]["name"] in names(before)
    assert hold.verdict(hold.Baseline(before), load("deployment_full.yaml")[0], after) == (
        "bake_not_ready", "pod %s was deleted" % deleting[0]["metadata"]["name"])


def test_a_pod_gone_from_the_list_broke_the_hold_too():
    before = load("pods_ready.yaml")
    gone = before[0]["metadata"]["name"]
    assert hold.verdict(hold.Baseline(before), None, before[1:]) == ("bake_not_ready", "pod %s was deleted" % gone)


def test_lost_availability_breaks_the_hold_even_when_the_held_pods_look_fine():
    pods = load("pods_ready.yaml")
    assert hold.verdict(hold.Baseline(pods), load("deployment_one_unavailable.yaml")[0], pods) == (
        "bake_unavailable", "only 2 of 3 replicas of llm available")


def test_a_restart_breaks_the_hold_with_the_last_exit():
    [before] = load("pod_crashing_before.yaml")
    [after] = load("pod_crashing_after.yaml")
    assert before["metadata"]["uid"] == after["metadata"]["uid"]
    reason, message = hold.verdict(hold.Baseline([before]), None, [after])
    assert reason == "bake_restart"
    assert message.startswith("container server of pod %s restarted (restarts 0 -> 1)" % after["metadata"]["name"])


def test_a_pod_that_lost_ready_breaks_the_hold_naming_the_kubelet_reason():
    [pod] = load("pod_lost_ready.yaml")
    baseline = hold.Baseline([dict(pod, status=dict(pod["status"], conditions=[{"type": "Ready", "status": "True"}]))])
    reason, message = hold.verdict(baseline, None, [pod])
    assert reason == "bake_not_ready"
    assert message.startswith("pod %s lost readiness" % pod["metadata"]["name"])
