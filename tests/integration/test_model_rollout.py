"""modelops.serving.model_rollout against the real Deployment controller on the test ground."""

import json
import os

import pytest
import yaml

from tests.helpers.witness import Witness
from tests.integration.ansible_runner_helpers import PlaybookRun, rollout, run_module
from tests.integration.conftest import (
    deployment_manifest,
    deployment_ready,
    ready_endpoint_targets,
    service_manifest,
    wait_for,
)
from testground.cluster import REPO_ROOT


def _deploy(k8s, ns, image="repo/model:v1", name="llm", **kw):
    k8s.apps.create_namespaced_deployment(ns, deployment_manifest(name, image, **kw))
    k8s.core.create_namespaced_service(ns, service_manifest(name))
    wait_for(lambda: deployment_ready(k8s, ns, name, image), 60, "%s ready on %s" % (name, image))
    wait_for(lambda: len(ready_endpoint_targets(k8s, ns, name)) == kw.get("replicas", 3), 30,
             "endpoints of %s" % name)
    return k8s.apps.read_namespaced_deployment(name, ns)


def _dep(k8s, ns, name="llm"):
    return k8s.apps.read_namespaced_deployment(name, ns)


def _image(d):
    return d.spec.template.spec.containers[0].image


def _replicasets(k8s, ns, name="llm"):
    return [rs for rs in k8s.apps.list_namespaced_replica_set(ns).items
            if any(o.name == name for o in rs.metadata.owner_references or [])]


def test_good_image_completes_and_a_second_run_writes_nothing(tg, k8s, namespace):
    _deploy(k8s, namespace)
    with Witness(k8s, namespace) as witness:
        run = PlaybookRun(tg, "modelops.serving.model_rollout",
                          {"name": "llm", "namespace": namespace, "image": "repo/model:v2"})
        result = run.wait()
        # Sampled the instant the module returned.
        ready_names = ready_endpoint_targets(k8s, namespace, "llm")
        pods = k8s.core.list_namespaced_pod(namespace, label_selector="app=llm").items
    assert result["verdict"] == "complete", result["msg"] if "msg" in result else result
    assert result["changed"] is True
    assert result["previous"] == {"revision": "1", "image": "repo/model:v1"}
    assert result["current"]["revision"] == "2"
    assert result["current"]["image"] == "repo/model:v2"
    assert result["rolled_back_to"] is None and result["diagnostics"] == []
    for key in ("timeline", "durations", "reason", "message"):
        assert key in result
    assert result["timeline"][-1]["updated"] == 3 and result["timeline"][-1]["available"] == 3
    # kubectl agrees at once.
    out = tg.kubectl("-n", namespace, "rollout", "status", "deployment/llm", "--timeout=1s")
    assert "successfully rolled out" in out.stdout
    # No old pod serves: every ready endpoint is a new pod, and no live old pod is Ready.
    new_hash = {p.metadata.labels["pod-template-hash"] for p in pods if p.spec.containers[0].image == "repo/model:v2"}
    assert len(new_hash) == 1
    by_name = {p.metadata.name: p for p in pods}
    assert ready_names and all(by_name[n].spec.containers[0].image == "repo/model:v2" for n in ready_names
                               if n in by_name)
    for p in pods:
        if p.spec.containers[0].image == "repo/model:v1" and p.metadata.deletion_timestamp is None:
            assert not any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    # Capacity never below replicas - maxUnavailable.
    assert witness.floor("llm") >= 2, witness.ready_counts("llm")
    # Live progress was written while it ran.
    assert any("3/3 updated" in line for line in run.progress_lines())

    before = _dep(k8s, namespace).metadata.resource_version
    again = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2")
    assert again["changed"] is False
    assert again["verdict"] == "unchanged"
    assert _dep(k8s, namespace).metadata.resource_version == before
    assert len(_replicasets(k8s, namespace)) == 2


def test_env_and_strategy_change_model_version(tg, k8s, namespace):
    _deploy(k8s, namespace)
    result = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2", env={"MODEL_VERSION": 2},
                     max_surge="50%", max_unavailable=0, progress_deadline_seconds=300)
    assert result["verdict"] == "complete", result
    d = _dep(k8s, namespace)
    env = {e.name: e.value for e in d.spec.template.spec.containers[0].env}
    assert env == {"MODEL_VERSION": "2"}
    assert d.spec.strategy.rolling_update.max_surge == "50%"
    assert d.spec.strategy.rolling_update.max_unavailable == 0
    assert d.spec.progress_deadline_seconds == 300
    assert d.metadata.annotations["modelops.serving/previous-image"] == "repo/model:v1"
    # Env by name only: change-cause shows in kubectl rollout history and on every ReplicaSet.
    assert d.metadata.annotations["kubernetes.io/change-cause"].endswith("image=repo/model:v2 env=MODEL_VERSION")


FAILURES = [
    # image, extra module args, expected reason, words the message must contain
    ("repo/model:crash", {}, "crash_loop", ["CrashLoopBackOff", "restarts"]),
    ("repo/model:pullfail", {}, "image_pull", ["ErrImagePull", "repo/model:pullfail"]),
    ("repo/model:broken", {"not_ready_seconds": 3}, "not_ready", ["ContainersNotReady"]),
]


@pytest.mark.parametrize("image, extra, reason, words", FAILURES, ids=[f[2] for f in FAILURES])
def test_bad_image_fails_fast_rolls_back_and_holds_capacity(tg, k8s, namespace, image, extra, reason, words):
    original = _deploy(k8s, namespace, progress_deadline=120)
    original_template = original.spec.template.to_dict()
    [original_rs] = [rs.metadata.name for rs in _replicasets(k8s, namespace)]
    with Witness(k8s, namespace) as witness:
        args = {"name": "llm", "namespace": namespace, "image": image}
        args.update(extra)
        result = rollout(tg, **args)
        wait_for(lambda: deployment_ready(k8s, namespace, "llm", "repo/model:v1"), 30, "v1 fully back")
    assert result["verdict"] == "rolled_back", result
    assert result["reason"] == reason
    assert result["failed"] is True
    for word in words:
        assert word in result["message"]
    assert "rolled back to the previous template (revision 1, image repo/model:v1)" in result["message"]
    assert result["rolled_back_to"]["original_revision"] == "1"
    assert result["rolled_back_to"]["image"] == "repo/model:v1"
    assert result["diagnostics"] and result["diagnostics"][0]["pod"].startswith("llm-")
    d = _dep(k8s, namespace)
    assert _image(d) == "repo/model:v1"
    assert d.spec.template.spec == original.spec.template.spec
    assert d.spec.template.metadata.labels == original_template["metadata"]["labels"]
    # The controller reused the original ReplicaSet: revision content is back, not a look-alike.
    active = [rs.metadata.name for rs in _replicasets(k8s, namespace) if (rs.spec.replicas or 0) > 0]
    assert active == [original_rs]
    # Declared on the pods' evidence, not by the deadline.
    assert not any(c.reason == "ProgressDeadlineExceeded" for c in d.status.conditions or [])
    assert witness.floor("llm") >= 2, witness.ready_counts("llm")


def test_broken_image_without_ready_timeout_ends_at_the_progress_deadline(tg, k8s, namespace):
    _deploy(k8s, namespace, progress_deadline=600)
    result = rollout(tg, name="llm", namespace=namespace, image="repo/model:broken", progress_deadline_seconds=6)
    assert result["reason"] == "progress_deadline_exceeded", result
    assert result["verdict"] == "rolled_back"
    assert 'exceeded its progress deadline' in result["message"]
    assert _image(_dep(k8s, namespace)) == "repo/model:v1"


def test_gpu_surge_rollout_with_no_spare_gpu_is_refused_before_any_change(tg, k8s, namespace):
    gpu = {"limits": {"nvidia.com/gpu": "1"}}
    manifest = deployment_manifest("llm", "repo/llm:v1", replicas=1, max_surge=1, max_unavailable=0,
                                   resources=gpu)
    manifest["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    k8s.apps.create_namespaced_deployment(namespace, manifest)
    wait_for(lambda: deployment_ready(k8s, namespace, "llm", "repo/llm:v1"), 60, "GPU server ready")
    before = _dep(k8s, namespace).metadata.resource_version
    result = rollout(tg, name="llm", namespace=namespace, image="repo/llm:v2")
    assert result["failed"] and result["changed"] is False, result
    assert "free GPUs (gpu-0: 0) hold 0: nothing was changed" in result["msg"]
    assert "Set max_unavailable to 1" in result["msg"]
    assert _dep(k8s, namespace).metadata.resource_version == before
    # As advised: one pod at a time goes through.
    done = rollout(tg, name="llm", namespace=namespace, image="repo/llm:v2", max_unavailable=1, max_surge=0)
    assert done["verdict"] == "complete", done


def test_surge_pod_that_no_node_can_take_fails_as_unschedulable(tg, k8s, namespace):
    # Two replicas fill both CPU nodes (32 cores each) past half: a third pod of 20 cores fits nowhere.
    big = {"requests": {"cpu": "20"}}
    k8s.apps.create_namespaced_deployment(namespace, deployment_manifest(
        "llm", "repo/llm:v1", replicas=2, max_surge=1, max_unavailable=0, resources=big))
    wait_for(lambda: deployment_ready(k8s, namespace, "llm", "repo/llm:v1"), 60, "server ready")
    result = rollout(tg, name="llm", namespace=namespace, image="repo/llm:v2", unschedulable_seconds=2)
    assert result["reason"] == "unschedulable", result
    assert "Insufficient cpu" in result["message"]
    assert result["verdict"] == "rolled_back"
    assert _image(_dep(k8s, namespace)) == "repo/llm:v1"
    wait_for(lambda: deployment_ready(k8s, namespace, "llm", "repo/llm:v1"), 30, "back on v1")
    # The stuck surge pod is gone with its ReplicaSet scaled to zero.
    wait_for(lambda: all(p.spec.containers[0].image == "repo/llm:v1" for p in
                         k8s.core.list_namespaced_pod(namespace, label_selector="app=llm").items), 30,
             "no v2 pod left")


def test_on_failure_pause_and_fail_leave_the_deployment_for_a_person(tg, k8s, namespace):
    _deploy(k8s, namespace)
    paused = rollout(tg, name="llm", namespace=namespace, image="repo/model:crash", on_failure="pause")
    assert (paused["verdict"], paused["reason"]) == ("paused", "crash_loop")
    assert paused["failed"] is True
    d = _dep(k8s, namespace)
    assert d.spec.paused is True
    assert _image(d) == "repo/model:crash"
    ours = _our_writes(k8s, namespace)
    again = rollout(tg, name="llm", namespace=namespace, image="repo/model:v3")
    assert again["failed"] and "is paused" in again["msg"]
    # Nothing written after the pause, by the refused re-run either.
    after = _dep(k8s, namespace)
    assert after.metadata.generation == d.metadata.generation
    assert _image(after) == "repo/model:crash"
    assert _our_writes(k8s, namespace) == ours


HELD = {"testground.modelops.serving/ready": "false"}


def _release_pods(k8s, ns, image, name="llm"):
    """Give Ready to the live pods of ``image`` that the template's ``ready: "false"`` holds back."""
    for p in k8s.core.list_namespaced_pod(ns, label_selector="app=%s" % name).items:
        if p.spec.containers[0].image == image and p.metadata.deletion_timestamp is None \
                and (p.metadata.annotations or {}).get("testground.modelops.serving/ready") == "false":
            k8s.core.patch_namespaced_pod(p.metadata.name, ns, {"metadata": {"annotations": {
                "testground.modelops.serving/ready": "true"}}})


def _deploy_held(k8s, ns, name="llm", image="repo/model:v1", **kw):
    """A Deployment whose template holds every new pod not Ready until the test releases it; v1 released."""
    k8s.apps.create_namespaced_deployment(ns, deployment_manifest(name, image, annotations=dict(HELD), **kw))
    k8s.core.create_namespaced_service(ns, service_manifest(name))
    wait_for(lambda: _release_pods(k8s, ns, image, name) or deployment_ready(k8s, ns, name, image), 60,
             "%s released and ready on %s" % (name, image))
    return k8s.apps.read_namespaced_deployment(name, ns)


def test_apiserver_restart_mid_rollout_still_reaches_the_verdict(tg, k8s, namespace):
    _deploy_held(k8s, namespace)
    run = PlaybookRun(tg, "modelops.serving.model_rollout",
                      {"name": "llm", "namespace": namespace, "image": "repo/model:v2"})
    # The new pods are held not Ready: the rollout waits for as long as the restart takes.
    assert run.wait_for_progress(lambda line: "updated" in line, 120), run.output
    tg.restart_apiserver(down_seconds=2)
    assert run.proc.poll() is None, run.output  # still waiting on the held pods after the restart
    wait_for(lambda: _release_pods(k8s, namespace, "repo/model:v2") or run.proc.poll() is not None, 120,
             "the run to finish")
    result = run.wait()
    assert result["verdict"] == "complete", result
    assert result["api"]["watch_disconnects"] >= 1
    from kubernetes import client

    d = client.AppsV1Api(tg.api()).read_namespaced_deployment("llm", namespace)
    assert _image(d) == "repo/model:v2"
    assert d.status.updated_replicas == 3 and d.status.available_replicas == 3


def test_two_concurrent_runs_one_changes_the_other_names_the_holder(tg, k8s, namespace):
    # The new pods are held not Ready until the second run has been refused: the first is still
    # waiting then, however slow the machine.
    _deploy_held(k8s, namespace)
    first = PlaybookRun(tg, "modelops.serving.model_rollout",
                        {"name": "llm", "namespace": namespace, "image": "repo/model:v2",
                         "lock_identity": "first-run"})
    assert first.wait_for_progress(lambda line: "patched" in line, 120), first.output
    second = rollout(tg, name="llm", namespace=namespace, image="repo/model:v3", lock_identity="second-run")
    assert first.proc.poll() is None, first.output
    wait_for(lambda: _release_pods(k8s, namespace, "repo/model:v2") or first.proc.poll() is not None, 120,
             "the first run to finish")
    done = first.wait()
    assert done["verdict"] == "complete" and done["changed"] is True
    assert second["failed"] is True and second["changed"] is False
    assert "held by first-run" in second["msg"]
    assert _image(_dep(k8s, namespace)) == "repo/model:v2"
    # The lock is released after the run.
    assert not k8s.coordination.list_namespaced_lease(namespace).items


def test_stale_lock_of_a_dead_run_is_taken_over(tg, k8s, namespace):
    _deploy(k8s, namespace)
    lease = {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "modelops-rollout-llm", "namespace": namespace},
        "spec": {"holderIdentity": "crashed-run", "leaseDurationSeconds": 5,
                 "renewTime": "2020-01-01T00:00:00.000000Z", "acquireTime": "2020-01-01T00:00:00.000000Z"},
    }
    tg.kubectl("apply", "-f", "-", input=json.dumps(lease))
    result = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2")
    assert result["verdict"] == "complete", result


def test_killed_run_is_resumed_without_a_second_rollout(tg, k8s, namespace):
    _deploy_held(k8s, namespace)
    args = {"name": "llm", "namespace": namespace, "image": "repo/model:v2"}
    run = PlaybookRun(tg, "modelops.serving.model_rollout", args)
    assert run.wait_for_progress(lambda line: "patched" in line, 120), run.output
    run.kill()
    # The new pods are held: the rollout is under way, and stays so until the test releases them.
    d = _dep(k8s, namespace)
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert (d.status.updated_replicas or 0) < 3 or (d.status.available_replicas or 0) < 3 or \
        (d.status.observed_generation or 0) < d.metadata.generation
    # The dead run's Lease would make the rerun wait out its TTL; delete it as an operator would.
    k8s.coordination.delete_namespaced_lease("modelops-rollout-llm", namespace)
    rerun = PlaybookRun(tg, "modelops.serving.model_rollout", args)
    # The rerun reads the unfinished rollout and waits on it; only then are the new pods released.
    assert rerun.wait_for_progress(lambda line: "updated" in line, 120), rerun.output
    assert any(p.spec.containers[0].image == "repo/model:v2" and not any(
        c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        for p in k8s.core.list_namespaced_pod(namespace, label_selector="app=llm").items)
    wait_for(lambda: _release_pods(k8s, namespace, "repo/model:v2") or rerun.proc.poll() is not None, 120,
             "the rerun to finish")
    result = rerun.wait()
    assert result["verdict"] == "complete", result
    assert result["changed"] is False and result["resumed"] is True, result
    assert len(_replicasets(k8s, namespace)) == 2
    assert _dep(k8s, namespace).metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert deployment_ready(k8s, namespace, "llm", "repo/model:v2")


def test_hpa_managed_deployment_keeps_the_hpa_replica_count(tg, k8s, namespace):
    _deploy(k8s, namespace)
    k8s.autoscaling.create_namespaced_horizontal_pod_autoscaler(namespace, {
        "metadata": {"name": "llm"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"},
                 "minReplicas": 5, "maxReplicas": 10,
                 "metrics": [{"type": "Resource", "resource": {
                     "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]},
    })
    # The HPA controller raises replicas to its minimum.
    wait_for(lambda: _dep(k8s, namespace).spec.replicas == 5, 60, "HPA to scale to 5")
    result = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2")
    assert result["verdict"] == "complete", result
    d = _dep(k8s, namespace)
    assert d.spec.replicas == 5
    assert d.status.updated_replicas == 5


def test_check_mode_reports_the_change_and_writes_nothing(tg, k8s, namespace):
    _deploy(k8s, namespace)
    before = _dep(k8s, namespace).metadata.resource_version
    run = PlaybookRun(tg, "modelops.serving.model_rollout",
                      {"name": "llm", "namespace": namespace, "image": "repo/model:v2", "max_surge": 2},
                      check=True, diff=True)
    result = run.wait()
    assert result["changed"] is True and result["verdict"] == "pending"
    assert result["diff"]["before"]["image"] == "repo/model:v1"
    assert result["diff"]["after"]["image"] == "repo/model:v2"
    assert result["diff"]["after"]["strategy"]["max_surge"] == 2
    assert _dep(k8s, namespace).metadata.resource_version == before
    assert not k8s.coordination.list_namespaced_lease(namespace).items


BAD_INPUT = [
    ({"name": "nope"}, "Deployment 'nope' not found in namespace"),
    ({"namespace": "no-such-namespace"}, "namespace 'no-such-namespace' does not exist"),
    ({"container": "sidecar"}, "container 'sidecar' not found in Deployment"),
    ({"image": "Repo/Model:v2"}, "is not a valid image reference"),
    ({"image": "repo/model:"}, "is not a valid image reference"),
    ({"max_surge": -1}, "max_surge must not be negative"),
    ({"max_surge": "lots"}, "max_surge must be a whole number or a percentage"),
    ({"max_unavailable": "150%"}, "maxUnavailable"),
    ({"max_surge": 0, "max_unavailable": 0}, "cannot both be 0"),
    ({"timeout": "soon"}, "timeout"),
    ({"timeout": -5}, "timeout must be at least 1"),
    ({"progress_deadline_seconds": 5, "min_ready_seconds": 10}, "must be greater than min_ready_seconds"),
]


@pytest.mark.parametrize("override, words", BAD_INPUT, ids=[case[1] for case in BAD_INPUT])
def test_bad_input_is_named_and_changes_nothing(tg, k8s, namespace, override, words):
    _deploy(k8s, namespace)
    before = _dep(k8s, namespace).metadata.resource_version
    args = {"name": "llm", "namespace": namespace, "image": "repo/model:v2"}
    args.update(override)
    result = rollout(tg, **args)
    assert result["failed"] is True and result["changed"] is False
    assert words in result["msg"], result["msg"]
    assert "Traceback" not in result["msg"]
    assert _dep(k8s, namespace).metadata.resource_version == before


def test_unreachable_and_unauthorized_clusters_are_named(tg, k8s, namespace, tmp_path):
    _deploy(k8s, namespace)
    unreachable = run_module(None, "modelops.serving.model_rollout", {
        "host": "https://127.0.0.1:1", "api_key": "x", "validate_certs": False,
        "name": "llm", "namespace": namespace, "image": "repo/model:v2"})
    assert unreachable["failed"] and "cannot reach the Kubernetes API at https://127.0.0.1:1" in unreachable["msg"]
    unauthorized = run_module(None, "modelops.serving.model_rollout", {
        "host": tg.server, "api_key": "not-a-valid-token", "ca_cert": tg.pki["ca_crt"],
        "name": "llm", "namespace": namespace, "image": "repo/model:v2"})
    assert unauthorized["failed"] and "401 Unauthorized" in unauthorized["msg"]
    assert "not-a-valid-token" not in unauthorized["msg"]
    assert _image(_dep(k8s, namespace)) == "repo/model:v1"


def test_minimal_rbac_from_the_shipped_role_is_enough(tg, k8s, namespace):
    _deploy(k8s, namespace)
    with open(os.path.join(REPO_ROOT, "docs", "rbac", "model-rollout.yml")) as f:
        role = yaml.safe_load(f)
    k8s.rbac.create_namespaced_role(namespace, role)
    k8s.core.create_namespaced_service_account(namespace, {"metadata": {"name": "deployer"}})
    k8s.rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "deployer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}],
    })
    token = k8s.core.create_namespaced_service_account_token(
        "deployer", namespace, {"spec": {"expirationSeconds": 3600}}).status.token
    auth = {"host": tg.server, "api_key": token, "ca_cert": tg.pki["ca_crt"]}
    done = run_module(None, "modelops.serving.model_rollout",
                      dict(auth, name="llm", namespace=namespace, image="repo/model:v2"))
    assert done["verdict"] == "complete", done
    failed = run_module(None, "modelops.serving.model_rollout",
                        dict(auth, name="llm", namespace=namespace, image="repo/model:crash"))
    assert failed["verdict"] == "rolled_back", failed
    assert failed["diagnostics"][0]["log_tail"], failed["diagnostics"]
    info = run_module(None, "modelops.serving.model_rollout_info", dict(auth, name="llm", namespace=namespace))
    assert info["deployments"][0]["image"] == "repo/model:v2", info


# -- the engine's regimes: long rollouts, people and controllers acting, clocks that disagree ------------
def _delay(seconds):
    return {"testground.modelops.serving/ready-delay": "%ds" % seconds}


def _generation(k8s, ns, name="llm"):
    return _dep(k8s, ns, name).metadata.generation


def _our_writes(k8s, ns, name="llm"):
    """managedFields times of this collection's writes to the Deployment."""
    return sorted(m.time for m in _dep(k8s, ns, name).metadata.managed_fields or [] if m.manager == "modelops.serving")


@pytest.mark.parametrize("replicas, surge, delay, deadline", [(8, 1, 6, 12), (20, 2, 6, 12)], ids=["8", "20"])
def test_a_slow_rollout_longer_than_the_old_fixed_deadline_completes_with_defaults(
        tg, k8s, namespace, replicas, surge, delay, deadline):
    # Every new pod loads for `delay` s and only `surge` start at a time, so the rollout takes at least
    # replicas / surge * delay s: far beyond progressDeadlineSeconds + 30 s (the old fixed deadline),
    # while the controller sees progress with every pod, well inside its deadline.
    _deploy(k8s, namespace, replicas=replicas, max_surge=surge, max_unavailable=0, progress_deadline=deadline,
            annotations=_delay(delay))
    assert replicas // surge * delay > deadline + 30
    result = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2")
    assert result["verdict"] == "complete", result.get("msg") or result
    assert deployment_ready(k8s, namespace, "llm", "repo/model:v2")
    assert [p["updated"] for p in result["timeline"]][-1] == replicas
    d = _dep(k8s, namespace)
    assert not any(c.reason == "ProgressDeadlineExceeded" for c in d.status.conditions or [])


def test_a_rollout_that_really_stops_fails_at_the_progress_deadline_naming_the_cause(tg, k8s, namespace):
    _deploy(k8s, namespace, progress_deadline=600)
    result = rollout(tg, name="llm", namespace=namespace, image="repo/model:broken", progress_deadline_seconds=8)
    assert (result["verdict"], result["reason"]) == ("rolled_back", "progress_deadline_exceeded"), result
    assert "exceeded its progress deadline (8s without progress)" in result["message"]
    assert "ContainersNotReady" in result["message"] and "new pods" in result["message"]
    assert _image(_dep(k8s, namespace)) == "repo/model:v1"


def test_kubectl_rollout_pause_mid_rollout_is_reported_and_nothing_is_written_after(tg, k8s, namespace):
    _deploy(k8s, namespace, replicas=4, max_surge=1, max_unavailable=0, annotations=_delay(8))
    run = PlaybookRun(tg, "modelops.serving.model_rollout",
                      {"name": "llm", "namespace": namespace, "image": "repo/model:v2"})
    assert run.wait_for_progress(lambda line: "1/4 updated" in line, 120), run.output
    tg.kubectl("-n", namespace, "rollout", "pause", "deployment/llm")
    paused_generation = _generation(k8s, namespace)
    ours = _our_writes(k8s, namespace)
    result = run.wait()
    assert (result["verdict"], result["reason"]) == ("paused", "paused"), result
    assert result["failed"] is True
    assert "was paused by kubectl" in result["message"] and "kubectl rollout resume" in result["message"]
    d = _dep(k8s, namespace)
    assert d.spec.paused is True
    assert d.metadata.generation == paused_generation
    assert _image(d) == "repo/model:v2"
    assert "modelops.serving/rolled-back-from" not in (d.metadata.annotations or {})
    assert _our_writes(k8s, namespace) == ours


def test_a_holder_whose_clock_is_10_minutes_behind_keeps_its_live_lease(tg, k8s, namespace):
    import datetime
    import threading

    _deploy(k8s, namespace)
    before = _dep(k8s, namespace).metadata.resource_version

    def skewed():
        behind = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
        return behind.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    k8s.coordination.create_namespaced_lease(namespace, {
        "metadata": {"name": "modelops-rollout-llm"},
        "spec": {"holderIdentity": "laptop-10-min-behind", "leaseDurationSeconds": 6,
                 "acquireTime": skewed(), "renewTime": skewed()}})
    stop = threading.Event()

    def holder():
        # The holder lives: it renews every 2 s, writing its own clock's time, 10 minutes behind ours.
        while not stop.wait(2):
            k8s.coordination.patch_namespaced_lease("modelops-rollout-llm", namespace,
                                                    {"spec": {"renewTime": skewed()}})

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    try:
        result = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2")
    finally:
        stop.set()
        thread.join()
    assert (result["verdict"], result["reason"], result["changed"]) == ("failed", "lock_held", False), result
    assert "held by laptop-10-min-behind" in result["message"]
    assert "its clock differs from ours" in result["message"]
    assert _dep(k8s, namespace).metadata.resource_version == before
    lease = k8s.coordination.read_namespaced_lease("modelops-rollout-llm", namespace)
    assert lease.spec.holder_identity == "laptop-10-min-behind"


class _Frozen:
    """kube-controller-manager SIGSTOPped for the block, and always thawed after it."""

    def __init__(self, tg):
        self.process = tg.components["kube-controller-manager"]

    def __enter__(self):
        self.process.freeze()
        return self

    def __exit__(self, *exc):
        self.process.thaw()


def test_a_controller_frozen_mid_rollout_is_no_verdict_on_the_template(tg, k8s, namespace):
    _deploy(k8s, namespace, replicas=3, max_surge=1, max_unavailable=0, progress_deadline=10, annotations=_delay(6))
    run = PlaybookRun(tg, "modelops.serving.model_rollout",
                      {"name": "llm", "namespace": namespace, "image": "repo/model:v2"})
    assert run.wait_for_progress(lambda line: "1/3 updated" in line, 120), run.output
    with _Frozen(tg):
        frozen_generation = _generation(k8s, namespace)
        ours = _our_writes(k8s, namespace)
        result = run.wait()
        d = _dep(k8s, namespace)
    assert (result["verdict"], result["reason"]) == ("failed", "controller_stalled"), result
    assert "kube-controller-manager has not acted on Deployment" in result["message"]
    assert "nothing more was written" in result["message"]
    assert d.metadata.generation == frozen_generation and _image(d) == "repo/model:v2"
    assert _our_writes(k8s, namespace) == ours
    # Back at work, the controller finishes the rollout of the template nobody judged.
    wait_for(lambda: deployment_ready(k8s, namespace, "llm", "repo/model:v2"), 120, "v2 rolled out after the thaw")


def test_a_controller_that_never_observes_the_change_is_named_with_how_long(tg, k8s, namespace):
    _deploy(k8s, namespace)
    with _Frozen(tg):
        result = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2")
        d = _dep(k8s, namespace)
    assert (result["verdict"], result["reason"]) == ("failed", "controller_stalled"), result
    assert "kube-controller-manager has not observed generation 2" in result["message"]
    assert "for 3" in result["message"]
    assert d.metadata.generation == 2 and _image(d) == "repo/model:v2"
    assert "modelops.serving/rolled-back-from" not in (d.metadata.annotations or {})
    wait_for(lambda: deployment_ready(k8s, namespace, "llm", "repo/model:v2"), 120, "v2 rolled out after the thaw")
