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


def pod(name, conditions=None, restarts=0):
    return {"metadata": {"name": name},
            "status": {"conditions": conditions if conditions is not None else [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "server", "restartCount": restarts}]}}


def deployment(status, replicas=3, generation=2):
    d = {"metadata": {"name": "llm", "generation": generation}, "spec": {"replicas": replicas}, "status": status}
    if replicas is None:
        del d["spec"]["replicas"]
    return d


def test_lost_readiness_names_the_kubelet_s_reason_and_message_or_nothing():
    held = hold.Baseline([pod("p")])
    unready = [{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                "message": "containers with unready status: [server]"}]
    assert hold.verdict(held, None, [pod("p", unready)]) == (
        "bake_not_ready", "pod p lost readiness (ContainersNotReady: containers with unready status: [server])")
    assert hold.verdict(held, None, [pod("p", [{"type": "Ready", "status": "False"}])]) == (
        "bake_not_ready", "pod p lost readiness")
    # No Ready condition at all is not Ready.
    assert hold.verdict(held, None, [pod("p", [])]) == ("bake_not_ready", "pod p lost readiness")


def test_availability_is_judged_on_what_the_api_omits_as_zero():
    held = hold.Baseline([pod("p")])
    # availableReplicas 0 is left out of the status; a spec without replicas wants the API's default, 1.
    assert hold.verdict(held, deployment({"observedGeneration": 2}, replicas=1), [pod("p")]) == (
        "bake_unavailable", "only 0 of 1 replicas of llm available")
    assert hold.verdict(held, deployment({"observedGeneration": 2}, replicas=None), [pod("p")]) == (
        "bake_unavailable", "only 0 of 1 replicas of llm available")
    assert hold.verdict(held, deployment({"observedGeneration": 2, "availableReplicas": 1}, replicas=None),
                        [pod("p")]) is None


def test_a_deployment_the_controller_has_not_observed_at_all_says_nothing_yet():
    held = hold.Baseline([pod("p")])
    assert hold.verdict(held, deployment({}, generation=1), [pod("p")]) is None


def test_a_restart_names_the_last_exit_when_the_kubelet_recorded_one():
    held = hold.Baseline([pod("p")])
    restarted = pod("p", restarts=1)
    assert hold.verdict(held, None, [restarted]) == (
        "bake_restart", "container server of pod p restarted (restarts 0 -> 1)")
    restarted["status"]["containerStatuses"][0]["lastState"] = {"terminated": {"exitCode": 137}}
    assert hold.verdict(held, None, [restarted]) == (
        "bake_restart", "container server of pod p restarted (restarts 0 -> 1) (last exit: terminated, code 137)")


def test_a_pod_already_on_its_way_out_when_the_hold_began_is_not_held():
    leaving = pod("b")
    leaving["metadata"]["deletionTimestamp"] = "2026-11-25T09:00:00Z"
    held = hold.Baseline([pod("a"), leaving])
    assert len(held) == 1
    assert hold.verdict(held, None, [pod("a")]) is None


def test_a_pod_not_ready_when_the_hold_began_has_lost_nothing_until_it_was_seen_ready():
    # The pod watch can lag the Deployment's: a held pod may first show as it was before Ready.
    unready = [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]
    held = hold.Baseline([pod("a"), pod("b", unready)])
    assert held.ready == {"a"}
    assert hold.verdict(held, None, [pod("a"), pod("b", unready)]) is None
    # Rule 4 still judges the capacity the Deployment reports.
    assert hold.verdict(held, deployment({"observedGeneration": 2, "availableReplicas": 2}, replicas=3),
                        [pod("a"), pod("b", unready)]) == ("bake_unavailable", "only 2 of 3 replicas of llm available")
    assert hold.verdict(held, None, [pod("a"), pod("b")]) is None
    assert held.ready == {"a", "b"}
    assert hold.verdict(held, None, [pod("a"), pod("b", unready)]) == (
        "bake_not_ready", "pod b lost readiness (ContainersNotReady)")
    # "a" lost it first, in name order, and was seen Ready from the start.
    assert hold.verdict(held, None, [pod("a", unready), pod("b", unready)]) == (
        "bake_not_ready", "pod a lost readiness (ContainersNotReady)")


def test_a_pod_leaving_when_the_hold_began_is_not_counted_as_seen_ready():
    leaving = pod("b")
    leaving["metadata"]["deletionTimestamp"] = "2026-11-25T09:00:00Z"
    assert hold.Baseline([pod("a"), leaving]).ready == {"a"}
