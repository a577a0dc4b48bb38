"""Canary and blue/green against the fake controller: steps, switches, and what a lost Lease leaves."""

from tests.unit.plugins.module_utils.rollout.fake import World, assert_contract

LEASE = "modelops-rollout-llm"


def steal_lease_after(world, seconds, thief="someone-else"):
    start = world.clock.monotonic()

    def steal(now):
        lease = world.api.obj("leases", "serving", LEASE)
        if lease is not None and now - start >= seconds and lease["spec"]["holderIdentity"] != thief:
            lease["spec"]["holderIdentity"] = thief
            world.api.touch(lease)

    world.controller.hooks.append(steal)


def delete_lease_after(world, seconds):
    start = world.clock.monotonic()
    world.controller.hooks.append(lambda now: world.api.remove("leases", "serving", LEASE)
                                  if now - start >= seconds else None)


def stable_writes(world):
    return [w for w in world.api.writes if w[1].endswith("/deployments/llm")]


def test_canary_grows_in_steps_holds_and_promotes():
    world = World(replicas=4)
    result = assert_contract(world.run(image="repo/model:v2", strategy="canary", canary_steps=[25, 50],
                                       canary_pause_seconds=20, lock_ttl_seconds=6))
    assert result["verdict"] == "complete", result["message"]
    assert [(s["percent"], s["canary_replicas"], s["ok"]) for s in result["canary"]["steps"]] == [
        (25, 1, True), (50, 2, True)]
    assert world.api.obj("deployments", "serving", "llm-canary") is None
    assert world.image() == "repo/model:v2"
    # The pauses were several times the Lease's life: it was renewed all along.
    renewals = [w for w in world.api.writes if "/leases/" in w[1] and w[0] == "PUT"]
    assert len(renewals) >= 2 * 20 / 2


def test_a_failing_canary_step_removes_the_canary_and_never_writes_stable():
    world = World(replicas=4)
    version = world.deployment()["metadata"]["resourceVersion"]
    result = assert_contract(world.run(image="repo/model:crash", strategy="canary", canary_steps=[25, 50]))
    assert (result["verdict"], result["reason"]) == ("rolled_back", "crash_loop")
    assert "canary step 1 (25%) failed" in result["message"]
    assert world.api.obj("deployments", "serving", "llm-canary") is None
    assert stable_writes(world) == []
    assert world.deployment()["metadata"]["resourceVersion"] == version


def test_a_lease_stolen_mid_canary_pause_is_lock_lost_with_the_canary_removed_and_stable_untouched():
    world = World(replicas=4)
    steal_lease_after(world, 10)
    result = assert_contract(world.run(image="repo/model:v2", strategy="canary", canary_steps=[25, 50],
                                       canary_pause_seconds=30, lock_ttl_seconds=6))
    assert (result["verdict"], result["reason"]) == ("failed", "lock_lost")
    assert "taken by someone-else" in result["message"]
    assert "llm-canary removed, llm untouched" in result["message"]
    assert world.api.obj("deployments", "serving", "llm-canary") is None
    assert stable_writes(world) == []
    # The thief's Lease is left alone.
    assert world.api.obj("leases", "serving", LEASE)["spec"]["holderIdentity"] == "someone-else"


def test_a_lease_deleted_mid_window_switches_back_removes_green_and_leaves_blue():
    world = World(replicas=3)
    delete_lease_after(world, 12)
    result = assert_contract(world.run(image="repo/model:v2", strategy="blue_green", service="llm",
                                       rollback_window_seconds=30, lock_ttl_seconds=6))
    assert (result["verdict"], result["reason"]) == ("failed", "lock_lost"), result["message"]
    assert "was deleted" in result["message"]
    assert world.api.obj("deployments", "serving", "llm-green") is None
    assert world.api.obj("services", "serving", "llm")["spec"]["selector"] == {"app": "llm"}
    assert stable_writes(world) == []
    assert world.image() == "repo/model:v1"


def test_blue_green_switches_once_green_is_ready_and_ends_on_one_deployment():
    world = World(replicas=3)
    selectors = []
    world.api.on_write.append(lambda method, path, body: selectors.append(
        world.api.obj("services", "serving", "llm")["spec"]["selector"]) if "/services/" in path else None)
    result = assert_contract(world.run(image="repo/model:v2", strategy="blue_green", service="llm",
                                       rollback_window_seconds=5))
    assert result["verdict"] == "complete", result["message"]
    assert result["blue_green"]["switch_seconds"] >= 0
    assert world.api.obj("deployments", "serving", "llm-green") is None
    service = world.api.obj("services", "serving", "llm")
    assert service["spec"]["selector"] == {"app": "llm"}
    assert "modelops.serving/original-selector" not in (service["metadata"].get("annotations") or {})
    # pinned to blue, switched to green, moved to the promoted llm, unpinned
    assert [len(s) for s in selectors] == [2, 2, 2, 1, 1]
    assert world.image() == "repo/model:v2"


def test_a_person_pausing_the_canary_leaves_it_as_it_is():
    world = World(replicas=4, ready_delay=5)
    start = world.clock.monotonic()

    def person(now):
        canary = world.api.obj("deployments", "serving", "llm-canary")
        if canary is not None and now - start > 1 and not canary["spec"].get("paused"):
            canary["spec"]["paused"] = True
            canary["metadata"]["generation"] += 1
            world.api.touch(canary)

    world.controller.hooks.append(person)
    result = assert_contract(world.run(image="repo/model:v2", strategy="canary", canary_steps=[50]))
    assert (result["verdict"], result["reason"]) == ("paused", "paused")
    assert "llm-canary left as it is" in result["message"]
    assert world.api.obj("deployments", "serving", "llm-canary") is not None
    assert stable_writes(world) == []


def parts_of(result):
    durations = result["durations"]
    return sum(durations[k] for k in ("change", "rollout", "gate", "rollback"))


def test_a_failed_canary_step_lands_in_the_rollout_duration():
    world = World(replicas=4)
    result = assert_contract(world.run(image="repo/model:crash", strategy="canary", canary_steps=[25, 50]))
    assert result["verdict"] == "rolled_back"
    # The fake clock only moves while the run waits: every waited second lands in a duration.
    assert result["durations"]["rollout"] > 0
    assert parts_of(result) == result["durations"]["total"]


def test_a_canary_pause_and_a_blue_green_window_land_in_the_rollout_duration():
    world = World(replicas=4)
    result = assert_contract(world.run(image="repo/model:v2", strategy="canary", canary_steps=[25, 50],
                                       canary_pause_seconds=20))
    assert result["verdict"] == "complete"
    assert result["durations"]["rollout"] >= 2 * 20
    assert parts_of(result) == result["durations"]["total"]
    world = World(replicas=4)
    result = assert_contract(world.run(image="repo/model:v2", strategy="blue_green", service="llm",
                                       rollback_window_seconds=15))
    assert result["verdict"] == "complete"
    assert result["durations"]["rollout"] >= 15
    assert parts_of(result) == result["durations"]["total"]


def test_a_failed_green_lands_in_the_rollout_duration():
    world = World(replicas=4)
    result = assert_contract(world.run(image="repo/model:crash", strategy="blue_green", service="llm"))
    assert result["verdict"] == "rolled_back"
    assert result["durations"]["rollout"] > 0
    assert parts_of(result) == result["durations"]["total"]


def test_a_stable_template_changed_by_another_hand_during_the_canary_is_not_promoted_over():
    world = World(replicas=4)
    start = world.clock.monotonic()
    shipped = []

    def hotfix(now):
        dep = world.api.obj("deployments", "serving", "llm")
        if not shipped and now - start > 3:
            dep["spec"]["template"]["spec"]["containers"][0]["image"] = "repo/model:v1-hotfix"
            dep["metadata"]["generation"] += 1
            world.api.touch(dep)
            shipped.append(now)

    world.controller.hooks.append(hotfix)
    result = assert_contract(world.run(image="repo/model:v2", strategy="canary", canary_steps=[25, 50],
                                       canary_pause_seconds=10))
    assert shipped
    assert (result["verdict"], result["reason"]) == ("failed", "superseded"), result["message"]
    assert result["message"].startswith("before the promotion: the pod template of Deployment serving/llm")
    assert "llm-canary removed" in result["message"]
    assert world.api.obj("deployments", "serving", "llm-canary") is None
    assert world.image() == "repo/model:v1-hotfix"
    assert stable_writes(world) == []
