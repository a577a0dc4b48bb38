"""The runner against a fake API and controller: every path ends in the full result, and writes only what it may."""

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.rollout import record
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError
from tests.unit.plugins.module_utils.rollout.fake import World, assert_contract


def writes(world, fragment="/deployments/llm"):
    return [(m, ph) for m, path, ph, _b in world.api.writes if path.endswith(fragment)]


def test_good_image_completes_with_one_write_and_the_lease_released():
    world = World()
    result = assert_contract(world.run(image="repo/model:v2"))
    assert (result["verdict"], result["reason"], result["changed"]) == ("complete", "complete", True)
    assert result["previous"] == {"revision": "1", "image": "repo/model:v1"}
    assert result["current"]["image"] == "repo/model:v2" and result["current"]["revision"] == "2"
    assert writes(world) == [("PATCH", "change")]
    assert world.image() == "repo/model:v2"
    assert [m for m, path, _p, _b in world.api.writes if "/leases" in path] == ["POST", "DELETE"]
    assert not world.api.items("leases")
    assert result["timeline"][-1]["updated"] == 3 and result["timeline"][-1]["available"] == 3
    assert result["lock"]["lease"] == "modelops-rollout-llm"
    assert any("rollout: 3/3 updated" in line for line in world.lines)


def test_a_second_run_writes_nothing_at_all():
    world = World()
    world.run(image="repo/model:v2")
    version = world.deployment()["metadata"]["resourceVersion"]
    again = assert_contract(world.run(image="repo/model:v2"))
    assert (again["verdict"], again["reason"], again["changed"]) == ("unchanged", "up_to_date", False)
    assert world.api.writes == []
    assert world.deployment()["metadata"]["resourceVersion"] == version
    assert again["lock"] is None


def test_a_written_but_unfinished_rollout_is_resumed_without_a_second_write():
    world = World(ready_delay=5)
    dep = world.deployment()
    # What this module's write of v2 left: the template and its record, and then the run died.
    dep["metadata"]["annotations"].update(record.record_annotations(
        record.Target("1", "repo/model:v1"), record.change_digest("server", "repo/model:v2", None, None)))
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "repo/model:v2"
    dep["metadata"]["generation"] += 1
    result = assert_contract(world.run(image="repo/model:v2"))
    assert result["verdict"] == "complete" and result["resumed"] is True and result["changed"] is False
    assert result["previous"] == {"revision": "1", "image": "repo/model:v1"}
    assert writes(world) == []


def test_someone_elses_unfinished_rollout_to_the_target_is_followed_not_resumed():
    world = World(ready_delay=5)
    dep = world.deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "repo/model:v2"
    dep["metadata"]["generation"] += 1
    result = assert_contract(world.run(image="repo/model:v2"))
    assert result["verdict"] == "complete" and result["resumed"] is False and result["changed"] is False
    assert result["previous"] == {"revision": "1", "image": "repo/model:v1"}
    assert any("by another hand" in line for line in world.lines)
    assert writes(world) == []


@pytest.mark.parametrize("image, reason, words", [
    ("repo/model:crash", "crash_loop", "CrashLoopBackOff"),
    ("repo/model:pullfail", "image_pull", "ErrImagePull"),
    ("repo/model:big", "unschedulable", "Insufficient cpu"),
])
def test_a_bad_image_fails_fast_and_the_recorded_template_comes_back(image, reason, words):
    world = World()
    before = world.deployment()["spec"]["template"]
    result = assert_contract(world.run(image=image))
    assert (result["verdict"], result["reason"]) == ("rolled_back", reason), result["message"]
    assert words in result["message"]
    assert "rolled back to the previous template (revision 1, image repo/model:v1)" in result["message"]
    assert result["rolled_back_to"]["image"] == "repo/model:v1"
    assert world.deployment()["spec"]["template"] == before
    assert writes(world) == [("PATCH", "change"), ("PATCH", "rollback")]
    assert result["diagnostics"] and result["diagnostics"][0]["log_tail"] == ["loading model", "model failed"]


def test_on_failure_pause_pauses_and_writes_nothing_after():
    world = World()
    result = assert_contract(world.run(image="repo/model:crash", on_failure="pause"))
    assert (result["verdict"], result["reason"]) == ("paused", "crash_loop")
    assert world.deployment()["spec"]["paused"] is True
    assert writes(world) == [("PATCH", "change"), ("PATCH", "pause")]
    assert world.image() == "repo/model:crash"


def test_on_failure_fail_reports_and_leaves_the_template():
    world = World()
    result = assert_contract(world.run(image="repo/model:crash", on_failure="fail"))
    assert (result["verdict"], result["reason"]) == ("failed", "crash_loop")
    assert writes(world) == [("PATCH", "change")]


def test_a_slow_rollout_that_keeps_progressing_is_never_cut_off():
    # 20 replicas one at a time, each 6 s to load: 120 s of rollout against a deadline of 8 s.
    world = World(replicas=20, pds=8, ready_delay=6, one_at_a_time=True)
    result = assert_contract(world.run(image="repo/model:v2"))
    assert result["verdict"] == "complete", result["message"]
    assert result["durations"]["rollout"] > 8 + 30 + 30
    assert len([p for p in result["timeline"] if p["phase"] == "rollout"]) >= 20


def test_a_rollout_that_stops_progressing_fails_at_the_deadline_with_the_cause():
    world = World(pds=10)
    result = assert_contract(world.run(image="repo/model:broken"))
    assert (result["verdict"], result["reason"]) == ("rolled_back", "progress_deadline_exceeded")
    assert "exceeded its progress deadline (10s without progress)" in result["message"]
    assert "ContainersNotReady" in result["message"]


def test_the_timeout_option_is_an_overall_cap():
    world = World(replicas=20, pds=8, ready_delay=6, one_at_a_time=True)
    result = assert_contract(world.run(image="repo/model:v2", timeout=30))
    assert (result["verdict"], result["reason"]) == ("rolled_back", "timeout")
    assert "timeout=30s, the overall cap" in result["message"]
    # The rollback is not cut short by the cap.
    assert world.image() == "repo/model:v1"


def test_a_controller_that_never_observes_the_change_is_not_blamed_on_the_template():
    world = World()
    world.controller.stalled = True
    result = assert_contract(world.run(image="repo/model:v2"))
    assert (result["verdict"], result["reason"]) == ("failed", "controller_stalled")
    assert "kube-controller-manager has not observed generation 2" in result["message"]
    assert "for 30s" in result["message"]
    assert writes(world) == [("PATCH", "change")]
    assert world.image() == "repo/model:v2"


def test_a_controller_frozen_mid_rollout_ends_as_stalled_after_the_deadline_and_writes_nothing_more():
    world = World(replicas=4, pds=10, ready_delay=3, one_at_a_time=True)
    world.controller.frozen_after = world.clock.monotonic() + 4
    result = assert_contract(world.run(image="repo/model:v2"))
    assert (result["verdict"], result["reason"]) == ("failed", "controller_stalled")
    assert "progress deadline of 10s passed without the controller's own ProgressDeadlineExceeded" in result["message"]
    assert writes(world) == [("PATCH", "change")]


def test_a_person_pausing_mid_rollout_gets_paused_and_no_write_after():
    world = World(replicas=4, ready_delay=3, one_at_a_time=True)
    start = world.clock.monotonic()

    def person(now):
        dep = world.deployment()
        if now - start > 5 and not dep["spec"].get("paused"):
            dep["spec"]["paused"] = True
            dep["metadata"]["generation"] += 1
            dep["metadata"]["managedFields"] = [{"manager": "kubectl-rollout", "operation": "Update",
                                                 "time": "2026-11-25T09:00:06Z", "fieldsV1": {"f:spec": {"f:paused": {}}}}]
            world.api.touch(dep)

    world.controller.hooks.append(person)
    result = assert_contract(world.run(image="repo/model:v2"))
    assert (result["verdict"], result["reason"]) == ("paused", "paused")
    assert "paused by kubectl-rollout at 2026-11-25T09:00:06Z" in result["message"]
    assert writes(world) == [("PATCH", "change")]
    assert world.image() == "repo/model:v2"


def test_a_deployment_paused_before_the_run_is_refused_with_nothing_written():
    world = World()
    world.deployment()["spec"]["paused"] = True
    result = assert_contract(world.run(image="repo/model:v2"))
    assert (result["verdict"], result["reason"], result["changed"]) == ("paused", "paused", False)
    assert "kubectl rollout resume deployment/llm -n serving" in result["message"]
    assert world.api.writes == []


def test_a_deployment_deleted_during_the_wait_is_named():
    world = World(ready_delay=5)
    start = world.clock.monotonic()
    world.controller.hooks.append(lambda now: world.api.remove("deployments", "serving", "llm") if now - start > 2
                                  else None)
    result = assert_contract(world.run(image="repo/model:v2"))
    assert (result["verdict"], result["reason"]) == ("failed", "deployment_deleted")


@pytest.mark.parametrize("phase, image", [("rollback", "repo/model:crash"), ("change", "repo/model:v2")])
def test_a_deployment_deleted_before_a_write_of_the_run_is_named_not_an_api_error(phase, image):
    world = World()
    world.api.fail(KubeError('deployments.apps "llm" not found', status=404), method="PATCH", phase=phase)
    result = assert_contract(world.run(image=image))
    assert (result["verdict"], result["reason"]) == ("failed", "deployment_deleted"), result["message"]
    assert "was deleted during the %s" % phase in result["message"]


def test_a_conflicting_write_is_planned_again_and_a_bad_replan_is_input_not_a_traceback():
    world = World()
    # Someone removes the container this run changes, between our read and our write.
    world.api.fail(KubeError("the object has been modified", status=409), method="PATCH", times=1)
    result = assert_contract(world.run(image="repo/model:v2"))
    assert result["verdict"] == "complete"
    assert len(writes(world)) == 1

    world2 = World()
    world2.api.fail(KubeError("the object has been modified", status=409), method="PATCH", times=1)
    original_get = world2.api.get

    def get(path, query=None):
        obj = original_get(path, query)
        if path.endswith("/deployments/llm") and world2.api.phase == "change":
            obj["spec"]["template"]["spec"]["containers"][0]["name"] = "renamed"
        return obj

    world2.api.get = get
    result = assert_contract(world2.run(image="repo/model:v2", container="server"))
    assert (result["verdict"], result["reason"]) == ("failed", "invalid_input")
    assert "container 'server' not found" in result["message"]


def test_check_mode_previews_and_writes_nothing():
    world = World()
    result = assert_contract(world.run(check_mode=True, image="repo/model:v2"))
    assert (result["verdict"], result["reason"], result["changed"]) == ("pending", "check_mode", True)
    assert result["diff"]["after"]["image"] == "repo/model:v2"
    assert world.api.writes == [] and world.image() == "repo/model:v1"


def test_bad_input_is_named_before_anything_is_written():
    world = World()
    result = assert_contract(world.run(image="Repo/Model:v2"))
    assert (result["verdict"], result["reason"]) == ("failed", "invalid_input")
    assert "is not a valid image reference" in result["message"]
    missing = assert_contract(world.run(name="nope", image="repo/model:v2"))
    assert "Deployment 'nope' not found in namespace 'serving'" in missing["message"]
    assert world.api.writes == []


def test_the_recorded_template_is_what_the_rollback_restores_even_after_a_restart():
    world = World()
    world.run(image="repo/model:v2")
    recorded = record.recorded(world.deployment())
    assert recorded.image == "repo/model:v1" and recorded.revision == "1"
    result = assert_contract(world.run(image="repo/model:crash"))
    assert result["verdict"] == "rolled_back" and world.image() == "repo/model:v2"


def another_hand_sets_the_image_after(world, seconds, image):
    """`kubectl set image` / `kubectl rollout undo` by someone else, ``seconds`` into the run."""
    start = world.clock.monotonic()
    done = []

    def person(now):
        dep = world.deployment()
        if dep is None or done or now - start < seconds:
            return
        dep["spec"]["template"]["spec"]["containers"][0]["image"] = image
        dep["metadata"]["generation"] += 1
        world.api.touch(dep)
        done.append(now)

    world.controller.hooks.append(person)
    return done


@pytest.mark.parametrize("other", ["repo/model:v1", "repo/model:v3"])
def test_a_template_changed_by_another_hand_mid_rollout_is_superseded_never_complete(other):
    # The other hand's rollout completes too; it is not the one asked for, and it stands.
    world = World(replicas=4, ready_delay=3, one_at_a_time=True)
    done = another_hand_sets_the_image_after(world, 4, other)
    result = assert_contract(world.run(image="repo/model:v2"))
    assert done, "the other hand never wrote"
    assert (result["verdict"], result["reason"], result["changed"]) == ("failed", "superseded", True), result["message"]
    assert "changed by another hand during this run" in result["message"] and other in result["message"]
    assert result["current"]["image"] == other and result["rolled_back_to"] is None
    assert writes(world) == [("PATCH", "change")]
    assert world.image() == other


def test_scaling_during_the_rollout_is_not_another_template():
    world = World(replicas=4, ready_delay=3, one_at_a_time=True)
    start = world.clock.monotonic()

    def hpa(now):
        dep = world.deployment()
        if now - start > 4 and dep["spec"]["replicas"] == 4:
            dep["spec"]["replicas"] = 5
            dep["metadata"]["generation"] += 1
            world.api.touch(dep)

    world.controller.hooks.append(hpa)
    result = assert_contract(world.run(image="repo/model:v2"))
    assert (result["verdict"], result["reason"]) == ("complete", "complete"), result["message"]
    assert world.deployment()["spec"]["replicas"] == 5


def test_a_rollback_is_not_written_over_a_template_another_hand_put_after_the_failure():
    # The bad template fails; just before the rollback write lands, someone ships v3: the write
    # meets a moved resourceVersion (409), the run reads again and must leave v3 serving.
    world = World()
    enter = world.api._enter
    shipped = []

    def ship_v3_first(method, path, body=None):
        if method == "PATCH" and world.api.phase == "rollback" and path.endswith("/deployments/llm") and not shipped:
            shipped.append(path)
            _set_image(world, "repo/model:v3")
            world.api.requests += 1
            raise KubeError("the object has been modified; please apply your changes to the latest version", status=409)
        return enter(method, path, body)

    world.api._enter = ship_v3_first
    result = assert_contract(world.run(image="repo/model:crash"))
    assert shipped
    assert (result["verdict"], result["reason"]) == ("failed", "superseded"), result["message"]
    assert "The rollout had failed first" in result["message"] and "CrashLoopBackOff" in result["message"]
    assert result["current"]["image"] == "repo/model:v3" and result["rolled_back_to"] is None
    assert world.image() == "repo/model:v3"
    assert writes(world) == [("PATCH", "change")]


def _set_image(world, image):
    dep = world.deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = image
    dep["metadata"]["generation"] += 1
    world.api.touch(dep)
