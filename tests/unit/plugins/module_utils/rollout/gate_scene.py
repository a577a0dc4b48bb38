"""The scene of a gate run in unit tests: a completed rollout of Deployment ``m`` whose new pods a
test chooses, watched by a wait loop on the fake clock (nothing changes unless the test says so).

Shared by test_gates.py and test_gate_verdicts.py.
"""

import json

from ansible_collections.modelops.serving.plugins.module_utils.rollout import gates
from ansible_collections.modelops.serving.plugins.module_utils.rollout.context import Context
from ansible_collections.modelops.serving.plugins.module_utils.rollout.result import Result
from ansible_collections.modelops.serving.plugins.module_utils.rollout.wait import View, WaitLoop
from ansible_collections.modelops.serving.plugins.module_utils.rollout.watch import Cache, Change
from tests.unit.plugins.module_utils.rollout.fake import FakeApi, FakeClock, make_settings


def cfg(**kw):
    base = dict((k, v.get("default")) for k, v in gates.GATES_ARG_SPEC.items())
    base.update(kw)
    return base


DEPLOYMENT = {"metadata": {"name": "m", "namespace": "serving", "uid": "d1", "generation": 2},
              "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "m"}},
                       "template": {"metadata": {"labels": {"app": "m"}},
                                    "spec": {"containers": [{"name": "server", "image": "repo/m:v2"}]}}},
              "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
                         "availableReplicas": 3}}
REPLICASET = {"metadata": {"name": "m-abc", "namespace": "serving", "uid": "rs1",
                           "labels": {"app": "m", "pod-template-hash": "abc"},
                           "ownerReferences": [{"uid": "d1", "controller": True}]},
              "spec": {"template": {"metadata": {"labels": {"app": "m", "pod-template-hash": "abc"}},
                                    "spec": {"containers": [{"name": "server", "image": "repo/m:v2"}]}}}}


def pod(name, ready=True):
    return {"metadata": {"name": name, "uid": "uid-" + name, "labels": {"pod-template-hash": "abc"},
                         "ownerReferences": [{"uid": "rs1", "controller": True}]},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


class StillWatches:
    """The watches of a scene that does not change by itself: waiting only moves the clock."""

    def __init__(self, clock, pods):
        self.clock = clock
        self.cache = Cache()
        for kind, items in (("deployment", [DEPLOYMENT]), ("replicaset", [REPLICASET]), ("pod", pods)):
            self.cache.apply(Change(kind, Change.SYNC, objects=items))
        self.all_synced, self.connected, self.last_error = True, True, None

    def start(self):
        pass

    def stop(self):
        pass

    def drain(self):
        return []

    def next_change(self, timeout):
        self.clock.advance(timeout or 0.01)

    def stats(self):
        return {}


def scene(pods):
    """A Context whose wait loop watches ``pods`` of DEPLOYMENT, on a fake clock."""
    clock = FakeClock()
    api = FakeApi(clock)
    settings = make_settings(name="m")
    ctx = Context(api, settings, clock, Result("serving", "m"), loop=None, progress=lambda line: None)
    watches = StillWatches(clock, pods)
    ctx.loop = WaitLoop(api, clock, watches=lambda _api, _deployment: watches)
    return ctx, View(DEPLOYMENT, [REPLICASET], pods, clock.monotonic(), clock.wall())


class ChangesAt(StillWatches):
    """A scene in which the pods change at given moments: ``[(seconds after start, [pods])]``."""

    def __init__(self, clock, pods, changes):
        super().__init__(clock, pods)
        self.changes = [(clock.monotonic() + t, items) for t, items in changes]

    def next_change(self, timeout):
        timeout = timeout or 0.01
        if self.changes and self.changes[0][0] <= self.clock.monotonic() + timeout:
            at, items = self.changes.pop(0)
            self.clock.advance(max(0.0, at - self.clock.monotonic()))
            change = Change("pod", Change.EVENT, objects=items, event_type="MODIFIED")
            self.cache.apply(change)
            return change
        self.clock.advance(timeout)
        return None


def restarted(p, count=1):
    p = json.loads(json.dumps(p))
    p["status"]["containerStatuses"] = [{"name": "server", "restartCount": count,
                                         "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]
    return p


def bake_scene(pods, changes):
    clock = FakeClock()
    ctx = Context(FakeApi(clock), make_settings(name="m"), clock, Result("serving", "m"), loop=None,
                  progress=lambda line: None)
    watches = ChangesAt(clock, pods, changes)
    ctx.loop = WaitLoop(ctx.api, clock, watches=lambda _api, _deployment: watches)
    return ctx, View(DEPLOYMENT, [REPLICASET], pods, clock.monotonic(), clock.wall())
