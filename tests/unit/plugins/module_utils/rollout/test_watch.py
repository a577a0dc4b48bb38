"""Informers against scripted lists and watch streams: resume from the last version, relist only on 410, back off."""

import queue
import threading

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.rollout import watch
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError


def obj(name, version):
    return {"metadata": {"name": name, "uid": "uid-" + name, "resourceVersion": str(version)}}


class ScriptedApi:
    """Answers lists and watches from a script; each watch is a list of events or an exception."""

    def __init__(self, lists, watches):
        self.lists = list(lists)
        self.watches = list(watches)
        self.calls = []
        self.done = threading.Event()

    def get(self, path, query=None):
        self.calls.append(("list", dict(query or {})))
        answer = self.lists.pop(0) if self.lists else KubeError("no more lists in the script")
        if isinstance(answer, Exception):
            raise answer
        return answer

    def watch(self, path, query, timeout_seconds=300):
        self.calls.append(("watch", dict(query)))
        if not self.watches:
            self.done.set()
            threading.Event().wait(5)
            return
        answer = self.watches.pop(0)
        if isinstance(answer, Exception):
            raise answer
        for event in answer:
            if isinstance(event, Exception):
                raise event
            yield event


def listed(version, *names):
    return {"metadata": {"resourceVersion": str(version)}, "items": [obj(n, version) for n in names]}


def run(api, quick_ends=True):
    """Run an informer until its script is used up; return (changes, pauses, api calls)."""
    sink = queue.Queue()
    pauses = []
    clock = iter(range(0, 10 ** 6, 5)) if quick_ends else None
    informer = watch.Informer(api, "pod", "/api/v1/namespaces/ns/pods", {"labelSelector": "app=x"}, sink,
                              pause=lambda s: pauses.append(s) and False,
                              monotonic=(lambda: next(clock)) if clock else None)
    informer.start()
    assert api.done.wait(10), api.calls
    informer.stop()
    changes = []
    while not sink.empty():
        changes.append(sink.get())
    return changes, pauses, api.calls, informer


def test_a_watch_the_server_ends_is_resumed_from_the_last_version_without_a_list():
    api = ScriptedApi([listed(10, "a")], [
        [{"type": "MODIFIED", "object": obj("a", 11)}, {"type": "BOOKMARK", "object": obj("", 15)}],
        [{"type": "ADDED", "object": obj("b", 16)}],
    ])
    changes, pauses, calls, _informer = run(api)
    assert [c[0] for c in calls] == ["list", "watch", "watch", "watch"]
    assert calls[1][1]["resourceVersion"] == "10"
    assert calls[2][1]["resourceVersion"] == "15"  # the bookmark counts
    assert calls[3][1]["resourceVersion"] == "16"
    assert [(c.what, c.event_type) for c in changes] == [("sync", None), ("event", "MODIFIED"), ("event", "ADDED")]
    assert pauses == []


def test_a_dropped_connection_resumes_from_the_last_version_after_a_short_wait():
    api = ScriptedApi([listed(10, "a")], [
        [{"type": "MODIFIED", "object": obj("a", 11)}, KubeError("watch broke: connection reset")],
        KubeError("connection refused"),
        [{"type": "MODIFIED", "object": obj("a", 12)}],
    ])
    changes, pauses, calls, informer = run(api)
    assert [c[0] for c in calls] == ["list", "watch", "watch", "watch", "watch"]
    assert [c[1].get("resourceVersion") for c in calls[1:4]] == ["10", "11", "11"]
    assert pauses == [watch.BACKOFF[0], watch.BACKOFF[1]]
    assert [c.what for c in changes] == ["sync", "event", "lost", "lost", "event"]
    assert informer.lists == 1


@pytest.mark.parametrize("gone", [
    [{"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}}],
    KubeError("too old resource version", status=410),
], ids=["error-event", "http-410"])
def test_410_gone_lists_again_at_once(gone):
    api = ScriptedApi([listed(10, "a"), listed(20, "a", "b")], [gone, [{"type": "ADDED", "object": obj("c", 21)}]])
    changes, pauses, calls, _informer = run(api)
    assert [c[0] for c in calls] == ["list", "watch", "list", "watch", "watch"]
    assert calls[3][1]["resourceVersion"] == "20"
    assert pauses == []
    assert [c.what for c in changes] == ["sync", "sync", "event"]


def test_error_events_that_are_not_410_back_off_and_do_not_relist():
    error = [{"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "internal error"}}]
    api = ScriptedApi([listed(10, "a")], [error, error, error, error])
    changes, pauses, calls, informer = run(api)
    assert [c[0] for c in calls].count("list") == 1
    assert pauses == list(watch.BACKOFF[:4])
    assert informer.lists == 1
    assert [c.what for c in changes] == ["sync", "lost", "lost", "lost", "lost"]


def test_repeated_410s_back_off_instead_of_a_relist_storm():
    gone = [{"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old"}}]
    api = ScriptedApi([listed(v, "a") for v in (10, 20, 30, 40)], [gone, gone, gone])
    _changes, pauses, calls, _informer = run(api)
    assert [c[0] for c in calls][:7] == ["list", "watch", "list", "watch", "list", "watch", "list"]
    assert pauses == [watch.BACKOFF[0], watch.BACKOFF[1]]


def test_a_watch_that_ends_at_once_with_nothing_in_it_counts_as_a_failure():
    api = ScriptedApi([listed(10, "a")], [[], [], []])
    _changes, pauses, _calls, _informer = run(api, quick_ends=False)
    assert pauses == [watch.BACKOFF[0], watch.BACKOFF[1]]


def test_a_list_that_fails_is_retried_with_backoff():
    api = ScriptedApi([KubeError("connection refused"), KubeError("connection refused"), listed(10, "a")], [])
    changes, pauses, calls, _informer = run(api)
    assert [c[0] for c in calls] == ["list", "list", "list", "watch"]
    assert pauses == [watch.BACKOFF[0], watch.BACKOFF[1]]
    assert [c.what for c in changes] == ["lost", "lost", "sync"]


def test_the_watch_set_tracks_connection_and_sync():
    ws = watch.WatchSet(api=None)
    ws.informers = [object(), object()]
    ws.queue.put(watch.Change("pod", watch.Change.SYNC, objects=[obj("a", 1)]))
    ws.queue.put(watch.Change("pod", watch.Change.LOST, error=KubeError("reset")))
    ws.drain()
    assert not ws.all_synced and not ws.connected and ws.disconnects == 1
    ws.queue.put(watch.Change("deployment", watch.Change.SYNC, objects=[]))
    ws.drain()
    assert ws.all_synced and ws.connected
    assert ws.cache.items("pod") == [obj("a", 1)]


def test_backoff_grows_and_is_capped():
    assert [watch.backoff(n) for n in range(0, 9)] == [0.0] + list(watch.BACKOFF) + [watch.BACKOFF[-1]] * 2
