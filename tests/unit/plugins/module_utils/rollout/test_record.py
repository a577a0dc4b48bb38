"""The record a change leaves and the rollback target read back, from objects as the API returns them."""

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.rollout import record, spec, status
from ansible_collections.modelops.serving.plugins.module_utils.rollout.settings import Settings, with_defaults

UID = "dep-uid"


def template(image):
    return {"metadata": {"labels": {"app": "llm"}}, "spec": {"containers": [{"name": "server", "image": image}]}}


def deployment(image="repo/model:v2", revision=2, replicas=3, st=None, annotations=None, generation=5):
    ann = {"deployment.kubernetes.io/revision": str(revision)}
    ann.update(annotations or {})
    return {"metadata": {"name": "llm", "namespace": "serving", "uid": UID, "generation": generation,
                         "resourceVersion": "77", "annotations": ann},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "llm"}}, "template": template(image)},
            "status": st if st is not None else complete(replicas, generation)}


def complete(replicas, generation=5):
    return {"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas,
            "conditions": [{"type": "Available", "status": "True"},
                           {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}


def replicaset(image, revision, hash_, available=0, owner=UID, name=None, annotations=None):
    tpl = template(image)
    tpl["metadata"]["labels"]["pod-template-hash"] = hash_
    ann = {"deployment.kubernetes.io/revision": str(revision)}
    ann.update(annotations or {})
    return {"metadata": {"name": name or "llm-" + hash_, "uid": "rs-" + hash_, "annotations": ann,
                         "labels": {"app": "llm", "pod-template-hash": hash_},
                         "ownerReferences": [{"kind": "Deployment", "uid": owner, "controller": True}]},
            "spec": {"replicas": available, "template": tpl}, "status": {"availableReplicas": available}}


def plan_for(d, image):
    return spec.plan(d, Settings(with_defaults({"name": "llm", "namespace": "serving", "image": image})))


# -- item 1: a scaled, complete Deployment is no rollout ----------------------------------------------
def scaled_beyond_room():
    """v2 complete, then scaled from 3 to 40 with room for 16: 24 pods Pending, the controller still says complete."""
    st = complete(40)
    st.update(readyReplicas=16, availableReplicas=16, unavailableReplicas=24)
    st["conditions"][0]["status"] = "False"
    return deployment(replicas=40, st=st, annotations=record.record_annotations(
        record.Target("1", "repo/model:v1", "h1"), record.change_digest("server", "repo/model:v2", None, None)))


def test_a_complete_deployment_scaled_beyond_room_is_serving_and_left_alone():
    d = scaled_beyond_room()
    assert not status.rollout_status(d).done
    assert record.serving(d)
    assert spec.decide(d, plan_for(d, "repo/model:v2")) == spec.UNCHANGED


def test_a_rollout_with_old_pods_left_is_not_serving():
    st = complete(3)
    st.update(replicas=4, updatedReplicas=2)
    st["conditions"][1]["reason"] = "ReplicaSetUpdated"
    d = deployment(st=st)
    assert not record.serving(d)
    assert spec.decide(d, plan_for(d, "repo/model:v2")) == spec.RESUME


def test_a_generation_not_yet_observed_is_not_serving():
    d = deployment()
    d["status"]["observedGeneration"] = 4
    assert not record.serving(d)


def test_a_change_on_a_scaled_complete_deployment_goes_back_to_what_serves_not_the_stale_record():
    d = scaled_beyond_room()
    rss = [replicaset("repo/model:v1", 1, "h1"), replicaset("repo/model:v2", 2, "h2", available=16)]
    target = record.rollback_target(d, rss, "server")
    assert (target.revision, target.image, target.hash) == ("2", "repo/model:v2", "h2")
    assert target.template == template("repo/model:v2")


# -- item 1: only our own unfinished rollout is resumed, only to what it recorded ------------------------
def unfinished(image, revision, annotations):
    st = complete(3)
    st.update(replicas=4, updatedReplicas=1, availableReplicas=2)
    st["conditions"][1]["reason"] = "ReplicaSetUpdated"
    return deployment(image=image, revision=revision, st=st, annotations=annotations)


OUR_V2 = record.record_annotations(record.Target("1", "repo/model:v1", "h1"),
                                   record.change_digest("server", "repo/model:v2", None, None))


def test_our_unfinished_rollout_is_ours_and_goes_back_to_its_record():
    d = unfinished("repo/model:v2", 2, OUR_V2)
    digest = record.change_digest("server", "repo/model:v2", None, None)
    assert record.ours(d, digest)
    target = record.rollback_target(d, [replicaset("repo/model:v1", 1, "h1", 2),
                                        replicaset("repo/model:v2", 2, "h2")], "server")
    assert (target.revision, target.image, target.hash) == ("1", "repo/model:v1", "h1")


def test_kubectl_set_image_after_our_v2_makes_the_record_stale():
    # Our v2 completed (revision 2); kubectl set image v3 is under way (revision 3); we are asked for v3.
    d = unfinished("repo/model:v3", 3, OUR_V2)
    rss = [replicaset("repo/model:v1", 1, "h1"), replicaset("repo/model:v2", 2, "h2", available=2),
           replicaset("repo/model:v3", 3, "h3", available=1)]
    digest_v3 = record.change_digest("server", "repo/model:v3", None, None)
    assert not record.ours(d, digest_v3)
    assert not record.written_by_us(d)
    target = record.rollback_target(d, rss, "server")
    # The last complete template is v2, never v2's predecessor that the stale record names.
    assert (target.revision, target.image) == ("2", "repo/model:v2")


def test_someone_elses_half_done_rollout_goes_back_to_the_last_complete_template():
    d = unfinished("repo/model:v2", 2, {})
    rss = [replicaset("repo/model:v1", 1, "h1", available=2), replicaset("repo/model:v2", 2, "h2", available=1)]
    target = record.rollback_target(d, rss, "server")
    assert (target.revision, target.image) == ("1", "repo/model:v1")


# -- item 8: ownership -----------------------------------------------------------------------------------
def test_canary_and_green_replicasets_are_never_a_rollback_target():
    d = unfinished("repo/model:v2", 2, {})
    canary = replicaset("repo/model:v9", 7, "hc", available=3, owner="canary-uid", name="llm-canary-hc")
    green = replicaset("repo/model:v8", 6, "hg", available=3, owner="green-uid", name="llm-green-hg")
    mine = replicaset("repo/model:v1", 1, "h1", available=1)
    target = record.last_complete(d, [canary, green, mine, replicaset("repo/model:v2", 2, "h2")], "server")
    assert target.image == "repo/model:v1"
    assert record.last_complete(d, [canary, green, replicaset("repo/model:v2", 2, "h2")], "server") is None


def test_the_template_is_read_from_the_owned_replicaset_by_hash():
    d = deployment()
    rs = replicaset("repo/model:v1", 1, "h1", annotations={spec.CHANGE_CAUSE: "kubectl set image v1"})
    namesake = replicaset("repo/model:evil", 1, "h1", owner="canary-uid")
    found = record.resolve(record.Target("1", "repo/model:v1", "h1"), d, [namesake, rs], "server")
    assert found.template == template("repo/model:v1")
    assert found.annotations[spec.CHANGE_CAUSE] == "kubectl set image v1"


def test_a_gone_replicaset_falls_back_to_the_template_in_memory_and_else_to_nothing():
    d = deployment()
    kept = record.Target("1", "repo/model:v1", "h1", template("repo/model:v1"))
    assert record.resolve(kept, d, [], "server") is kept
    assert record.resolve(record.Target("1", "repo/model:v1", "h1"), d, [], "server") is None


def test_a_legacy_record_with_the_whole_template_is_still_read():
    d = deployment(annotations={record.LEGACY_TEMPLATE: '{"spec":{"containers":[{"image":"repo/model:v1",'
                                '"name":"server"}]}}', record.PREVIOUS_REVISION: "1",
                                record.PREVIOUS_IMAGE: "repo/model:v1"})
    target = record.recorded(d)
    assert target.template["spec"]["containers"][0]["image"] == "repo/model:v1"
    # The next write removes it.
    assert record.record_annotations(target, "x")[record.LEGACY_TEMPLATE] is None


# -- item 7: annotations as kubectl rollout undo sets them ------------------------------------------------
def test_undo_restores_the_change_cause_of_the_restored_revision_and_drops_the_run_record():
    failed = deployment(image="repo/model:crash", revision=3, annotations=dict(OUR_V2, **{
        spec.CHANGE_CAUSE: "modelops.serving.model_rollout image=repo/model:crash",
        "kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "search"}))
    rs = replicaset("repo/model:v1", 1, "h1", annotations={
        spec.CHANGE_CAUSE: "kubectl set image v1", "team": "search", "deployment.kubernetes.io/desired-replicas": "3",
        record.PREVIOUS_HASH: "h0"})
    target = record.resolve(record.Target("1", "repo/model:v1", "h1"), failed, [rs], "server")
    out = record.undo_annotations(failed, target, "3")
    assert out == {"deployment.kubernetes.io/revision": "3", "kubectl.kubernetes.io/last-applied-configuration": "{}",
                   spec.CHANGE_CAUSE: "kubectl set image v1", "team": "search", record.ROLLED_BACK_FROM: "3"}
    ops = record.rollback_patch(failed, target, "3")
    assert ops[0] == {"op": "replace", "path": "/metadata/resourceVersion", "value": "77"}
    assert ops[1] == {"op": "replace", "path": "/spec/template", "value": template("repo/model:v1")}
    assert ops[2]["value"] == out


def test_undo_without_the_replicaset_never_keeps_the_failed_change_cause():
    failed = deployment(image="repo/model:crash", annotations={spec.CHANGE_CAUSE: "bad", "team": "search"})
    out = record.undo_annotations(failed, record.Target("1", "repo/model:v1", None, template("repo/model:v1")), "2")
    assert spec.CHANGE_CAUSE not in out and out["team"] == "search"


def test_the_record_is_small_whatever_the_template():
    big = record.record_annotations(record.Target("41", "registry.example.com/team/model:v1", "5d8f9c7b6a"),
                                    record.change_digest("server", "repo/model:v2", {"A": "x" * 10000}, None))
    assert sum(len(k) + len(v or "") for k, v in big.items()) < 300


@pytest.mark.parametrize("env", [{"HF_TOKEN": "hf_secretvalue"}])
def test_the_record_holds_no_env_value(env):
    out = record.record_annotations(None, record.change_digest("server", "repo/model:v2", env, None))
    assert "hf_secretvalue" not in repr(out)
