"""Regimes through the whole runner over the fake API: zero replicas, env values never printed."""

import json

from tests.unit.plugins.module_utils.rollout.fake import World, assert_contract


def test_a_change_of_a_deployment_at_zero_replicas_is_refused_before_any_write():
    world = World(replicas=0)
    version = world.deployment()["metadata"]["resourceVersion"]
    result = assert_contract(world.run(image="repo/model:v2"))
    assert (result["verdict"], result["reason"], result["changed"]) == ("failed", "invalid_input", False)
    assert "has 0 replicas: no pod would run the new template" in result["message"]
    assert "allow_zero_replicas" in result["message"]
    assert world.api.writes == [] and world.deployment()["metadata"]["resourceVersion"] == version


def test_allow_zero_replicas_writes_and_says_no_pod_runs_it():
    world = World(replicas=0)
    result = assert_contract(world.run(image="repo/model:v2", allow_zero_replicas=True))
    assert (result["verdict"], result["changed"]) == ("complete", True)
    assert "0 replicas: no pod runs the new template yet and nothing was judged or gated" in result["message"]
    assert world.image() == "repo/model:v2"


SECRET = "hf_Zq8uXr3Wm1Kp9Tn2Lc5Vb7Yd"


def test_env_values_are_never_printed_in_progress_messages_results_or_annotations():
    world = World()
    result = assert_contract(world.run(image="repo/model:v2", env={"HF_TOKEN": SECRET}))
    assert result["verdict"] == "complete"
    assert any("env -> HF_TOKEN" in line for line in world.lines), world.lines
    printed = "\n".join(world.lines) + json.dumps(result)
    assert SECRET not in printed
    annotations = world.deployment()["metadata"]["annotations"]
    assert SECRET not in json.dumps(annotations)
    # The value itself is where it must be: in the template.
    env = world.deployment()["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "HF_TOKEN", "value": SECRET}]


def test_check_mode_and_a_failure_do_not_print_env_values_either():
    world = World()
    preview = assert_contract(world.run(check_mode=True, image="repo/model:v2", env={"HF_TOKEN": SECRET}))
    failed = assert_contract(world.run(image="repo/model:crash", env={"HF_TOKEN": SECRET}))
    assert failed["verdict"] == "rolled_back"
    assert SECRET not in json.dumps(preview) + json.dumps(failed) + "\n".join(world.lines)


def test_a_terminating_namespace_is_named_as_such_not_as_missing_permissions():
    from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError, explain

    exc = KubeError('leases.coordination.k8s.io "modelops-rollout-llm" is forbidden: unable to create new content in '
                    'namespace serving because it is being terminated', status=403)
    text = explain(exc, "https://k8s")
    assert text.startswith("namespace serving is being deleted (it is terminating)")
    assert "rbac" not in text
    assert "docs/rbac.md" in explain(KubeError("pods is forbidden: User x cannot list", status=403), "https://k8s")


def test_a_deployment_being_deleted_in_a_terminating_namespace_is_refused_before_any_write():
    world = World()
    world.deployment()["metadata"].update(deletionTimestamp="2026-12-01T10:00:00Z", finalizers=["example.com/hold"])
    world.api.obj("namespaces", None, "serving").setdefault("status", {})["phase"] = "Terminating"
    result = assert_contract(world.run(image="repo/model:v2"))
    assert (result["verdict"], result["reason"]) == ("failed", "invalid_input")
    assert result["message"].startswith("namespace serving is being deleted (it is terminating), and Deployment llm")
    assert world.api.writes == []


# -- item 6: waiting on this Deployment's own terminating pods is no failure -------------------------------
def _gpu_view(mono, old_terminating, pending_since="2026-12-01T10:00:00Z", now_s=0):
    import datetime

    from ansible_collections.modelops.serving.plugins.module_utils.rollout.wait import View

    dep = {"metadata": {"name": "llm", "namespace": "serving", "uid": "dep", "generation": 2,
                        "annotations": {"deployment.kubernetes.io/revision": "2"}},
           "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "llm"}},
                                                "spec": {"containers": [{"name": "s", "image": "r/m:v2"}]}}},
           "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1,
                      "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}}
    owner = [{"uid": "dep", "controller": True}]
    new_rs = {"metadata": {"name": "llm-new", "uid": "rs-new", "ownerReferences": owner,
                           "creationTimestamp": "2026-12-01T10:00:00Z"},
              "spec": {"template": dep["spec"]["template"]}, "status": {}}
    old_rs = {"metadata": {"name": "llm-old", "uid": "rs-old", "ownerReferences": owner,
                           "creationTimestamp": "2026-11-30T10:00:00Z"},
              "spec": {"template": {"metadata": {"labels": {"app": "llm"}}, "spec": {"containers": []}}}, "status": {}}
    new_pod = {"metadata": {"name": "llm-new-1", "uid": "p2", "ownerReferences": [{"uid": "rs-new", "controller": True}]},
               "status": {"phase": "Pending", "conditions": [
                   {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastTransitionTime": pending_since,
                    "message": "0/3 nodes are available: 1 Insufficient nvidia.com/gpu."}]}}
    pods = [new_pod]
    if old_terminating:
        pods.append({"metadata": {"name": "llm-old-1", "uid": "p1", "deletionTimestamp": "2026-12-01T10:00:00Z",
                                  "ownerReferences": [{"uid": "rs-old", "controller": True}]},
                     "status": {"phase": "Running"}})
    wall = datetime.datetime(2026, 12, 1, 10, 0, 0, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=now_s)
    return View(dep, [new_rs, old_rs], pods, mono, wall)


def test_an_unschedulable_new_pod_waiting_for_our_own_terminating_gpu_pod_is_no_failure():
    from ansible_collections.modelops.serving.plugins.module_utils.rollout.diagnose import Thresholds
    from ansible_collections.modelops.serving.plugins.module_utils.rollout.judges import RolloutJudge

    judge = RolloutJudge(Thresholds(unschedulable_seconds=30))
    # The old pod takes 90 s of its grace period to go: 90 s Unschedulable, no failure.
    for second in (0, 31, 60, 90):
        assert judge.judge(_gpu_view(second, True, now_s=second)) is None
    # Gone at 90 s, and the new pod still finds no room: the 30 s count from then.
    assert judge.judge(_gpu_view(100, False, now_s=100)) is None
    outcome = judge.judge(_gpu_view(121, False, now_s=121))
    assert outcome is not None and outcome.reason == "unschedulable"
    assert "Insufficient nvidia.com/gpu" in outcome.message


def test_without_the_exemption_the_same_pod_fails_at_30_seconds():
    from ansible_collections.modelops.serving.plugins.module_utils.rollout.diagnose import Thresholds
    from ansible_collections.modelops.serving.plugins.module_utils.rollout.judges import RolloutJudge

    judge = RolloutJudge(Thresholds(unschedulable_seconds=30))
    assert judge.judge(_gpu_view(31, False, now_s=31)).reason == "unschedulable"


# -- item 9: an autoscaler changing replicas mid-rollout -----------------------------------------------------
def test_scaling_up_and_down_mid_rollout_keeps_the_verdict_right():
    for target in (6, 2):
        world = World(ready_delay=4, one_at_a_time=True)
        start = world.clock.monotonic()
        scaled = []

        def hpa(now, target=target, scaled=scaled):  # pylint: disable=dangerous-default-value
            if not scaled and now - start > 3:
                dep = world.deployment()
                dep["spec"]["replicas"] = target
                dep["metadata"]["generation"] += 1
                world.api.touch(dep)
                scaled.append(now)

        world.controller.hooks.append(hpa)
        result = assert_contract(world.run(image="repo/model:v2"))
        assert scaled, "the scaling must happen during the rollout"
        assert (result["verdict"], result["reason"]) == ("complete", "complete"), result["message"]
        st = world.deployment()["status"]
        assert st["updatedReplicas"] == target and st["availableReplicas"] == target and st["replicas"] == target
        assert result["timeline"][-1]["desired"] == target


# -- item 10: a wait with no change is the role's wait, with the same verdicts ------------------------------
def test_a_run_without_any_change_waits_with_the_engines_verdicts():
    world = World()
    done = assert_contract(world.run())
    assert (done["verdict"], done["changed"]) == ("unchanged", False) and world.api.writes == []
    stuck = World(image="repo/model:big")
    failed = assert_contract(stuck.run(unschedulable_seconds=3))
    assert (failed["verdict"], failed["reason"]) == ("failed", "unschedulable"), failed["message"]
    assert "Insufficient cpu" in failed["message"] and "nothing to roll back to" in failed["message"]
    assert stuck.api.writes_to("/deployments/") == []
