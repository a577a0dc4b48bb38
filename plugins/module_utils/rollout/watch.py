# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watches that survive: one list-then-watch per kind, feeding one queue.

Each ``Informer`` keeps a kind's objects current, as client-go's reflector does: it lists, then
watches from the list's resourceVersion. When the server ends a watch (its timeout) or the
connection drops (apiserver restart, network), it watches again *from the last resourceVersion
it saw*, so nothing is missed and nothing is listed again; only when that version is too old
(410 Gone, as an HTTP status or as an ERROR event) does it list again and hand the consumer a
fresh snapshot. Every failure waits before the next attempt, growing with consecutive failures
and reset only by a watch that delivers (a list alone does not count), so an apiserver that answers ERROR events in a loop is not met
by a loop of lists. The consumer never polls: it blocks on the queue, waking only for a change or
for a deadline it chose.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

try:
    import queue
except ImportError:  # pragma: no cover
    import Queue as queue  # noqa: N813

from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError, label_selector

# Waits between attempts after consecutive failures: quick at first, capped.
BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
WATCH_SECONDS = 240
# A watch ended by the server sooner than this without an event counts as a failure.
QUICK_END = 1.0


def backoff(failures):
    """Seconds to wait after ``failures`` consecutive failures (1 = the first)."""
    if failures <= 0:
        return 0.0
    return BACKOFF[min(failures, len(BACKOFF)) - 1]


class Change:
    """What an informer tells the consumer: a new snapshot, an event, or a lost connection."""

    SYNC = "sync"
    EVENT = "event"
    LOST = "lost"

    def __init__(self, kind, what, objects=None, event_type=None, error=None):
        self.kind = kind
        self.what = what
        self.objects = objects or []
        self.event_type = event_type
        self.error = error


class _Gone(Exception):
    """The resourceVersion we watch from is too old: list again."""


class _WatchError(Exception):
    """The server sent an ERROR event that is not 410: wait, then watch again from where we were."""


def _error_code(obj):
    try:
        return int((obj or {}).get("code") or 0)
    except (TypeError, ValueError):
        return 0


class Informer(threading.Thread):
    """Keep one kind of object current, in the background."""

    def __init__(self, api, kind, path, query, sink, watch_seconds=WATCH_SECONDS, pause=None, monotonic=None):
        super(Informer, self).__init__(name="informer-" + kind)
        self.daemon = True
        self.api = api
        self.kind = kind
        self.path = path
        self.query = dict(query)
        self.sink = sink
        self.watch_seconds = watch_seconds
        self.stopping = threading.Event()
        # How a failure waits; True means stop. Tests pass a recorder.
        self.pause = pause or self.stopping.wait
        self.monotonic = monotonic or time.monotonic
        self.lists = 0
        self.watches = 0
        self.reconnects = 0
        self.failures = 0
        # The resourceVersion to watch from; None lists first.
        self.version = None

    def stop(self):
        self.stopping.set()

    def run(self):
        while not self.stopping.is_set():
            try:
                if self.version is None:
                    self._list()
                started = self.monotonic()
                self._watch()
                if self.monotonic() - started < QUICK_END:
                    # A watch the server ends at once, with nothing in it, is no success either.
                    self._failed(None, report=False)
            except _Gone:
                self.version = None
                self._failed(None, report=False)
            except _WatchError as exc:
                self._failed(KubeError(str(exc)))
            except KubeError as exc:
                if exc.gone:
                    self.version = None
                    self._failed(None, report=False)
                else:
                    self._failed(exc)
            except Exception as exc:  # never die silently: the consumer must know
                self._failed(KubeError("%s informer: %r" % (self.kind, exc)))

    def _failed(self, error, report=True):
        if self.stopping.is_set():
            return
        self.failures += 1
        self.reconnects += 1
        if report:
            self.sink.put(Change(self.kind, Change.LOST, error=error))
        # The first relist after a 410 is immediate; a repeated one waits like any failure.
        delay = backoff(self.failures - (0 if report else 1))
        if delay:
            self.pause(delay)

    def _list(self):
        self.lists += 1
        listed = self.api.get(self.path, self.query)
        self.sink.put(Change(self.kind, Change.SYNC, objects=listed.get("items") or []))
        self.version = (listed.get("metadata") or {}).get("resourceVersion")

    def _watch(self):
        """Watch from the last version seen, which every event (bookmarks too) moves on."""
        self.watches += 1
        query = dict(self.query)
        if self.version:
            query["resourceVersion"] = self.version
        for event in self.api.watch(self.path, query, timeout_seconds=self.watch_seconds):
            if self.stopping.is_set():
                return
            etype = event.get("type")
            obj = event.get("object") or {}
            if etype == "ERROR":
                if _error_code(obj) == 410:
                    raise _Gone()
                raise _WatchError("watch of %s: %s" % (self.path, obj.get("message") or obj))
            self.failures = 0
            self.version = (obj.get("metadata") or {}).get("resourceVersion") or self.version
            if etype == "BOOKMARK":
                continue
            self.sink.put(Change(self.kind, Change.EVENT, objects=[obj], event_type=etype))


class Cache:
    """The consumer's view: objects by uid per kind, updated from Changes."""

    def __init__(self):
        self.objects = {}

    def apply(self, change):
        store = self.objects.setdefault(change.kind, {})
        if change.what == Change.SYNC:
            store.clear()
            for obj in change.objects:
                store[_uid(obj)] = obj
        elif change.what == Change.EVENT:
            for obj in change.objects:
                if change.event_type == "DELETED":
                    store.pop(_uid(obj), None)
                else:
                    store[_uid(obj)] = obj

    def items(self, kind):
        return list(self.objects.get(kind, {}).values())

    def one(self, kind):
        items = self.items(kind)
        return items[0] if items else None


def _uid(obj):
    meta = obj.get("metadata") or {}
    return meta.get("uid") or meta.get("name")


class WatchSet:
    """Several informers sharing one queue, started and stopped together."""

    def __init__(self, api, informer=Informer):
        self.api = api
        self.queue = queue.Queue()
        self.informers = []
        self.cache = Cache()
        self.synced = set()
        self.connected = True
        self.last_error = None
        self.disconnects = 0
        self._informer = informer

    def add(self, kind, path, query):
        self.informers.append(self._informer(self.api, kind, path, query, self.queue))

    def start(self):
        for informer in self.informers:
            informer.start()

    def stop(self):
        for informer in self.informers:
            informer.stop()

    def _apply(self, change):
        self.cache.apply(change)
        if change.what == Change.SYNC:
            self.synced.add(change.kind)
            self.connected = True
        elif change.what == Change.LOST:
            self.connected = False
            self.last_error = change.error
            self.disconnects += 1
        elif change.what == Change.EVENT:
            self.connected = True

    def next_change(self, timeout):
        """Block until a change arrives or ``timeout`` seconds pass; return it or None."""
        try:
            change = self.queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        self._apply(change)
        return change

    def drain(self):
        """Apply whatever is already queued without blocking; return the changes."""
        changes = []
        while True:
            try:
                change = self.queue.get_nowait()
            except queue.Empty:
                return changes
            self._apply(change)
            changes.append(change)

    @property
    def all_synced(self):
        return len(self.synced) == len(self.informers)

    def stats(self):
        return dict((i.kind, {"lists": i.lists, "watches": i.watches, "reconnects": i.reconnects})
                    for i in self.informers)


def selector_of(deployment):
    sel = (deployment.get("spec") or {}).get("selector") or {}
    return label_selector(sel.get("matchLabels"), sel.get("matchExpressions"))


def deployment_watches(api, deployment):
    """Watches of one Deployment, its ReplicaSets and its Pods, sharing one queue (not started)."""
    meta = deployment.get("metadata") or {}
    namespace, name = meta.get("namespace"), meta.get("name")
    selector = selector_of(deployment)
    ws = WatchSet(api)
    ws.add("deployment", api.deployment_path(namespace), {"fieldSelector": "metadata.name=" + name})
    ws.add("replicaset", api.path("apps/v1", "replicasets", namespace), {"labelSelector": selector})
    ws.add("pod", api.path("v1", "pods", namespace), {"labelSelector": selector})
    return ws
