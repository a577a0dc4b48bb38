"""What a fleet run decides about one cluster from the objects it read."""

import datetime

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.fleet import judge
from tests.unit.plugins.module_utils.fleet.objects import deployment, lease, replicaset

NOW = datetime.datetime(2026, 12, 1, 10, 1, 0, tzinfo=datetime.timezone.utc)


def view(d, **kw):
    return judge.view(d, "server", **kw)


def test_the_view_has_the_containers_image_and_the_floor_the_run_will_allow():
    v = view(deployment(image="repo/llm:v1", replicas=4, max_unavailable="50%"))
    assert (v["image"], v["complete"], v["floor"]) == ("repo/llm:v1", True, 2)
    assert view(deployment(replicas=4), max_unavailable=0, max_surge=1)["floor"] == 4
    assert judge.view(deployment(), "sidecar")["container_found"] is False


@pytest.mark.parametrize("d, reason", [
    (None, "not_found"),
    (deployment(replicas=0, ready=0), "scaled_to_zero"),
    (deployment(paused=True), "paused"),
    (deployment(updated=1, ready=2, total=4, progressing="ReplicaSetUpdated"), "not_full_capacity"),
])
def test_a_cluster_that_does_not_serve_at_full_capacity_is_refused(d, reason):
    with pytest.raises(judge.Refused) as err:
        judge.preflight(view(d) if d else None, "repo/llm:v2", "serving", "llm", "server")
    assert err.value.reason == reason
    assert "serving/llm" in str(err.value)


def test_a_missing_container_is_refused_with_the_containers_there_are():
    with pytest.raises(judge.Refused) as err:
        judge.preflight(judge.view(deployment(), "sidecar"), "repo/llm:v2", "serving", "llm", "sidecar")
    assert err.value.reason == "no_container" and "server" in str(err.value)


def test_a_cluster_already_on_the_target_is_resumed_whatever_its_state():
    half_way = deployment(image="repo/llm:v2", updated=1, ready=2, total=4, progressing="ReplicaSetUpdated")
    assert judge.preflight(view(half_way), "repo/llm:v2", "serving", "llm", "server") == "resume"
    assert judge.preflight(view(deployment()), "repo/llm:v2", "serving", "llm", "server") == "change"


def test_a_rollback_may_start_on_a_degraded_deployment_but_not_a_paused_one():
    degraded = view(deployment(updated=1, ready=1, total=4, progressing="ReplicaSetUpdated"))
    assert judge.preflight(degraded, "repo/llm:v0", "serving", "llm", "server", kind="rollback") == "change"
    with pytest.raises(judge.Refused):
        judge.preflight(view(deployment(paused=True)), "repo/llm:v0", "serving", "llm", "server", kind="rollback")


def test_a_lease_is_free_without_holder_when_expired_or_not_renewed_while_watched():
    assert judge.lease_free(None, 0)
    assert judge.lease_free(lease(holder=""), 0)
    assert judge.lease_free(lease(renewed="2026-12-01T09:00:00.000000Z"), 0, now=NOW)
    live = lease(renewed="2026-12-01T10:00:30.000000Z", duration=120)
    assert not judge.lease_free(live, 0, now=NOW)
    assert not judge.lease_free(live, 120, now=NOW)
    assert judge.lease_free(live, 121, now=NOW)
    assert judge.lease_mark(live) != judge.lease_mark(lease(renewed="2026-12-01T10:00:40.000000Z"))


def test_a_held_lock_is_refused_naming_its_holder():
    err = judge.lock_refusal(lease(holder="rollout r1 tg1"), "serving", "llm", 150)
    assert err.reason == "locked" and "rollout r1 tg1" in str(err) and "150" in str(err)


def history(d, *rows):
    return judge.view(d, "server", replicasets=list(rows))


def test_a_rollback_goes_to_the_last_other_image_or_the_named_revision():
    current = history(deployment(image="repo/llm:v3", revision="3"), replicaset("1", "repo/llm:v1"),
                      replicaset("2", "repo/llm:v2"), replicaset("3", "repo/llm:v3", 3))
    assert judge.rollback_target(current, "", "serving", "llm", "server") == ("repo/llm:v2", "2")
    assert judge.rollback_target(current, "1", "serving", "llm", "server") == ("repo/llm:v1", "1")
    with pytest.raises(judge.Refused) as err:
        judge.rollback_target(current, "9", "serving", "llm", "server")
    assert err.value.reason == "no_rollback_target" and "revisions: 1, 2, 3" in str(err.value)


def test_a_rollback_skips_what_model_rollout_rolled_back_from():
    # v1 served, v2 crashed and model_rollout put v1 back (revision 3): v2 never served.
    put_back = deployment(image="repo/llm:v1", revision="3", annotations={"modelops.serving/rolled-back-from": "2"})
    current = history(put_back, replicaset("2", "repo/llm:v2"), replicaset("3", "repo/llm:v1", 3))
    assert judge.rollback_target(current, "", "serving", "llm", "server") == ("repo/llm:v1", "3")
    older = history(deployment(image="repo/llm:v2", revision="4", annotations={"modelops.serving/rolled-back-from": "3"}),
                    replicaset("1", "repo/llm:v1"), replicaset("3", "repo/llm:crash"), replicaset("4", "repo/llm:v2", 3))
    assert judge.rollback_target(older, "", "serving", "llm", "server") == ("repo/llm:v1", "1")


def test_nothing_to_roll_back_to_is_refused():
    with pytest.raises(judge.Refused):
        judge.rollback_target(history(deployment(), replicaset("1", "repo/llm:v1", 3)), "", "serving", "llm", "server")


@pytest.mark.parametrize("d, reason", [
    (None, "bake_deleted"),
    (deployment(image="repo/llm:v3"), "bake_image_changed"),
    (deployment(image="repo/llm:v2", paused=True), "bake_paused"),
    (deployment(image="repo/llm:v2", ready=2, available=2, progressing="ReplicaSetUpdated"), "bake_unavailable"),
])
def test_a_baked_cluster_that_stops_serving_its_image_at_full_capacity_fails(d, reason):
    problem = judge.bake_problem(d, "server", "repo/llm:v2", "serving", "llm")
    assert problem and problem[0] == reason and "serving/llm" in problem[1]


def test_a_baked_cluster_that_keeps_serving_passes_and_its_counts_are_a_timeline_point():
    d = deployment(image="repo/llm:v2")
    assert judge.bake_problem(d, "server", "repo/llm:v2", "serving", "llm") is None
    assert judge.point(d, 1000.5, "server") == {"t": 1000.5, "phase": "bake", "desired": 3, "updated": 3, "ready": 3,
                                                "available": 3, "total": 3, "image": "repo/llm:v2"}
