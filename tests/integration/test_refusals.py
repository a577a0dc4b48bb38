"""Pods the API refuses to create: ResourceQuota, LimitRange, a denying admission webhook and Pod Security.

Each fails within seconds with the API's own message and the object named, rolls back, and holds the
capacity floor as an independent EndpointSlice sampler sees it; quota is counted in the preflight.
"""

import pytest

from tests.integration.ansible_runner_helpers import rollout
from tests.integration.conftest import CapacitySampler, deployment_manifest, deployment_ready, service_manifest, wait_for

TERMINATE_DELAY = "testground.modelops.serving/terminate-delay"


def _create(k8s, ns, image="repo/model:v1", replicas=3, **kw):
    k8s.apps.create_namespaced_deployment(ns, deployment_manifest("llm", image, replicas=replicas, **kw))
    k8s.core.create_namespaced_service(ns, service_manifest("llm"))
    wait_for(lambda: deployment_ready(k8s, ns, "llm", image), 90, "llm ready on %s" % image)
    wait_for(lambda: len(CapacitySampler(k8s, ns, "llm").ready()) == replicas, 30, "endpoints of llm")
    return k8s.apps.read_namespaced_deployment("llm", ns)


def _quota(k8s, ns, name, hard):
    k8s.core.create_namespaced_resource_quota(ns, {"metadata": {"name": name}, "spec": {"hard": hard}})
    # The quota controller fills in what is used; admission and the preflight read it.
    wait_for(lambda: (k8s.core.read_namespaced_resource_quota(name, ns).status.used or {}).keys() >= hard.keys(), 30,
             "ResourceQuota %s used" % name)


def _refused(k8s, ns, image, resources=None):
    """True once the API refuses a pod like the rollout's (a server-side dry run goes through admission)."""
    from kubernetes.client.rest import ApiException

    container = {"name": "server", "image": image}
    if resources:
        container["resources"] = resources
    try:
        k8s.core.create_namespaced_pod(ns, {"metadata": {"generateName": "probe-", "labels": {"probe": "yes"}},
                                            "spec": {"containers": [container]}}, dry_run="All")
    except ApiException as exc:
        return exc.status in (403, 422)
    return False


def _label_namespace(k8s, ns, key, value):
    k8s.core.patch_namespace(ns, {"metadata": {"labels": {key: value}}})


def _template(k8s, ns):
    return k8s.apps.read_namespaced_deployment("llm", ns).spec.template.to_dict()


def _refused_and_rolled_back(k8s, ns, original, result, words):
    assert (result["verdict"], result["reason"]) == ("rolled_back", "create_refused"), result
    for word in words:
        assert word in result["message"], result["message"]
    entry = result["diagnostics"][0]
    assert entry["kind"] == "ReplicaSet" and entry["reason"] == "FailedCreate"
    assert any("FailedCreate" in e for e in entry["last_events"]), entry
    wait_for(lambda: deployment_ready(k8s, ns, "llm", "repo/model:v1"), 60, "v1 serving again")
    assert _template(k8s, ns) == original


CASES = {
    "limit_range": ("repo/model:v2", ["maximum cpu usage per Container is 1, but limit is 2", "LimitRange"]),
    "webhook": ("repo/model:denied", ['admission webhook "deny.testground.modelops.serving" denied the request',
                                      "image tag :denied is refused"]),
    "pod_security": ("repo/model:v2", ['violates PodSecurity "restricted:latest"']),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_refusal_of_the_template_fails_at_once_rolls_back_and_holds_the_floor(tg, k8s, namespace, case):
    image, words = CASES[case]
    limits = {"requests": {"cpu": "1"}, "limits": {"cpu": "2"}} if case == "limit_range" else None
    # maxUnavailable 0: a LimitRange or Pod Security refuses the old template's replacement pods as well.
    original = _create(k8s, namespace, resources=limits, max_surge=1, max_unavailable=0).spec.template.to_dict()
    if case == "limit_range":
        k8s.core.create_namespaced_limit_range(namespace, {
            "metadata": {"name": "small"}, "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}})
    elif case == "webhook":
        _label_namespace(k8s, namespace, *tg.admission())
    else:
        _label_namespace(k8s, namespace, "pod-security.kubernetes.io/enforce", "restricted")
    # Admission reads LimitRanges, webhook configurations and namespace labels from caches: wait until it refuses.
    wait_for(lambda: _refused(k8s, namespace, image, limits), 30, "the API to refuse a pod of %s" % image)
    with CapacitySampler(k8s, namespace, "llm") as cap:
        result = rollout(tg, name="llm", namespace=namespace, image=image)
        wait_for(lambda: deployment_ready(k8s, namespace, "llm", "repo/model:v1"), 60, "v1 serving again")
    _refused_and_rolled_back(k8s, namespace, original, result, words)
    assert cap.floor >= 3, cap.samples


def test_an_exceeded_quota_with_nothing_terminating_fails_in_seconds_and_rolls_back(tg, k8s, namespace):
    original = _create(k8s, namespace, max_surge=1, max_unavailable=0,
                       resources={"requests": {"cpu": "1"}}).spec.template.to_dict()
    _quota(k8s, namespace, "cpu-quota", {"requests.cpu": "3"})
    wait_for(lambda: _refused(k8s, namespace, "repo/model:v2", {"requests": {"cpu": "1"}}), 30, "quota to refuse")
    with CapacitySampler(k8s, namespace, "llm") as cap:
        result = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2")
    _refused_and_rolled_back(k8s, namespace, original, result,
                             ["exceeded quota: cpu-quota", "(ResourceQuota cpu-quota)", "ReplicaSet llm-"])
    # Not the progress deadline (600 s): the refusal itself ended the wait.
    assert "progress deadline" not in result["message"]
    assert cap.floor >= 3, cap.samples


def test_a_tight_quota_is_waited_out_while_our_own_old_pods_terminate(tg, k8s, namespace):
    # Old pods take 15 s to go: longer than the refusal grace, and each frees the quota for the next new pod.
    _create(k8s, namespace, replicas=2, max_surge=1, max_unavailable=1, annotations={TERMINATE_DELAY: "15s"})
    _quota(k8s, namespace, "pods-quota", {"pods": "2"})
    result = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2")
    assert (result["verdict"], result["reason"]) == ("complete", "complete"), result
    d = k8s.apps.read_namespaced_deployment("llm", namespace)
    assert d.spec.template.spec.containers[0].image == "repo/model:v2"
    assert d.status.updated_replicas == 2 and d.status.available_replicas == 2


def test_a_surge_only_rollout_that_the_pods_quota_cannot_admit_is_refused_before_any_write(tg, k8s, namespace):
    _create(k8s, namespace, max_surge=1, max_unavailable=0)
    _quota(k8s, namespace, "pods-quota", {"pods": "3"})
    before = k8s.apps.read_namespaced_deployment("llm", namespace).metadata.resource_version
    result = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2")
    assert result["failed"] and result["changed"] is False, result
    assert "ResourceQuota pods-quota allows 0 more pods" in result["msg"], result["msg"]
    assert "Set max_unavailable to 1" in result["msg"]
    assert k8s.apps.read_namespaced_deployment("llm", namespace).metadata.resource_version == before


def test_the_gpu_surge_preflight_counts_the_gpu_quota(tg, k8s, namespace):
    gpu = {"limits": {"nvidia.com/gpu": "1"}}
    manifest = deployment_manifest("llm", "repo/llm:v1", replicas=1, max_surge=1, max_unavailable=0, resources=gpu)
    manifest["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    k8s.apps.create_namespaced_deployment(namespace, manifest)
    wait_for(lambda: deployment_ready(k8s, namespace, "llm", "repo/llm:v1"), 60, "GPU server ready")
    _quota(k8s, namespace, "gpu-quota", {"requests.nvidia.com/gpu": "1"})
    before = k8s.apps.read_namespaced_deployment("llm", namespace).metadata.resource_version
    result = rollout(tg, name="llm", namespace=namespace, image="repo/llm:v2")
    assert result["failed"] and result["changed"] is False, result
    assert "ResourceQuota gpu-quota allows 0 more requests.nvidia.com/gpu" in result["msg"], result["msg"]
    assert k8s.apps.read_namespaced_deployment("llm", namespace).metadata.resource_version == before
