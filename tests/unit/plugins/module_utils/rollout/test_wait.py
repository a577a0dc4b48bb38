"""The wait loop's policies and judges, from objects and a clock: deadlines, stalls, pauses, holds."""

import copy

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.rollout import diagnose, hold
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import LockLost
from ansible_collections.modelops.serving.plugins.module_utils.rollout.judges import (
    HoldJudge,
    RolloutJudge,
    paused_by,
    stall_cause,
    superseded,
    template_of,
)
from ansible_collections.modelops.serving.plugins.module_utils.rollout.wait import (
    CONTROLLER_GRACE,
    Cap,
    HoldUntil,
    ProgressDeadline,
    Quiet,
    View,
    WaitLoop,
)
from ansible_collections.modelops.serving.plugins.module_utils.rollout.watch import Cache, Change
from tests.unit.plugins.module_utils.rollout.fake import FakeClock

WALL = FakeClock().wall()


def dep(generation=2, observed=2, updated=1, ready=1, available=1, replicas=3, pds=600, reason="ReplicaSetUpdated",
        updated_at="2026-11-25T09:00:00Z", paused=False):
    d = {"metadata": {"name": "llm", "namespace": "serving", "uid": "d1", "generation": generation},
         "spec": {"replicas": replicas, "progressDeadlineSeconds": pds, "paused": paused,
                  "template": {"metadata": {"labels": {"app": "llm"}}, "spec": {"containers": [{"name": "s"}]}}},
         "status": {"observedGeneration": observed, "replicas": replicas, "updatedReplicas": updated,
                    "readyReplicas": ready, "availableReplicas": available,
                    "conditions": [{"type": "Progressing", "status": "True", "reason": reason,
                                    "lastUpdateTime": updated_at}]}}
    return d


def view(deployment, mono=1000.0, pods=()):
    v = View(deployment, [], list(pods), mono, WALL)
    v.new_pods = list(pods)
    return v


# -- the progress deadline ---------------------------------------------------------------------------
def test_the_deadline_moves_with_every_progress_the_controller_records():
    d = dep()
    deadline = ProgressDeadline(d, started=1000.0)
    assert deadline.at == 1000.0 + 600 + CONTROLLER_GRACE
    deadline.observe(view(d, 1100.0))
    assert deadline.at == 1100.0 + 600 + CONTROLLER_GRACE
    deadline.observe(view(dep(), 1500.0))  # nothing moved: the deadline stays
    assert deadline.at == 1100.0 + 600 + CONTROLLER_GRACE
    deadline.observe(view(dep(ready=2, updated_at="2026-11-25T09:08:20Z"), 1600.0))
    assert deadline.at == 1600.0 + 600 + CONTROLLER_GRACE
    assert not deadline.expired(1600.0 + 629) and deadline.expired(1600.0 + 630)


def test_a_rollout_forty_minutes_long_never_meets_a_deadline_while_it_progresses():
    deadline = ProgressDeadline(dep(replicas=40), started=0.0)
    for minute in range(40):
        d = dep(replicas=40, updated=minute + 1, ready=minute, available=minute)
        deadline.observe(view(d, minute * 60.0))
        assert not deadline.expired(minute * 60.0 + 59)


def test_no_deadline_for_a_deployment_without_one():
    assert ProgressDeadline(dep(pds=2147483647), 0.0).at is None


class Watches:
    connected = True
    last_error = None


def test_after_the_deadline_without_the_controller_s_verdict_the_controller_is_stalled():
    deadline = ProgressDeadline(dep(pds=10), started=0.0)
    outcome = deadline.outcome(view(dep(pds=10), 40.0), Watches())
    assert outcome.reason == "controller_stalled"
    assert "progress deadline of 10s passed without the controller's own ProgressDeadlineExceeded" in outcome.message
    lost = Watches()
    lost.connected, lost.last_error = False, "connection refused"
    assert deadline.outcome(view(dep(pds=10), 40.0), lost).reason == "api_error"
    assert deadline.outcome(None, lost).reason == "api_error"


def test_the_cap_and_the_hold_end_when_they_say():
    cap = Cap(started=0.0, seconds=30)
    assert not cap.expired(29.9) and cap.expired(30)
    assert cap.outcome(view(dep()), None).reason == "timeout"
    held = HoldUntil("bake", 50.0, 20, "3 new pod(s)")
    assert held.expired(50.0) and held.outcome(None, None).ok


# -- the rollout judge -----------------------------------------------------------------------------
def judge(**kw):
    return RolloutJudge(diagnose.Thresholds(), **kw)


def test_a_cache_older_than_our_own_write_is_not_judged():
    # What the watch still shows from before the write: complete, on the old template.
    old = dep(generation=1, observed=1, updated=3, ready=3, available=3)
    assert judge(min_generation=2).judge(view(old)) is None
    assert judge(min_generation=1).judge(view(old)).ok


def test_paused_is_reported_naming_who_paused():
    d = dep(generation=3, observed=3, paused=True)
    d["metadata"]["managedFields"] = [
        {"manager": "modelops.serving", "time": "2026-11-25T09:00:00Z", "fieldsV1": {"f:spec": {"f:template": {}}}},
        {"manager": "kubectl-rollout", "time": "2026-11-25T09:01:00Z", "fieldsV1": {"f:spec": {"f:paused": {}}}}]
    outcome = judge().judge(view(d))
    assert outcome.reason == "paused"
    assert outcome.message.startswith("Deployment serving/llm was paused by kubectl-rollout at 2026-11-25T09:01:00Z")
    assert paused_by(d) == ("kubectl-rollout", "2026-11-25T09:01:00Z")
    # A paused Deployment whose rollout is complete is complete.
    assert judge().judge(view(dep(updated=3, ready=3, available=3, paused=True))).ok


def test_the_paused_message_says_who_how_far_and_what_to_do():
    d = dep(generation=3, observed=3, updated=1, paused=True)
    d["metadata"]["managedFields"] = [
        {"manager": "late-but-not-paused", "time": "2026-11-25T09:09:00Z", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
        {"manager": "kubectl-rollout", "time": "2026-11-25T09:01:00Z", "fieldsV1": {"f:spec": {"f:paused": {}}}},
        {"manager": "earlier-pauser", "time": "2026-11-25T08:00:00Z", "fieldsV1": {"f:spec": {"f:paused": {}}}},
        {"manager": "no-fields", "time": "2026-11-25T10:00:00Z"}]
    # The latest write that owns spec.paused, not the latest write, nor the first that paused.
    assert paused_by(d) == ("kubectl-rollout", "2026-11-25T09:01:00Z")
    assert judge().judge(view(d)).message == (
        "Deployment serving/llm was paused by kubectl-rollout at 2026-11-25T09:01:00Z and will not progress until "
        "it is resumed; nothing more was written (1 of 3 replicas run the new template). Inspect it, then "
        "`kubectl rollout resume deployment/llm -n serving` to let it continue (or `kubectl rollout undo`), and "
        "run this task again")
    del d["metadata"]["managedFields"]
    assert paused_by(d) == (None, None)
    assert "was paused and will not progress" in judge().judge(view(d)).message


def test_a_generation_the_controller_never_observes_is_a_stalled_controller_after_the_grace():
    j = judge()
    d = dep(generation=3, observed=2)
    assert j.judge(view(d, 1000.0)) is None
    assert j.wake(view(d, 1000.0)) == 1000.0 + CONTROLLER_GRACE
    assert j.judge(view(d, 1000.0 + CONTROLLER_GRACE - 1)) is None
    outcome = j.judge(view(d, 1000.0 + CONTROLLER_GRACE))
    assert outcome.reason == "controller_stalled"
    assert "has not observed generation 3 of Deployment serving/llm for 30s (it has seen 2)" in outcome.message
    # Observed again: the clock of the stall starts over.
    j.judge(view(dep(generation=3, observed=3), 1100.0))
    assert j.unobserved_since is None


def test_the_deadline_condition_names_the_likeliest_cause():
    d = dep(reason="ProgressDeadlineExceeded", pds=8)
    d["status"]["conditions"][0]["status"] = "False"
    pod = {"metadata": {"name": "llm-x-1"}, "status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
         "message": "containers with unready status: [s]", "lastTransitionTime": "2026-11-25T08:59:50Z"}],
        "containerStatuses": [{"name": "s", "ready": False, "state": {"running": {}}}]}}
    outcome = judge().judge(view(d, pods=[pod]))
    assert outcome.reason == "progress_deadline_exceeded"
    assert "exceeded its progress deadline (8s without progress)" in outcome.message
    assert "ContainersNotReady" in outcome.message


def test_a_deadline_condition_from_before_our_write_is_no_verdict():
    d = dep(reason="ProgressDeadlineExceeded", updated_at="2026-11-25T08:00:00Z")
    assert judge(written_at="2026-11-25T09:00:00Z").judge(view(d)) is None
    assert judge(written_at="2026-11-25T07:00:00Z").judge(view(d)).reason == "progress_deadline_exceeded"


def test_quota_and_admission_failures_are_named_at_the_deadline():
    d = dep(reason="ProgressDeadlineExceeded")
    d["status"]["conditions"].append({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                      "message": 'pods "llm-x" is forbidden: exceeded quota: gpu'})
    assert stall_cause(view(d)) == 'FailedCreate: pods "llm-x" is forbidden: exceeded quota: gpu'


def test_an_unschedulable_pod_wakes_the_loop_when_its_grace_ends():
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "lastTransitionTime": "2026-11-25T08:59:50Z"}]}}
    wake = judge().wake(view(dep(), 1000.0, pods=[pod]))
    assert wake == pytest.approx(1000.0 + 20 + 0.05)


# -- the hold verdict -------------------------------------------------------------------------------
def pod(name, restarts=0, ready=True, deleting=False, last=None):
    p = {"metadata": {"name": name},
         "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                    "reason": None if ready else "ContainersNotReady"}],
                    "containerStatuses": [{"name": "server", "restartCount": restarts,
                                           "lastState": {"terminated": last} if last else {}}]}}
    if deleting:
        p["metadata"]["deletionTimestamp"] = "2026-11-25T09:00:00Z"
    return p


def test_one_hold_verdict_for_restarts_readiness_deletion_and_availability():
    base = hold.Baseline([pod("a"), pod("b", restarts=2)])
    full = dep(updated=3, ready=3, available=3)
    assert hold.verdict(base, full, [pod("a"), pod("b", restarts=2)]) is None
    assert hold.verdict(base, full, [pod("a", restarts=1, last={"reason": "OOMKilled", "exitCode": 137}),
                                     pod("b", restarts=2)]) == (
        "bake_restart", "container server of pod a restarted (restarts 0 -> 1) (last exit: OOMKilled, code 137)")
    assert hold.verdict(base, full, [pod("a"), pod("b", restarts=2, ready=False)]) == (
        "bake_not_ready", "pod b lost readiness (ContainersNotReady)")
    assert hold.verdict(base, full, [pod("a")]) == ("bake_not_ready", "pod b was deleted")
    assert hold.verdict(base, full, [pod("a"), pod("b", deleting=True)]) == ("bake_not_ready", "pod b was deleted")
    assert hold.verdict(base, dep(available=2), [pod("a"), pod("b", restarts=2)]) == (
        "bake_unavailable", "only 2 of 3 replicas of llm available")
    # Counts of an older spec say nothing yet.
    assert hold.verdict(base, dep(generation=3, observed=2, available=0), [pod("a"), pod("b", restarts=2)]) is None
    # A pod that appears during the hold is held to no restarts.
    assert hold.verdict(base, full, [pod("a"), pod("b", restarts=2), pod("c", restarts=1)])[0] == "bake_restart"


def test_the_hold_judge_prefixes_the_phase():
    j = HoldJudge("canary step 2", hold.Baseline([pod("a")]))
    outcome = j.judge(view(dep(updated=3, ready=3, available=3), pods=[pod("a", ready=False)]))
    assert outcome.message == "canary step 2: pod a lost readiness (ContainersNotReady)"


# -- the loop itself -------------------------------------------------------------------------------
class StillWatches:
    def __init__(self, clock, deployment):
        self.clock = clock
        self.cache = Cache()
        self.cache.apply(Change("deployment", Change.SYNC, objects=[deployment]))
        self.cache.apply(Change("replicaset", Change.SYNC, objects=[]))
        self.cache.apply(Change("pod", Change.SYNC, objects=[]))
        self.all_synced, self.connected, self.last_error = True, True, None
        self.queued = []
        self.waits = []

    def start(self):
        pass

    def stop(self):
        pass

    def drain(self):
        out, self.queued = self.queued, []
        return out

    def next_change(self, timeout):
        self.waits.append(timeout)
        self.clock.advance(timeout)

    def stats(self):
        return {"pod": {"lists": 1, "watches": 1, "reconnects": 0}}


class Lease:
    def __init__(self, clock, every=2.0, lose_at=None):
        self.clock = clock
        self.every = every
        self.next_renewal = clock.monotonic() + every
        self.renewals = []
        self.lose_at = lose_at

    def due(self, now):
        return now >= self.next_renewal

    def renew(self):
        self.renewals.append(self.clock.monotonic())
        self.next_renewal = self.clock.monotonic() + self.every

    def check(self, now):
        if self.lose_at is not None and now >= self.lose_at:
            raise LockLost("the rollout Lease serving/modelops-rollout-llm was taken by bob during the run")


def loop_on(deployment, lease=None):
    clock = FakeClock()
    watches = StillWatches(clock, deployment)
    loop = WaitLoop(api=None, clock=clock, lease=lease(clock) if lease else None,
                    watches=lambda _api, _d: watches)
    return loop, clock, watches


def test_a_hold_sleeps_until_the_next_renewal_and_renews_on_schedule():
    d = dep(updated=3, ready=3, available=3)
    loop, clock, watches = loop_on(d, lease=Lease)
    outcome = loop.wait("hold", d, Quiet(), deadline=HoldUntil("hold", clock.monotonic() + 10, 10, "pods"))
    assert outcome.ok
    assert [t - 1000.0 for t in loop.lease.renewals] == [2, 4, 6, 8, 10]
    # Never polled: each wait was the whole time to the next thing due.
    assert watches.waits == [2.0] * 5


def test_a_lost_lease_ends_any_wait_as_lock_lost():
    d = dep()
    loop, clock, _watches = loop_on(d, lease=lambda c: Lease(c, lose_at=c.monotonic() + 5))
    outcome = loop.wait("canary step 1", d, Quiet(), deadline=HoldUntil("h", clock.monotonic() + 60, 60, "pods"))
    assert (outcome.ok, outcome.reason) == (False, "lock_lost")
    assert "taken by bob" in outcome.message


def test_a_deleted_deployment_ends_the_wait():
    d = dep()
    loop, _clock, watches = loop_on(d)
    watches.cache.apply(Change("deployment", Change.SYNC, objects=[]))
    outcome = loop.wait("rollout", d, Quiet())
    assert outcome.reason == "deployment_deleted"


def test_watches_are_kept_across_phases_of_one_deployment_and_stopped_at_the_end():
    d = dep(updated=3, ready=3, available=3)
    made = []
    clock = FakeClock()

    def factory(_api, deployment):
        made.append(deployment["metadata"]["name"])
        return StillWatches(clock, deployment)

    loop = WaitLoop(api=None, clock=clock, watches=factory)
    loop.wait("rollout", d, judge())
    loop.wait("bake", d, Quiet(), deadline=HoldUntil("bake", clock.monotonic() + 1, 1, "pods"))
    other = copy.deepcopy(d)
    other["metadata"]["name"] = "llm-canary"
    loop.wait("canary", other, judge())
    assert made == ["llm", "llm-canary"]
    loop.close()
    assert set(loop.stats) == {"llm", "llm-canary"}


# -- the rollout judge: what each verdict carries ----------------------------------------------------
def crashing(name="llm-new-1"):
    return {"metadata": {"name": name}, "status": {"phase": "Running", "containerStatuses": [
        {"name": "s", "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]}}


def ready_pod(name, ready, changed_at):
    return {"metadata": {"name": name, "uid": name}, "status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": changed_at}],
        "containerStatuses": [{"name": "s", "ready": ready, "state": {"running": {}}}]}}


def test_complete_is_ok_with_kubectl_s_words():
    outcome = judge().judge(view(dep(updated=3, ready=3, available=3)))
    assert (outcome.ok, outcome.reason, outcome.message) == (True, "complete", 'deployment "llm" successfully rolled out')


def test_complete_waits_while_the_pod_watch_still_shows_a_new_pod_before_it_was_ready():
    # Under load the pod watch can lag the Deployment's: the controller counts 3 available, and
    # the view still has pod c as it was created. What follows (gates, a hold) must not start
    # from that pod; the next pod event ends the wait.
    done = dep(updated=3, ready=3, available=3)
    stale = [ready_pod("a", True, "t"), ready_pod("b", True, "t"), ready_pod("c", False, "t")]
    j = judge()
    assert j.judge(view(done, 1000.0, pods=stale)) is None
    assert j.wake(view(done, 1000.0, pods=stale)) == 1000.0 + CONTROLLER_GRACE
    assert j.judge(view(done, 1010.0, pods=stale)) is None
    caught_up = stale[:2] + [ready_pod("c", True, "t")]
    assert j.judge(view(done, 1011.0, pods=caught_up)).reason == "complete"
    assert j.wake(view(done, 1011.0, pods=caught_up)) is None
    # A pod on its way out, or one that ended, is no lag.
    leaving = ready_pod("d", False, "t")
    leaving["metadata"]["deletionTimestamp"] = "t"
    ended = ready_pod("e", False, "t")
    ended["status"]["phase"] = "Failed"
    assert judge().judge(view(done, 1000.0, pods=caught_up + [leaving, ended])).reason == "complete"


def test_a_lag_that_outlasts_the_grace_is_the_deployment_s_word_as_kubectl_takes_it():
    done = dep(updated=3, ready=3, available=3)
    stale = [ready_pod("a", False, "t")]
    j = judge()
    assert j.judge(view(done, 1000.0, pods=stale)) is None
    assert j.judge(view(done, 1000.0 + CONTROLLER_GRACE - 0.1, pods=stale)) is None
    assert j.judge(view(done, 1000.0 + CONTROLLER_GRACE, pods=stale)).reason == "complete"


def test_the_lag_grace_starts_again_after_the_deployment_was_not_complete():
    done, rolling = dep(updated=3, ready=3, available=3), dep(updated=3, ready=2, available=2)
    stale = [ready_pod("a", False, "t")]
    j = judge()
    assert j.judge(view(done, 1000.0, pods=stale)) is None
    assert j.judge(view(rolling, 1020.0, pods=stale)) is None
    assert j.wake(view(rolling, 1020.0)) is None
    assert j.judge(view(done, 1040.0, pods=stale)) is None
    assert j.judge(view(done, 1040.0 + CONTROLLER_GRACE - 0.1, pods=stale)) is None


def test_a_crash_looping_new_pod_fails_the_rollout_with_its_evidence():
    outcome = judge().judge(view(dep(), pods=[crashing()]))
    assert (outcome.ok, outcome.reason) == (False, "crash_loop")
    assert outcome.message == ("pod llm-new-1 container s: CrashLoopBackOff (last terminated: Error (exit code 1)) "
                               "after 2 restarts on 1 of 1 new pods")
    assert outcome.evidence == [{"pod": "llm-new-1", "container": "s", "init": False, "kind": "crash_loop",
                                 "reason": "CrashLoopBackOff", "message": "last terminated: Error (exit code 1)",
                                 "restarts": 2, "seconds": None}]
    # The user's thresholds decide: three restarts allowed is no failure yet.
    assert RolloutJudge(diagnose.Thresholds(crash_restarts=3)).judge(view(dep(), pods=[crashing()])) is None


def test_readiness_flapping_is_counted_across_looks_at_the_user_s_threshold():
    j = RolloutJudge(diagnose.Thresholds(flap_transitions=1))
    assert j.judge(view(dep(), pods=[ready_pod("p", True, "2026-11-25T08:59:00Z")])) is None
    outcome = j.judge(view(dep(), pods=[ready_pod("p", False, "2026-11-25T08:59:30Z")]))
    assert (outcome.ok, outcome.reason) == (False, "ready_flapping")
    assert outcome.message == "pod p container s: ReadyFlapping (Ready went from True to False 1 times) on 1 of 1 new pods"
    # At the default threshold (3) one drop is no verdict.
    j = judge()
    j.judge(view(dep(), pods=[ready_pod("p", True, "2026-11-25T08:59:00Z")]))
    assert j.judge(view(dep(), pods=[ready_pod("p", False, "2026-11-25T08:59:30Z")])) is None


def owned(name, uid, owner, **meta):
    m = {"name": name, "uid": uid, "ownerReferences": [{"uid": owner, "controller": True}]}
    m.update(meta)
    return m


def with_old_pod_terminating(terminating, mono=1000.0, wall=WALL):
    """A new pod Unschedulable for 60s, and an old pod of the same Deployment that may be on its way out."""
    d = dep()
    new_rs = {"metadata": owned("llm-new", "rs-new", "d1"), "spec": {"template": d["spec"]["template"]}}
    old_rs = {"metadata": owned("llm-old", "rs-old", "d1"),
              "spec": {"template": {"metadata": {"labels": {"app": "llm"}}, "spec": {"containers": [{"name": "o"}]}}}}
    new = {"metadata": owned("llm-new-1", "p1", "rs-new"), "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available",
         "lastTransitionTime": "2026-11-25T08:59:00Z"}]}}
    old = {"metadata": owned("llm-old-1", "p0", "rs-old"), "status": {"phase": "Running"}}
    if terminating:
        old["metadata"]["deletionTimestamp"] = "2026-11-25T08:59:59Z"
    return View(d, [new_rs, old_rs], [old, new], mono, wall)


def test_an_unschedulable_pod_s_grace_counts_from_when_the_deployment_s_own_pods_stopped_terminating():
    j = judge()
    assert j.judge(with_old_pod_terminating(True)) is None
    # Its room is still being freed: the grace starts at the last look that saw a pod terminating.
    assert j.wake(with_old_pod_terminating(False)) == pytest.approx(1000.0 + 30 + 0.05)
    outcome = judge().judge(with_old_pod_terminating(False))
    assert (outcome.ok, outcome.reason) == (False, "unschedulable")
    assert outcome.message == ("pod llm-new-1: Unschedulable (0/3 nodes are available) for 60s on 1 of 1 new pods")


def test_a_canary_s_terminating_pods_do_not_hold_the_grace_of_the_deployment():
    # Pods of another owner (a canary's, a green's) that match the selector are not this Deployment's.
    v = with_old_pod_terminating(True)
    v.replicasets[1]["metadata"]["ownerReferences"][0]["uid"] = "canary"
    assert judge().judge(v).reason == "unschedulable"


@pytest.mark.parametrize("thresholds, conditions, wake", [
    # Passed already: wake at once.
    (diagnose.Thresholds(unschedulable_seconds=30),
     [{"type": "PodScheduled", "status": "False", "lastTransitionTime": "2026-11-25T08:58:00Z"}], 1000.05),
    # A condition that holds (True) or has no time waits for no grace, and the next one still counts.
    (diagnose.Thresholds(),
     [{"type": "Initialized", "status": "True", "lastTransitionTime": "2026-11-25T08:59:00Z"},
      {"type": "ContainersReady", "status": "False"},
      {"type": "PodScheduled", "status": "False", "lastTransitionTime": "2026-11-25T08:59:50Z"}], 1020.05),
    (diagnose.Thresholds(not_ready_seconds=60),
     [{"type": "Ready", "status": "False", "lastTransitionTime": "2026-11-25T08:59:20Z"}], 1020.05),
    # A check the user turned off sets no alarm.
    (diagnose.Thresholds(not_ready_seconds=None),
     [{"type": "Ready", "status": "False", "lastTransitionTime": "2026-11-25T08:59:20Z"}], None),
    (diagnose.Thresholds(unschedulable_seconds=None, not_ready_seconds=60),
     [{"type": "PodScheduled", "status": "False", "lastTransitionTime": "2026-11-25T08:59:20Z"}], None),
    (diagnose.Thresholds(not_ready_seconds=60),
     [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-25T08:59:20Z"},
      {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-25T08:59:20Z"}], None),
])
def test_the_judge_wakes_when_a_grace_ends_and_only_then(thresholds, conditions, wake):
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Pending", "conditions": conditions}}
    got = RolloutJudge(thresholds).wake(view(dep(), 1000.0, pods=[pod]))
    assert got == (pytest.approx(wake) if wake is not None else None)


def test_the_deadline_message_says_the_deadline_and_the_cause_or_nothing_more():
    d = dep(reason="ProgressDeadlineExceeded")
    d["status"]["conditions"][0]["status"] = "False"
    outcome = judge().judge(view(d))
    assert (outcome.ok, outcome.reason) == (False, "progress_deadline_exceeded")
    assert outcome.message == ('deployment "llm" exceeded its progress deadline (600s without progress): '
                               "no pod of the new template exists")
    healthy = ready_pod("p", True, "2026-11-25T08:59:00Z")
    assert stall_cause(view(d, pods=[healthy])) == ""
    assert judge().judge(view(d, pods=[healthy])).message == (
        'deployment "llm" exceeded its progress deadline (600s without progress)')


def test_the_stall_cause_measures_a_pending_pod_on_the_view_s_clock():
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "no room",
         "lastTransitionTime": "2026-11-25T08:59:50Z"}]}}
    assert stall_cause(view(dep(), pods=[pod])) == "pod p: Unschedulable (no room) for 10s on 1 of 1 new pods"


def test_a_replica_failure_without_reason_or_message_still_names_itself():
    d = dep()
    d["status"]["conditions"].append({"type": "ReplicaFailure", "status": "True"})
    assert stall_cause(view(d)) == "ReplicaFailure: "
    d["status"]["conditions"][-1]["status"] = "False"
    assert stall_cause(view(d)) == "no pod of the new template exists"


def test_a_deadline_written_at_the_second_of_our_write_is_from_before_it():
    d = dep(reason="ProgressDeadlineExceeded", updated_at="2026-11-25T09:00:00Z")
    assert judge(written_at="2026-11-25T09:00:00Z").judge(view(d)) is None
    assert judge(written_at=None).judge(view(d)).reason == "progress_deadline_exceeded"


def test_the_paused_and_stalled_verdicts_are_failures_with_their_whole_message():
    paused = dep(generation=3, observed=3, paused=True)
    del paused["status"]["updatedReplicas"]
    del paused["spec"]["replicas"]
    outcome = judge().judge(view(paused))
    assert (outcome.ok, outcome.reason) == (False, "paused")
    assert "(0 of 1 replicas run the new template)" in outcome.message
    j = judge()
    j.judge(view(dep(generation=3, observed=2), 1000.0))
    outcome = j.judge(view(dep(generation=3, observed=2), 1000.0 + CONTROLLER_GRACE))
    assert (outcome.ok, outcome.reason) == (False, "controller_stalled")
    assert outcome.message == (
        "kube-controller-manager has not observed generation 3 of Deployment serving/llm for 30s (it has seen 2). "
        "That is no verdict on the new template: nothing more was written. Check kube-controller-manager; "
        "running the same task again resumes the wait")


def test_the_latest_write_that_owns_paused_is_named_and_one_without_a_time_never_wins():
    d = dep(generation=3, observed=3, paused=True)
    d["metadata"]["managedFields"] = [
        {"manager": "first", "time": "2026-11-25T08:00:00Z", "fieldsV1": {"f:spec": {"f:paused": {}}}},
        {"manager": "later", "time": "2026-11-25T09:01:00Z", "fieldsV1": {"f:spec": {"f:paused": {}}}},
        {"manager": "untimed", "fieldsV1": {"f:spec": {"f:paused": {}}}}]
    assert paused_by(d) == ("later", "2026-11-25T09:01:00Z")


def test_an_object_without_a_generation_is_judged_unless_the_judge_waits_for_our_write():
    d = dep(updated=3, ready=3, available=3)
    del d["metadata"]["generation"]
    assert RolloutJudge(diagnose.Thresholds()).judge(view(d)).ok
    assert judge(min_generation=1).judge(view(d)) is None


def test_the_hold_judge_breaks_on_availability_loss():
    j = HoldJudge("bake", hold.Baseline([pod("a")]))
    outcome = j.judge(view(dep(updated=3, ready=3, available=2), pods=[pod("a")]))
    assert (outcome.ok, outcome.reason, outcome.message) == (
        False, "bake_unavailable", "bake: only 2 of 3 replicas of llm available")


# -- another hand's template: superseded -------------------------------------------------------------
def other_hand(images=("repo/model:v1",), generation=5):
    d = dep(generation=generation, observed=generation, updated=3, ready=3, available=3)
    d["spec"]["template"] = {"metadata": {"labels": {"app": "llm"}},
                             "spec": {"containers": [({"name": "c%d" % i, "image": im} if im else {"name": "c%d" % i})
                                                     for i, im in enumerate(images)]}}
    return d


OURS = dep()["spec"]["template"]


def test_the_template_of_a_deployment_or_of_nothing():
    assert template_of(dep()) == OURS
    assert template_of(None) is None
    assert template_of({}) is None
    assert template_of({"spec": {}}) is None


def test_superseded_names_the_template_that_stands_and_what_to_do():
    assert superseded(dep(), None) is None
    assert superseded(dep(), OURS) is None
    outcome = superseded(other_hand(("repo/model:v1", "repo/sidecar:3")), OURS)
    assert (outcome.ok, outcome.reason) == (False, "superseded")
    assert outcome.message == (
        "the pod template of Deployment serving/llm was changed by another hand during this run (now generation 5, "
        "image repo/model:v1, repo/sidecar:3); that template stands: nothing more was written and nothing was "
        "rolled back over it. Find who changed it (kubectl get deployment llm -n serving --show-managed-fields), "
        "then run this task again if the change is still wanted")


def test_superseded_names_an_image_it_cannot_read_with_a_question_mark():
    assert "image ?, repo/b:1);" in superseded(other_hand((None, "repo/b:1")), OURS).message
    assert "image ?);" in superseded(other_hand(()), OURS).message
    bare = other_hand()
    bare["spec"]["template"] = {"metadata": {"labels": {"app": "other"}}}
    assert "image ?);" in superseded(bare, OURS).message
    bare["spec"]["template"] = None
    assert "image ?);" in superseded(bare, OURS).message


def test_the_rollout_judge_says_superseded_before_complete():
    # `kubectl rollout undo` completes too: it is not the rollout this run asked for.
    theirs = other_hand()
    assert template_of(theirs) != OURS
    assert judge().judge(view(theirs)).reason == "complete"
    outcome = judge(template=OURS).judge(view(theirs))
    assert outcome.reason == "superseded" and "now generation 5, image repo/model:v1)" in outcome.message
    assert judge(template=OURS).judge(view(dep(updated=3, ready=3, available=3))).reason == "complete"
    # A cache older than our own write is not judged at all, not even for its template.
    assert judge(template=OURS, min_generation=6).judge(view(theirs)) is None


def test_the_hold_judge_says_superseded_before_any_hold_verdict():
    theirs = other_hand()
    held = hold.Baseline([pod("a")])
    assert HoldJudge("canary step 1", held).judge(view(theirs, pods=[pod("a")])) is None
    outcome = HoldJudge("canary step 1", held, OURS).judge(view(theirs, pods=[pod("a", ready=False)]))
    assert outcome.reason == "superseded" and "Deployment serving/llm" in outcome.message
    assert HoldJudge("canary step 1", held, OURS).judge(view(dep(updated=3, ready=3, available=3), pods=[pod("a")])) is None
