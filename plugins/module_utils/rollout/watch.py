# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watches that survive: one list-then-watch per kind, feeding one queue.

Each ``Informer`` keeps a kind's objects current: it lists, then watches from
the list's resourceVersion. When the watch ends (server timeout), it resumes
from the last resourceVersion it saw; when the connection drops, the
apiserver restarts, or the version is too old (410 Gone), it lists again and
hands the consumer a fresh snapshot. The consumer never polls: it blocks on
the queue, waking only for a change or for a deadline it chose.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

try:
    import queue
except ImportError:  # pragma: no cover
    import Queue as queue  # noqa: N813

from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError

# Backoff between reconnects while the apiserver is away: quick at first, capped.
RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)


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


class Informer(threading.Thread):
    """Keep one kind of object current, in the background."""

    def __init__(self, api, kind, path, query, sink, watch_seconds=240):
        super(Informer, self).__init__(name="informer-" + kind)
        self.daemon = True
        self.api = api
        self.kind = kind
        self.path = path
        self.query = dict(query)
        self.sink = sink
        self.watch_seconds = watch_seconds
        self.stopping = threading.Event()
        self.lists = 0
        self.watches = 0
        self.reconnects = 0

    def stop(self):
        self.stopping.set()

    def run(self):
        failures = 0
        while not self.stopping.is_set():
            try:
                version = self._list()
                failures = 0
                while not self.stopping.is_set():
                    version = self._watch(version)
            except _Relist:
                continue
            except KubeError as exc:
                if self.stopping.is_set():
                    return
                self.sink.put(Change(self.kind, Change.LOST, error=exc))
                self.reconnects += 1
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                self.stopping.wait(delay)
            except Exception as exc:  # never die silently: the consumer must know
                self.sink.put(Change(self.kind, Change.LOST, error=KubeError("%s informer: %r" % (self.kind, exc))))
                self.stopping.wait(1.0)

    def _list(self):
        self.lists += 1
        listed = self.api.get(self.path, self.query)
        self.sink.put(Change(self.kind, Change.SYNC, objects=listed.get("items") or []))
        return (listed.get("metadata") or {}).get("resourceVersion")

    def _watch(self, version):
        """Watch from ``version``; return the version to resume from when the server ends it."""
        self.watches += 1
        query = dict(self.query)
        if version:
            query["resourceVersion"] = version
        for event in self.api.watch(self.path, query, timeout_seconds=self.watch_seconds):
            if self.stopping.is_set():
                return version
            etype = event.get("type")
            obj = event.get("object") or {}
            if etype == "ERROR":
                # 410 Gone (or any error status): our version is too old; start over from a list.
                raise _Relist()
            version = (obj.get("metadata") or {}).get("resourceVersion") or version
            if etype == "BOOKMARK":
                continue
            self.sink.put(Change(self.kind, Change.EVENT, objects=[obj], event_type=etype))
        return version


class _Relist(Exception):
    pass


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

    def __init__(self, api):
        self.api = api
        self.queue = queue.Queue()
        self.informers = []
        self.cache = Cache()
        self.synced = set()

    def add(self, kind, path, query):
        self.informers.append(Informer(self.api, kind, path, query, self.queue))

    def start(self):
        for informer in self.informers:
            informer.start()

    def stop(self):
        for informer in self.informers:
            informer.stop()

    def next_change(self, timeout):
        """Block until a change arrives or ``timeout`` seconds pass; return it or None."""
        try:
            change = self.queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        self.cache.apply(change)
        if change.what == Change.SYNC:
            self.synced.add(change.kind)
        return change

    def drain(self):
        """Apply whatever is already queued without blocking; return how many changes."""
        n = 0
        while True:
            try:
                change = self.queue.get_nowait()
            except queue.Empty:
                return n
            self.cache.apply(change)
            if change.what == Change.SYNC:
                self.synced.add(change.kind)
            n += 1

    @property
    def all_synced(self):
        return len(self.synced) == len(self.informers)

    def stats(self):
        return {i.kind: {"lists": i.lists, "watches": i.watches, "reconnects": i.reconnects}
                for i in self.informers}


def monotonic():
    return time.monotonic()
