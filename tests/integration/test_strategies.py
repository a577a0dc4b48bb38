"""Canary and blue/green strategies of model_rollout, on the real controllers."""

import datetime

from tests.helpers.witness import Witness
from tests.integration.ansible_runner_helpers import PlaybookRun, rollout
from tests.integration.conftest import (
    Sampler,
    deployment_manifest,
    deployment_ready,
    ready_endpoint_targets,
    service_manifest,
    wait_for,
)


class Mix(Sampler):
    """Samples, from EndpointSlices, how many ready endpoints run each image, and the Service selector."""

    def __init__(self, k8s, ns, service="llm"):
        super().__init__()
        self.k8s = k8s
        self.ns = ns
        self.service = service

    def sample(self):
        pods = {p.metadata.name: p for p in self.k8s.core.list_namespaced_pod(self.ns).items}
        mix = {}
        for name in ready_endpoint_targets(self.k8s, self.ns, self.service):
            if name in pods:
                image = pods[name].spec.containers[0].image
                mix[image] = mix.get(image, 0) + 1
        selector = self.k8s.core.read_namespaced_service(self.service, self.ns).spec.selector
        deployments = {d.metadata.name: d for d in self.k8s.apps.list_namespaced_deployment(self.ns).items}
        return mix, dict(selector), deployments

    def totals(self):
        return [sum(mix.values()) for mix, _sel, _deps in self.samples]


def _deploy(k8s, ns, replicas=4, image="repo/model:v1", **kw):
    k8s.apps.create_namespaced_deployment(ns, deployment_manifest("llm", image, replicas=replicas, **kw))
    k8s.core.create_namespaced_service(ns, service_manifest("llm"))
    wait_for(lambda: deployment_ready(k8s, ns, "llm", image), 60, "llm ready")
    wait_for(lambda: sum(Mix(k8s, ns).sample()[0].values()) == replicas, 30, "endpoints ready")
    return k8s.apps.read_namespaced_deployment("llm", ns)


def _names(k8s, ns):
    return sorted(d.metadata.name for d in k8s.apps.list_namespaced_deployment(ns).items)


def _assert_durations_cover_the_phases(result):
    """A failed canary or green: the wait and the rollback (diagnostics, removal) each land in a duration."""
    durations = result["durations"]
    assert durations["rollout"] > 0 and durations["rollback"] > 0, durations
    parts = sum(durations[k] for k in ("change", "rollout", "gate", "rollback"))
    assert parts <= durations["total"] + 0.01, durations


def test_canary_steps_show_the_expected_mix_and_promote(tg, k8s, namespace):
    _deploy(k8s, namespace)
    with Witness(k8s, namespace) as witness:
        result = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2", strategy="canary",
                         canary_steps=[25, 50], canary_pause_seconds=2)
        witness.catch_up(lambda s: s.serving_images("llm") == {"repo/model:v2": 4})
    assert result["verdict"] == "complete", result
    assert [(s["percent"], s["canary_replicas"], s["stable_replicas"], s["ok"]) for s in result["canary"]["steps"]] \
        == [(25, 1, 4, True), (50, 2, 4, True)]
    mixes = witness.mixes("llm")
    # Each step served, in order: 4 stable beside 1 canary pod, then beside 2.
    step1 = mixes.index({"repo/model:v1": 4, "repo/model:v2": 1})
    step2 = mixes.index({"repo/model:v1": 4, "repo/model:v2": 2})
    assert step1 < step2, mixes
    # Stable floor: replicas - maxUnavailable, at every write the witness saw.
    assert witness.floor("llm") >= 3, witness.ready_counts("llm")
    assert _names(k8s, namespace) == ["llm"]
    d = k8s.apps.read_namespaced_deployment("llm", namespace)
    assert d.spec.template.spec.containers[0].image == "repo/model:v2"


def test_canary_with_a_crashing_image_fails_the_first_step_and_leaves_stable_untouched(tg, k8s, namespace):
    before = _deploy(k8s, namespace)
    result = rollout(tg, name="llm", namespace=namespace, image="repo/model:crash", strategy="canary",
                     canary_steps=[25, 50])
    assert result["verdict"] == "rolled_back" and result["reason"] == "crash_loop", result
    assert "canary step 1 (25%) failed" in result["message"] and "CrashLoopBackOff" in result["message"]
    assert [s["ok"] for s in result["canary"]["steps"]] == [False]
    _assert_durations_cover_the_phases(result)
    wait_for(lambda: _names(k8s, namespace) == ["llm"], 30, "canary deleted")
    after = k8s.apps.read_namespaced_deployment("llm", namespace)
    assert after.metadata.resource_version == before.metadata.resource_version
    assert after.spec.template.spec.containers[0].image == "repo/model:v1"


def _green_hash(state):
    """The pod-template-hash the Service selects when it points at green pods, else None."""
    pinned = state.selectors.get("llm", {}).get("pod-template-hash")
    pods = [p for p in state.pods.values() if p.template_hash == pinned]
    return pinned if pinned and pods and all((p.owner or "").startswith("llm-green-") for p in pods) else None


def test_blue_green_switches_only_after_green_is_ready_and_ends_on_one_deployment(tg, k8s, namespace):
    _deploy(k8s, namespace)
    with Witness(k8s, namespace) as witness:
        result = rollout(tg, name="llm", namespace=namespace, image="repo/model:v2", strategy="blue_green",
                         service="llm", rollback_window_seconds=2)
        witness.catch_up(lambda s: s.serving_images("llm") == {"repo/model:v2": 4}
                         and s.selectors.get("llm") == {"app": "llm"})
    assert result["verdict"] == "complete", result
    switched = witness.first(lambda s: _green_hash(s) is not None)
    assert switched is not None, "the Service never selected green pods"
    # At the write that pointed the Service at green, every green pod was already Ready.
    green_ready = switched.ready_pods(template_hash=_green_hash(switched))
    assert len(green_ready) == 4, [(p.name, p.ready) for p in switched.pods.values()]
    # Until that write, only blue served.
    before = [s for s in witness.states() if s.rv < switched.rv]
    assert before and all(set(s.serving_images("llm")) <= {"repo/model:v1"} for s in before)
    assert witness.floor("llm") >= 3, witness.ready_counts("llm")
    assert _names(k8s, namespace) == ["llm"]
    svc = k8s.core.read_namespaced_service("llm", namespace)
    assert svc.spec.selector == {"app": "llm"}
    assert not (svc.metadata.annotations or {}).get("modelops.serving/original-selector")
    assert k8s.apps.read_namespaced_deployment("llm", namespace).spec.template.spec.containers[0].image == \
        "repo/model:v2"


def _set_ready(k8s, ns, ready, owner_prefix):
    """Make the live pods of ReplicaSets named ``owner_prefix``* gain or lose Ready (test ground annotation)."""
    for p in k8s.core.list_namespaced_pod(ns).items:
        owner = (p.metadata.owner_references or [None])[0]
        if owner is not None and owner.name.startswith(owner_prefix) and p.metadata.deletion_timestamp is None:
            k8s.core.patch_namespaced_pod(p.metadata.name, ns, {"metadata": {"annotations": {
                "testground.modelops.serving/ready": "true" if ready else "false"}}})


def test_blue_green_rolls_back_in_one_write_within_the_window(tg, k8s, namespace):
    _deploy(k8s, namespace)
    with Witness(k8s, namespace) as witness:
        run = PlaybookRun(tg, "modelops.serving.model_rollout",
                          {"name": "llm", "namespace": namespace, "image": "repo/model:v2",
                           "strategy": "blue_green", "service": "llm", "rollback_window_seconds": 600})
        # The window is open (the Service points at green); then green's pods lose Ready.
        assert run.wait_for_progress(_hold_line, 120), run.output
        _set_ready(k8s, namespace, False, "llm-green-")
        result = run.wait()
        witness.catch_up(lambda s: s.serving_images("llm") == {"repo/model:v1": 4}
                         and s.selectors.get("llm") == {"app": "llm"})
    assert result["verdict"] == "rolled_back", result
    assert result["reason"] == "bake_not_ready", result
    assert "switched back to blue in one write" in result["message"]
    _assert_durations_cover_the_phases(result)
    # The witness saw the Service point at green, then straight back at blue.
    switched = witness.first(lambda s: _green_hash(s) is not None)
    assert switched is not None, "the Service never selected green pods"
    back = witness.first(lambda s: s.rv > switched.rv and _green_hash(s) is None)
    assert back is not None and "llm-green" not in str(back.selectors.get("llm"))
    wait_for(lambda: _names(k8s, namespace) == ["llm"], 30, "green deleted")
    assert k8s.core.read_namespaced_service("llm", namespace).spec.selector == {"app": "llm"}
    assert k8s.apps.read_namespaced_deployment("llm", namespace).spec.template.spec.containers[0].image == \
        "repo/model:v1"


def test_blue_green_without_gpu_room_for_two_colours_is_refused_before_any_change(tg, k8s, namespace):
    manifest = deployment_manifest("llm", "repo/llm:v1", replicas=1, max_surge=0, max_unavailable=1,
                                   resources={"limits": {"nvidia.com/gpu": "1"}})
    manifest["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    k8s.apps.create_namespaced_deployment(namespace, manifest)
    k8s.core.create_namespaced_service(namespace, service_manifest("llm"))
    wait_for(lambda: deployment_ready(k8s, namespace, "llm", "repo/llm:v1"), 60, "GPU server ready")
    before = k8s.core.read_namespaced_service("llm", namespace).metadata.resource_version
    result = rollout(tg, name="llm", namespace=namespace, image="repo/llm:v2", strategy="blue_green", service="llm")
    assert result["failed"] and result["changed"] is False, result
    assert "needs 1 more pod(s) with 1 nvidia.com/gpu each" in result["msg"]
    assert "nothing was changed" in result["msg"]
    assert _names(k8s, namespace) == ["llm"]
    assert k8s.core.read_namespaced_service("llm", namespace).metadata.resource_version == before


def test_canary_killed_mid_step_continues_from_the_recorded_step(tg, k8s, namespace):
    _deploy(k8s, namespace)
    args = {"name": "llm", "namespace": namespace, "image": "repo/model:v2", "strategy": "canary",
            "canary_steps": [25, 50], "canary_pause_seconds": 2, "lock_ttl_seconds": 5}
    # The first run's pause outlasts any kill, however slow the machine.
    run = PlaybookRun(tg, "modelops.serving.model_rollout", dict(args, canary_pause_seconds=600))
    assert run.wait_for_progress(lambda line: "holding" in line, 120), run.output
    run.kill()
    assert _names(k8s, namespace) == ["llm", "llm-canary"]
    wait_for(lambda: _lease_stale(k8s, namespace), 60, "the dead run's Lease to go stale")
    result = rollout(tg, **args)
    assert result["verdict"] == "complete", result
    assert result["resumed"] is True
    assert [s["percent"] for s in result["canary"]["steps"]] == [25, 50]
    wait_for(lambda: _names(k8s, namespace) == ["llm"], 30, "canary gone")
    assert k8s.apps.read_namespaced_deployment("llm", namespace).spec.template.spec.containers[0].image == \
        "repo/model:v2"


def _lease_stale(k8s, ns):
    """The Lease's renewTime is older than its own duration (this machine's clock is the cluster's)."""
    spec = k8s.coordination.read_namespaced_lease("modelops-rollout-llm", ns).spec
    age = datetime.datetime.now(datetime.timezone.utc) - spec.renew_time
    return age.total_seconds() > spec.lease_duration_seconds + 1


# -- holds several times longer than the Lease, other runs, and a lost Lease ------------------------------
def _lease(k8s, ns):
    return k8s.coordination.read_namespaced_lease("modelops-rollout-llm", ns)


CANARY = {"strategy": "canary", "canary_steps": [50], "canary_pause_seconds": 20, "lock_ttl_seconds": 5}
BLUE_GREEN = {"strategy": "blue_green", "service": "llm", "rollback_window_seconds": 20, "lock_ttl_seconds": 5}


def _hold_line(line):
    return "holding" in line


def test_a_second_run_during_a_canary_pause_four_times_the_lease_is_refused_naming_the_holder(tg, k8s, namespace):
    _deploy(k8s, namespace)
    first = PlaybookRun(tg, "modelops.serving.model_rollout",
                        dict(CANARY, name="llm", namespace=namespace, image="repo/model:v2", lock_identity="first-run"))
    assert first.wait_for_progress(_hold_line, 120), first.output
    second = rollout(tg, name="llm", namespace=namespace, image="repo/model:v3", lock_identity="second-run")
    done = first.wait()
    assert (second["verdict"], second["reason"], second["changed"]) == ("failed", "lock_held", False), second
    assert "held by first-run" in second["message"]
    assert done["verdict"] == "complete", done
    assert k8s.apps.read_namespaced_deployment("llm", namespace).spec.template.spec.containers[0].image == \
        "repo/model:v2"
    assert _names(k8s, namespace) == ["llm"]


def test_a_second_run_during_a_blue_green_window_four_times_the_lease_is_refused(tg, k8s, namespace):
    _deploy(k8s, namespace)
    first = PlaybookRun(tg, "modelops.serving.model_rollout",
                        dict(BLUE_GREEN, name="llm", namespace=namespace, image="repo/model:v2",
                             lock_identity="first-run"))
    assert first.wait_for_progress(_hold_line, 120), first.output
    second = rollout(tg, name="llm", namespace=namespace, image="repo/model:v3", strategy="blue_green",
                     service="llm", lock_identity="second-run")
    done = first.wait()
    assert (second["reason"], second["changed"]) == ("lock_held", False), second
    assert "held by first-run" in second["message"]
    assert done["verdict"] == "complete", done
    assert _names(k8s, namespace) == ["llm"]
    assert k8s.core.read_namespaced_service("llm", namespace).spec.selector == {"app": "llm"}


def test_a_lease_stolen_mid_canary_pause_ends_lock_lost_with_the_canary_removed(tg, k8s, namespace):
    before = _deploy(k8s, namespace)
    run = PlaybookRun(tg, "modelops.serving.model_rollout",
                      dict(CANARY, canary_pause_seconds=60, name="llm", namespace=namespace, image="repo/model:v2"))
    assert run.wait_for_progress(_hold_line, 120), run.output
    k8s.coordination.patch_namespaced_lease("modelops-rollout-llm", namespace,
                                            {"spec": {"holderIdentity": "someone-else"}})
    result = run.wait()
    assert (result["verdict"], result["reason"]) == ("failed", "lock_lost"), result
    assert "taken by someone-else" in result["message"]
    for key in ("changed", "previous", "current", "rolled_back_to", "diagnostics", "timeline", "durations"):
        assert key in result
    wait_for(lambda: _names(k8s, namespace) == ["llm"], 30, "canary removed")
    after = k8s.apps.read_namespaced_deployment("llm", namespace)
    assert after.metadata.resource_version == before.metadata.resource_version
    assert _lease(k8s, namespace).spec.holder_identity == "someone-else"


def test_a_lease_deleted_mid_blue_green_window_ends_lock_lost_with_green_removed(tg, k8s, namespace):
    before = _deploy(k8s, namespace)
    run = PlaybookRun(tg, "modelops.serving.model_rollout",
                      dict(BLUE_GREEN, rollback_window_seconds=60, name="llm", namespace=namespace,
                           image="repo/model:v2"))
    assert run.wait_for_progress(_hold_line, 120), run.output
    k8s.coordination.delete_namespaced_lease("modelops-rollout-llm", namespace)
    result = run.wait()
    assert (result["verdict"], result["reason"]) == ("failed", "lock_lost"), result
    assert "was deleted" in result["message"]
    wait_for(lambda: _names(k8s, namespace) == ["llm"], 30, "green removed")
    svc = k8s.core.read_namespaced_service("llm", namespace)
    assert svc.spec.selector == {"app": "llm"}
    assert not (svc.metadata.annotations or {}).get("modelops.serving/original-selector")
    after = k8s.apps.read_namespaced_deployment("llm", namespace)
    assert after.metadata.resource_version == before.metadata.resource_version
    wait_for(lambda: sum(Mix(k8s, namespace).sample()[0].values()) == 4, 30, "blue serving alone")
