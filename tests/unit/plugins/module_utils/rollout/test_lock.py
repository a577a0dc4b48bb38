"""The rollout Lease against a fake API and clocks that disagree: expiry is judged from what we observed."""

import datetime

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.rollout.clock import micro_time
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import LockHeld, LockLost
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError
from ansible_collections.modelops.serving.plugins.module_utils.rollout.lock import RolloutLock, looks_live
from tests.unit.plugins.module_utils.rollout.fake import FakeApi, FakeClock

MINUTES_10 = 600


class Holder:
    """Another run holding the Lease, renewing it every ``every`` seconds with its own (skewed) clock."""

    def __init__(self, clock, skew, ttl=30, every=10, name="laptop-of-alice"):
        self.clock = FakeClock(skew=skew)
        self.clock.t = clock.t
        self.outer = clock
        self.ttl = ttl
        self.every = every
        self.name = name
        self.last = None
        self.alive = True

    def body(self):
        now = micro_time(self.clock.wall())
        return {"metadata": {"name": "modelops-rollout-llm", "namespace": "serving"},
                "spec": {"holderIdentity": self.name, "leaseDurationSeconds": self.ttl, "acquireTime": now,
                         "renewTime": now}}

    def start(self, api):
        self.api = api
        self.api.add("leases", self.body())
        self.last = self.outer.t
        self.outer.on_advance.append(self.tick)

    def tick(self, now):
        self.clock.t = now
        if self.alive and now - self.last >= self.every:
            lease = self.api.obj("leases", "serving", "modelops-rollout-llm")
            if lease is not None and lease["spec"]["holderIdentity"] == self.name:
                lease["spec"]["renewTime"] = micro_time(self.clock.wall())
                self.api.touch(lease)
            self.last = now


def lock(api, clock, ttl=30, identity="this-run", lines=None):
    return RolloutLock(api, "serving", "llm", clock, identity=identity, ttl_seconds=ttl,
                       progress=(lines.append if lines is not None else None))


def world():
    clock = FakeClock()
    return clock, FakeApi(clock)


def test_a_free_deployment_is_locked_with_one_create_and_released_with_one_delete():
    clock, api = world()
    mine = lock(api, clock)
    mine.acquire()
    assert api.obj("leases", "serving", "modelops-rollout-llm")["spec"]["holderIdentity"] == "this-run"
    mine.release()
    assert api.obj("leases", "serving", "modelops-rollout-llm") is None
    assert [c[0] for c in api.calls] == ["POST", "DELETE"]


@pytest.mark.parametrize("skew", [-MINUTES_10, 0, MINUTES_10])
def test_a_live_holder_is_never_taken_over_whatever_its_clock_says(skew):
    clock, api = world()
    Holder(clock, skew).start(api)
    with pytest.raises(LockHeld) as err:
        lock(api, clock).acquire()
    assert "held by laptop-of-alice" in str(err.value)
    assert api.obj("leases", "serving", "modelops-rollout-llm")["spec"]["holderIdentity"] == "laptop-of-alice"


def test_a_holder_10_minutes_behind_looks_expired_but_is_watched_and_its_renewal_seen():
    clock, api = world()
    Holder(clock, -MINUTES_10).start(api)
    lines = []
    with pytest.raises(LockHeld) as err:
        lock(api, clock, lines=lines).acquire()
    assert "its clock differs from ours" in str(err.value)
    assert any("not trusting that clock" in line for line in lines)
    # It took no longer than the holder's next renewal to know.
    assert clock.t - 1000.0 <= 10 + 2


def test_a_dead_holder_is_taken_over_only_after_its_duration_observed_here():
    clock, api = world()
    dead = Holder(clock, -MINUTES_10, ttl=30)
    dead.start(api)
    dead.alive = False
    mine = lock(api, clock)
    mine.acquire()
    lease = api.obj("leases", "serving", "modelops-rollout-llm")
    assert lease["spec"]["holderIdentity"] == "this-run"
    assert lease["spec"]["leaseTransitions"] == 1
    assert clock.t - 1000.0 >= 30


def test_two_runs_racing_for_a_stale_lease_cannot_both_win():
    clock, api = world()
    dead = Holder(clock, 0, ttl=5)
    dead.start(api)
    dead.alive = False
    clock.advance(60)
    first, second = lock(api, clock, identity="first"), lock(api, clock, identity="second")
    real_put = api.put

    def put_after_the_other(path, body):
        api.put = real_put
        first.acquire()  # the other run swaps first, between our read and our write
        return real_put(path, body)

    api.put = put_after_the_other
    with pytest.raises(LockHeld) as err:
        second.acquire()
    assert "held by first" in str(err.value)


def test_renewal_is_due_every_third_of_the_ttl():
    clock, api = world()
    mine = lock(api, clock, ttl=30)
    mine.acquire()
    assert not mine.due(clock.t + 9.9) and mine.due(clock.t + 10)


def test_transient_renewal_failures_are_retried_within_the_deadline():
    clock, api = world()
    mine = lock(api, clock, ttl=30)
    mine.acquire()
    clock.advance(10)
    api.fail(KubeError("etcdserver: request timed out", status=500), method="PUT", times=2)
    mine.renew()
    assert mine.failures == 1 and mine.lease is not None
    clock.advance(mine.next_renewal - clock.t)
    mine.renew()
    clock.advance(mine.next_renewal - clock.t)
    mine.renew()
    assert mine.failures == 0
    mine.check(clock.t)


@pytest.mark.parametrize("status", [401, 403])
def test_a_renewal_refused_by_a_starting_apiserver_is_retried_within_the_deadline(status):
    clock, api = world()
    mine = lock(api, clock, ttl=30)
    mine.acquire()
    clock.advance(10)
    api.fail(KubeError("forbidden: RBAC caches not synced", status=status), method="PUT", times=1)
    mine.renew()
    assert mine.failures == 1 and mine.lease is not None
    clock.advance(mine.next_renewal - clock.t)
    mine.renew()
    assert mine.failures == 0
    mine.check(clock.t)


def test_a_renewal_the_server_cannot_take_at_all_loses_the_lease_at_once():
    clock, api = world()
    mine = lock(api, clock, ttl=30)
    mine.acquire()
    clock.advance(10)
    api.fail(KubeError("Lease.coordination.k8s.io is invalid", status=422), method="PUT", times=1)
    with pytest.raises(LockLost) as err:
        mine.renew()
    assert "cannot renew the rollout Lease serving/modelops-rollout-llm: Lease.coordination.k8s.io is invalid" \
        in str(err.value)


def test_a_lease_that_cannot_be_renewed_for_two_thirds_of_its_life_is_lost():
    clock, api = world()
    mine = lock(api, clock, ttl=30)
    mine.acquire()
    api.fail(KubeError("connection refused"), method="PUT", times=100)
    with pytest.raises(LockLost) as err:
        while True:
            clock.advance(max(mine.next_renewal - clock.t, 0.1))
            mine.renew()
            mine.check(clock.t)
    assert "could not renew the rollout Lease serving/modelops-rollout-llm for 2" in str(err.value)
    assert clock.t - 1000.0 <= 30


def test_a_stolen_lease_is_lost_naming_the_thief():
    clock, api = world()
    mine = lock(api, clock)
    mine.acquire()
    lease = api.obj("leases", "serving", "modelops-rollout-llm")
    lease["spec"]["holderIdentity"] = "bob"
    api.touch(lease)
    with pytest.raises(LockLost) as err:
        mine.renew()
    assert "taken by bob" in str(err.value)


def test_a_deleted_lease_is_lost():
    clock, api = world()
    mine = lock(api, clock)
    mine.acquire()
    api.remove("leases", "serving", "modelops-rollout-llm")
    with pytest.raises(LockLost) as err:
        mine.renew()
    assert "was deleted" in str(err.value)


def test_a_renewal_that_went_through_unseen_is_adopted():
    clock, api = world()
    mine = lock(api, clock)
    mine.acquire()
    lease = api.obj("leases", "serving", "modelops-rollout-llm")
    api.touch(lease)  # our own earlier PUT, whose answer was lost
    mine.renew()
    assert mine.lease is not None and mine.failures == 0


def test_release_of_a_lease_someone_else_holds_now_leaves_it():
    clock, api = world()
    mine = lock(api, clock)
    mine.acquire()
    lease = api.obj("leases", "serving", "modelops-rollout-llm")
    lease["spec"]["holderIdentity"] = "bob"
    api.touch(lease)
    mine.release()
    assert api.obj("leases", "serving", "modelops-rollout-llm")["spec"]["holderIdentity"] == "bob"


def test_looks_live_only_ever_holds_back():
    now = datetime.datetime(2026, 11, 25, 9, 0, tzinfo=datetime.timezone.utc)
    lease = {"spec": {"holderIdentity": "a", "leaseDurationSeconds": 30, "renewTime": micro_time(now)}}
    assert looks_live(lease, now + datetime.timedelta(seconds=29))
    assert not looks_live(lease, now + datetime.timedelta(seconds=31))
    assert not looks_live({"spec": {"leaseDurationSeconds": 30, "renewTime": micro_time(now)}}, now)
