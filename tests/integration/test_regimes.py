"""model_rollout in the regimes every production cluster sees: re-runs under scaling, other hands on the
Deployment, rollback annotations, image references refused before any write, a Deployment deleted mid-wait.

Each test asserts what the cluster holds afterwards (template, generation, resourceVersion), and any
"during a rollout" is held open by pod behaviour (a long ready-delay, a :broken or Pending pod).
"""

import pytest

from tests.integration.ansible_runner_helpers import PlaybookRun, rollout
from tests.integration.conftest import CapacitySampler, deployment_manifest, deployment_ready, service_manifest, wait_for

CHANGE_CAUSE = "kubernetes.io/change-cause"


def _create(k8s, ns, image="repo/model:v1", name="llm", wait=True, **kw):
    k8s.apps.create_namespaced_deployment(ns, deployment_manifest(name, image, **kw))
    if wait:
        wait_for(lambda: deployment_ready(k8s, ns, name, image), 90, "%s ready on %s" % (name, image))


def _dep(k8s, ns, name="llm"):
    return k8s.apps.read_namespaced_deployment(name, ns)


def _image(d):
    return d.spec.template.spec.containers[0].image


def _set_image(tg, ns, image, name="llm"):
    tg.kubectl("-n", ns, "set", "image", "deployment/" + name, "server=" + image)


def _pending(k8s, ns):
    return [p for p in k8s.core.list_namespaced_pod(ns, label_selector="app=llm").items
            if p.status.phase == "Pending" and not p.metadata.deletion_timestamp]


def _owned_replicasets(k8s, ns, name="llm"):
    uid = _dep(k8s, ns, name).metadata.uid
    return [rs for rs in k8s.apps.list_namespaced_replica_set(ns).items
            if any(o.uid == uid and o.controller for o in rs.metadata.owner_references or [])]


def test_rerunning_a_complete_rollout_after_a_scale_beyond_room_changes_nothing(tg, k8s, namespace):
    # 20 cores a pod: each CPU node (32 cores) holds one; scaled from 2 to 4, two stay Pending for good.
    big = {"requests": {"cpu": "20"}}
    _create(k8s, namespace, replicas=2, max_surge=0, max_unavailable=1, resources=big)
    first = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2")
    assert first["verdict"] == "complete", first
    k8s.apps.patch_namespaced_deployment_scale("llm", namespace, {"spec": {"replicas": 4}})
    wait_for(lambda: len(_pending(k8s, namespace)) == 2, 60, "2 pods Pending after the scale-up")
    wait_for(lambda: (_dep(k8s, namespace).status.available_replicas or 0) == 2, 60, "2 of 4 available")
    before = _dep(k8s, namespace)
    template = before.spec.template.to_dict()
    for _attempt in range(2):
        again = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2", unschedulable_seconds=0)
        assert (again["verdict"], again["reason"], again["changed"]) == ("unchanged", "up_to_date", False), again
        assert again["resumed"] is False
    after = _dep(k8s, namespace)
    assert after.metadata.resource_version == before.metadata.resource_version
    assert after.metadata.generation == before.metadata.generation
    assert after.spec.template.to_dict() == template and _image(after) == "repo/model:v2"
    assert after.spec.replicas == 4


def test_kubectl_set_image_after_our_rollout_makes_the_last_complete_template_the_rollback_target(
        tg, k8s, namespace):
    _create(k8s, namespace)
    ours = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2")
    assert ours["verdict"] == "complete", ours
    v2_template = _dep(k8s, namespace).spec.template.to_dict()
    # A person rolls on to an image that crash-loops; its rollout never completes.
    _set_image(tg, namespace, "repo/model:crash")
    wait_for(lambda: _dep(k8s, namespace).metadata.annotations.get("deployment.kubernetes.io/revision") == "3", 30,
             "revision 3")
    # Asked for that same image, the run follows the person's rollout and goes back to v2, never to v1.
    result = rollout(tg, name="llm", namespace=namespace, image="repo/model:crash")
    assert (result["verdict"], result["reason"]) == ("rolled_back", "crash_loop"), result
    assert result["resumed"] is False
    assert result["previous"] == {"revision": "2", "image": "repo/model:v2"}
    assert result["rolled_back_to"]["image"] == "repo/model:v2"
    after = _dep(k8s, namespace)
    assert after.spec.template.to_dict() == v2_template
    wait_for(lambda: deployment_ready(k8s, namespace, "llm", "repo/model:v2"), 60, "v2 serving again")


def test_someone_elses_half_done_rollout_is_superseded_with_the_last_complete_template_as_the_target(
        tg, k8s, namespace):
    _create(k8s, namespace, replicas=3, max_surge=1, max_unavailable=0)
    k8s.core.create_namespaced_service(namespace, service_manifest("llm"))
    v1_template = _dep(k8s, namespace).spec.template.to_dict()
    # A canary of another tool beside it: its pods match the stable selector, its ReplicaSet serves most.
    canary = deployment_manifest("llm-canary", "repo/model:v9", replicas=4, labels={"app": "llm", "track": "canary"})
    k8s.apps.create_namespaced_deployment(namespace, canary)
    wait_for(lambda: deployment_ready(k8s, namespace, "llm-canary", "repo/model:v9"), 90, "the canary ready")
    # kubectl set image to a server that never gets Ready: half done, for ever.
    _set_image(tg, namespace, "repo/model:broken")
    wait_for(lambda: (_dep(k8s, namespace).status.updated_replicas or 0) == 1, 30, "one broken pod")
    with CapacitySampler(k8s, namespace, "llm") as cap:
        result = rollout(tg, name="llm", namespace=namespace, image="repo/model:crash")
        wait_for(lambda: deployment_ready(k8s, namespace, "llm", "repo/model:v1"), 90, "v1 serving again")
    assert (result["verdict"], result["reason"]) == ("rolled_back", "crash_loop"), result
    # previous names what served: v1, neither the broken revision nor the canary's v9.
    assert result["previous"] == {"revision": "1", "image": "repo/model:v1"}
    assert result["rolled_back_to"]["image"] == "repo/model:v1"
    assert _dep(k8s, namespace).spec.template.to_dict() == v1_template
    assert _image(_dep(k8s, namespace, "llm-canary")) == "repo/model:v9"
    # Ready endpoints of the Service (canary pods included) never fell below the stable floor plus the canary.
    assert cap.floor >= 3 + 4, cap.samples


def test_a_rollback_restores_the_change_cause_of_the_restored_revision_and_the_record_stays_small(
        tg, k8s, namespace):
    _create(k8s, namespace)
    tg.kubectl("-n", namespace, "annotate", "deployment/llm", CHANGE_CAUSE + "=first release v1", "--overwrite")
    ours = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2", env={"HF_TOKEN": "hf_notprinted"})
    assert ours["verdict"] == "complete", ours
    good = _dep(k8s, namespace)
    good_cause = good.metadata.annotations[CHANGE_CAUSE]
    assert good_cause == "modelops.serving.model_rollout image=repo/model:v2 env=HF_TOKEN"
    failed = rollout(tg, name="llm", namespace=namespace, image="repo/model:crash")
    assert (failed["verdict"], failed["reason"]) == ("rolled_back", "crash_loop"), failed
    after = _dep(k8s, namespace)
    assert after.spec.template.to_dict() == good.spec.template.to_dict()
    annotations = after.metadata.annotations
    # As kubectl rollout undo: the restored revision's change-cause, not the failed one's.
    assert annotations[CHANGE_CAUSE] == good_cause
    assert annotations["modelops.serving/rolled-back-from"] == "3"
    history = tg.kubectl("-n", namespace, "rollout", "history", "deployment/llm").stdout
    assert "repo/model:crash" in history and history.strip().splitlines()[-1].endswith(good_cause), history
    # What we record is small, on the Deployment and on every ReplicaSet the controller copied it to.
    for obj in [after] + _owned_replicasets(k8s, namespace):
        ann = obj.metadata.annotations or {}
        assert "modelops.serving/previous-template" not in ann
        assert sum(len(k) + len(v) for k, v in ann.items() if k.startswith("modelops.serving/")) < 300, ann
        assert "hf_notprinted" not in repr(ann)


def test_invalid_digests_and_names_are_refused_before_any_write(tg, k8s, namespace):
    _create(k8s, namespace)
    before = _dep(k8s, namespace).metadata.resource_version
    for image, words in (("repo/model@sha256:" + "A" * 64, "lowercase hex"),
                         ("repo/model@sha256:" + "a" * 63, "exactly 64"),
                         ("r" * 256 + ":v2", "at most 255")):
        result = rollout(tg, name="llm", namespace=namespace, image=image)
        assert result["failed"] and result["changed"] is False, result
        assert result["reason"] == "invalid_input" and words in result["msg"], result["msg"]
    assert _dep(k8s, namespace).metadata.resource_version == before
    assert len(_owned_replicasets(k8s, namespace)) == 1


def test_a_deployment_deleted_mid_wait_ends_deployment_deleted(tg, k8s, namespace):
    _create(k8s, namespace)
    # A server that never gets Ready holds the wait open (no not_ready_seconds: only the deadline would end it).
    run = PlaybookRun(tg, "modelops.serving.model_rollout",
                      {"name": "llm", "namespace": namespace, "image": "repo/model:broken"})
    assert run.wait_for_progress(lambda line: "patched" in line), run.output
    k8s.apps.delete_namespaced_deployment("llm", namespace)
    result = run.wait()
    assert (result["verdict"], result["reason"]) == ("failed", "deployment_deleted"), result
    assert "deleted" in result["message"]


def _annotations_but_revision(d):
    return dict((k, v) for k, v in d.metadata.annotations.items() if k != "deployment.kubernetes.io/revision")


@pytest.mark.parametrize("hand", ["undo", "set-image"])
def test_another_hand_changing_the_template_mid_rollout_is_superseded_and_its_template_stands(
        tg, k8s, namespace, hand):
    _create(k8s, namespace)
    # A server that never gets Ready holds our rollout open until the other hand acts.
    run = PlaybookRun(tg, "modelops.serving.model_rollout",
                      {"name": "llm", "namespace": namespace, "image": "repo/model:broken"})
    assert run.wait_for_progress(lambda line: "patched" in line), run.output
    wait_for(lambda: (_dep(k8s, namespace).status.updated_replicas or 0) >= 1, 60, "a pod of our template")
    if hand == "undo":
        tg.kubectl("-n", namespace, "rollout", "undo", "deployment/llm")
        theirs = "repo/model:v1"
    else:
        _set_image(tg, namespace, "repo/model:v3")
        theirs = "repo/model:v3"
    written = _dep(k8s, namespace)
    assert _image(written) == theirs
    result = run.wait()
    assert (result["verdict"], result["reason"], result["changed"]) == ("failed", "superseded", True), result
    assert theirs in result["message"] and result["current"]["image"] == theirs
    assert result["rolled_back_to"] is None
    # Their template stands and nothing of ours came after it: same generation, template and annotations.
    wait_for(lambda: deployment_ready(k8s, namespace, "llm", theirs), 90, "their template serving")
    after = _dep(k8s, namespace)
    assert after.metadata.generation == written.metadata.generation
    assert after.spec.template.to_dict() == written.spec.template.to_dict()
    # The controller numbers the revision it rolls out; every other annotation is as the other hand left it.
    assert _annotations_but_revision(after) == _annotations_but_revision(written)
    assert not k8s.coordination.list_namespaced_lease(namespace).items


TERMINATE_DELAY = "testground.modelops.serving/terminate-delay"


def test_a_full_gpu_node_waits_for_our_own_terminating_pod_without_failing(tg, k8s, namespace):
    # One GPU, held by the old pod for 15 s of termination; the new pod is Unschedulable meanwhile.
    gpu = {"limits": {"nvidia.com/gpu": "1"}}
    manifest = deployment_manifest("llm", "repo/llm:v1", replicas=1, max_surge=0, max_unavailable=1, resources=gpu,
                                   annotations={TERMINATE_DELAY: "15s"})
    manifest["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    k8s.apps.create_namespaced_deployment(namespace, manifest)
    wait_for(lambda: deployment_ready(k8s, namespace, "llm", "repo/llm:v1"), 60, "GPU server ready")
    run = PlaybookRun(tg, "modelops.serving.model_rollout",
                      {"name": "llm", "namespace": namespace, "image": "repo/llm:v2", "unschedulable_seconds": 5})
    # The new pod is Unschedulable behind the terminating old one: the situation under test, seen for itself.
    wait_for(lambda: any(c.reason == "Unschedulable" for p in _pending(k8s, namespace)
                         for c in p.status.conditions or [] if c.type == "PodScheduled"), 60, "an Unschedulable new pod")
    result = run.wait()
    assert (result["verdict"], result["reason"]) == ("complete", "complete"), result
    d = _dep(k8s, namespace)
    assert _image(d) == "repo/llm:v2" and d.status.available_replicas == 1 and d.status.updated_replicas == 1


def test_an_autoscaler_scaling_mid_rollout_keeps_the_verdict_right(tg, k8s, namespace):
    _create(k8s, namespace, annotations={"testground.modelops.serving/ready-delay": "8s"})
    run = PlaybookRun(tg, "modelops.serving.model_rollout",
                      {"name": "llm", "namespace": namespace, "image": "repo/model:v2"})
    assert run.wait_for_progress(lambda line: "patched" in line), run.output
    # What an HPA writes: the scale subresource, while new pods are still loading (none can be Ready before 8 s).
    k8s.apps.patch_namespaced_deployment_scale("llm", namespace, {"spec": {"replicas": 6}})
    assert (_dep(k8s, namespace).status.updated_replicas or 0) < 6
    result = run.wait()
    d = _dep(k8s, namespace)
    assert (result["verdict"], result["reason"]) == ("complete", "complete"), result
    # Never early: at the verdict all six run the new template and are available.
    assert d.spec.replicas == 6 and _image(d) == "repo/model:v2"
    assert d.status.updated_replicas == 6 and d.status.available_replicas == 6 and d.status.replicas == 6
    assert result["timeline"][-1]["desired"] == 6 and result["timeline"][-1]["available"] == 6


def test_zero_replicas_is_refused_as_rollout_yml_refuses_it_unless_allowed(tg, k8s, namespace):
    _create(k8s, namespace, replicas=0)
    before = _dep(k8s, namespace).metadata.resource_version
    refused = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2")
    assert refused["failed"] and refused["changed"] is False, refused
    assert "has 0 replicas: no pod would run the new template" in refused["msg"]
    assert _dep(k8s, namespace).metadata.resource_version == before
    written = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2", allow_zero_replicas=True)
    assert (written["verdict"], written["changed"]) == ("complete", True), written
    assert "no pod runs the new template yet" in written["message"]
    assert _image(_dep(k8s, namespace)) == "repo/model:v2" and _dep(k8s, namespace).spec.replicas == 0


def test_a_terminating_namespace_is_named_not_blamed_on_rbac(tg, k8s):
    import uuid

    ns = "t-" + uuid.uuid4().hex[:8]
    k8s.core.create_namespace({"metadata": {"name": ns}})
    manifest = deployment_manifest("llm", "repo/model:v1", replicas=1)
    # A finalizer keeps the Deployment (and so the namespace, Terminating) while the run looks at it.
    manifest["metadata"]["finalizers"] = ["testground.modelops.serving/hold"]
    k8s.apps.create_namespaced_deployment(ns, manifest)
    try:
        k8s.core.delete_namespace(ns)
        wait_for(lambda: k8s.core.read_namespace(ns).status.phase == "Terminating", 30, "namespace Terminating")
        wait_for(lambda: _dep(k8s, ns).metadata.deletion_timestamp is not None, 60, "the Deployment being deleted")
        before = _dep(k8s, ns)
        result = rollout(tg, name="llm", namespace=ns, image="repo/model:v2")
        assert result["failed"] and result["changed"] is False, result
        assert "namespace %s is being deleted (it is terminating)" % ns in result["msg"], result["msg"]
        assert "rbac" not in result["msg"].lower()
        # The controllers keep writing status while the namespace empties; nothing of ours was written.
        after = _dep(k8s, ns)
        assert after.metadata.generation == before.metadata.generation
        assert after.spec.template.to_dict() == before.spec.template.to_dict()
        assert not [m for m in after.metadata.managed_fields or [] if m.manager == "modelops.serving"]
    finally:
        k8s.apps.patch_namespaced_deployment("llm", ns, {"metadata": {"finalizers": None}})


def test_env_values_never_appear_in_any_output(tg, k8s, namespace):
    token = "hf_" + "Qw7Er9Ty2Ui4Op6As8Df1Gh3Jk"
    _create(k8s, namespace)
    runs = []
    for image, check in (("repo/model:v2", True), ("repo/model:v2", False), ("repo/model:crash", False)):
        run = PlaybookRun(tg, "modelops.serving.model_rollout",
                          {"name": "llm", "namespace": namespace, "image": image, "env": {"HF_TOKEN": token}},
                          check=check, diff=True, verbosity=2)
        runs.append((run, run.wait()))
    assert runs[1][1]["verdict"] == "complete" and runs[2][1]["verdict"] == "rolled_back"
    for index, (run, result) in enumerate(runs):
        everything = run.output + "\n".join(run.progress_lines()) + repr(result)
        assert token not in everything
        # The change names the variable (the third run changes the image alone).
        assert index == 2 or "env -> HF_TOKEN" in everything
    # The value is on the Deployment, for whoever may read it: that is why credentials belong in a Secret.
    env = _dep(k8s, namespace).spec.template.spec.containers[0].env
    assert [(e.name, e.value) for e in env] == [("HF_TOKEN", token)]
    d = _dep(k8s, namespace)
    assert token not in repr(d.metadata.annotations)
    assert all(token not in repr(rs.metadata.annotations) for rs in _owned_replicasets(k8s, namespace))
