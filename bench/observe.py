"""What the cluster itself says during a run, seen by the benchmark's own watches.

One watch per kind (the Deployment, its Pods, the Service's EndpointSlices), each event
stamped with ``time.monotonic()`` when it arrives. The contenders are judged against these.
"""

import json
import threading
import time

from kubernetes import client, watch

WATCH_SECONDS = 20


def deployment_state(d):
    """The fields the verdicts are made of, from a Deployment object (dict)."""
    spec = d.get("spec") or {}
    st = d.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    return {
        "generation": (d.get("metadata") or {}).get("generation") or 0,
        "observed": st.get("observedGeneration") or 0,
        "image": containers[0].get("image"),
        "desired": spec.get("replicas", 1),
        "replicas": st.get("replicas") or 0,
        "updated": st.get("updatedReplicas") or 0,
        "ready": st.get("readyReplicas") or 0,
        "available": st.get("availableReplicas") or 0,
        "unavailable": st.get("unavailableReplicas") or 0,
    }


def truly_complete(s):
    """The controller has finished: every replica updated and available, no old one left."""
    return (s["observed"] >= s["generation"] and s["updated"] == s["desired"] == s["available"]
            and s["replicas"] == s["updated"])


class _Stream(threading.Thread):
    """One resumable watch; ``handle(type, obj, t)`` gets every event."""

    def __init__(self, list_fn, handle, reset=None, **kwargs):
        super().__init__(daemon=True)
        self.list_fn = list_fn
        self.handle = handle
        self.reset = reset
        self.kwargs = kwargs
        self.stopping = threading.Event()
        self.synced = threading.Event()

    def run(self):
        rv = None
        while not self.stopping.is_set():
            try:
                if rv is None:
                    listed = self.list_fn(**self.kwargs, _preload_content=False)
                    body = json.loads(listed.data)
                    now = time.monotonic()
                    # A re-list after a lost watch is the whole truth: what vanished meanwhile goes.
                    if self.reset:
                        self.reset()
                    for item in body.get("items") or []:
                        self.handle("ADDED", item, now)
                    rv = body["metadata"]["resourceVersion"]
                    self.synced.set()
                w = watch.Watch()
                for event in w.stream(self.list_fn, resource_version=rv, timeout_seconds=WATCH_SECONDS,
                                      allow_watch_bookmarks=True, deserialize=False, **self.kwargs):
                    now = time.monotonic()
                    obj = event["object"]
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    if event["type"] != "BOOKMARK":
                        self.handle(event["type"], obj, now)
                    if self.stopping.is_set():
                        w.stop()
            except Exception:  # pylint: disable=broad-except
                # A dropped watch (apiserver busy, 410 Gone) re-lists; the bench never dies of it.
                rv = None
                time.sleep(0.2)


class Observer:
    """The benchmark's view of one Deployment, its Pods and its Service's ready endpoints."""

    def __init__(self, api, namespace, name, selector):
        self.namespace = namespace
        self.name = name
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.deployment = []      # (t, state)
        self.pods = {}            # name -> {"image", "ready", "deleted"}
        self.pod_events = []      # (t, ready pods by image) after each change
        self.slices = {}          # slice name -> ready endpoint count
        self.endpoints = []       # (t, ready endpoints)
        apps = client.AppsV1Api(api)
        core = client.CoreV1Api(api)
        disc = client.DiscoveryV1Api(api)
        self.streams = [
            _Stream(apps.list_namespaced_deployment, self._on_deployment, namespace=namespace,
                    field_selector="metadata.name=" + name),
            _Stream(core.list_namespaced_pod, self._on_pod, reset=self._reset_pods, namespace=namespace,
                    label_selector=selector),
            _Stream(disc.list_namespaced_endpoint_slice, self._on_slice, reset=self._reset_slices, namespace=namespace,
                    label_selector="kubernetes.io/service-name=" + name),
        ]

    def start(self):
        for s in self.streams:
            s.start()
        for s in self.streams:
            s.synced.wait(30)
        return self

    def stop(self):
        for s in self.streams:
            s.stopping.set()

    # -- events ------------------------------------------------------------------------------
    def _reset_pods(self):
        with self.lock:
            self.pods.clear()

    def _reset_slices(self):
        with self.lock:
            self.slices.clear()

    def _on_deployment(self, kind, obj, t):
        if kind == "DELETED":
            return
        with self.changed:
            self.deployment.append((t, deployment_state(obj)))
            self.changed.notify_all()

    def _on_pod(self, kind, obj, t):
        meta = obj.get("metadata") or {}
        containers = (obj.get("spec") or {}).get("containers") or [{}]
        conditions = (obj.get("status") or {}).get("conditions") or []
        # A terminating pod is out of the Service's ready endpoints whatever its Ready condition says.
        ready = not meta.get("deletionTimestamp") and any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        with self.changed:
            if kind == "DELETED":
                self.pods.pop(meta.get("name"), None)
            else:
                self.pods[meta.get("name")] = {"image": containers[0].get("image"), "ready": ready}
            counts = {}
            for pod in self.pods.values():
                if pod["ready"]:
                    counts[pod["image"]] = counts.get(pod["image"], 0) + 1
            self.pod_events.append((t, counts))
            self.changed.notify_all()

    def _on_slice(self, kind, obj, t):
        name = (obj.get("metadata") or {}).get("name")
        with self.changed:
            if kind == "DELETED":
                self.slices.pop(name, None)
            else:
                self.slices[name] = sum(
                    1 for ep in obj.get("endpoints") or [] if (ep.get("conditions") or {}).get("ready"))
            self.endpoints.append((t, sum(self.slices.values())))
            self.changed.notify_all()

    # -- questions ---------------------------------------------------------------------------
    def latest(self):
        with self.lock:
            return self.deployment[-1][1] if self.deployment else None

    def wait_for(self, predicate, timeout):
        """Block until ``predicate(self)`` holds (checked on every event); return it or None."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                value = predicate(self)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(min(left, 0.5))

    def complete_with(self, image):
        s = self.latest()
        return bool(s and s["image"] == image and truly_complete(s)) and self.ready_endpoints() == s["desired"]

    def ready_endpoints(self):
        return self.endpoints[-1][1] if self.endpoints else 0

    def first_write(self, after, generation):
        """When the Deployment's spec was first seen past ``generation``, after ``after``."""
        with self.lock:
            for t, s in self.deployment:
                if t >= after and s["generation"] > generation:
                    return t, s
        return None, None

    def first_complete(self, after, image):
        """The controller's status write that made the rollout to ``image`` complete."""
        with self.lock:
            for t, s in self.deployment:
                if t >= after and s["image"] == image and truly_complete(s):
                    return t
        return None

    def old_ready_at(self, t, image):
        """Ready pods not running ``image`` at time ``t``."""
        with self.lock:
            counts = {}
            for te, c in self.pod_events:
                if te > t:
                    break
                counts = c
        return sum(n for img, n in counts.items() if img != image)

    def endpoint_floor(self, start, end):
        """(min ready endpoints, seconds with none ready) over [start, end]."""
        with self.lock:
            points = list(self.endpoints)
        if start is None or end is None or end < start:
            return None, None
        level = 0
        for t, n in points:
            if t > start:
                break
            level = n
        low = level
        zero = 0.0
        prev_t = start
        for t, n in points:
            if t <= start:
                continue
            if t > end:
                break
            if level == 0:
                zero += t - prev_t
            level = n
            low = min(low, n)
            prev_t = t
        if level == 0:
            zero += end - prev_t
        return low, round(zero, 3)

    def timeline(self, start, end):
        """Deployment counts and ready endpoints between ``start`` and ``end``, t relative to start."""
        with self.lock:
            dep = [(round(t - start, 3), s["updated"], s["available"]) for t, s in self.deployment if start <= t <= end]
            eps = [(round(t - start, 3), n) for t, n in self.endpoints if start <= t <= end]
        return {"deployment": dep, "endpoints": eps}
