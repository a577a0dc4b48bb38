"""An independent witness of what a namespace serves: ready endpoints, Ready pods, Service selectors.

Integration tests that claim a capacity floor or an order of events (the Service switched only
after green was Ready, a canary step was seen) ask this witness, never the module's own report
or timeline. It watches EndpointSlices, Pods and Services of one namespace for the whole of a
``with`` block and keeps every event, so nothing that happened between two polls is missed.

Events of three watch streams are put back in one order by their resourceVersion. Kubernetes
calls resourceVersion opaque; on the test ground every object lives in one etcd, where it is
the etcd revision of the write, so the order is the order in which the writes happened. That is
a property of the test ground the witness relies on, not a claim about clusters in general.
"""

import threading
import time

from kubernetes import watch
from kubernetes.client.rest import ApiException

_KINDS = ("endpointslice", "pod", "service")


class PodView:
    """What the witness keeps of one pod."""

    __slots__ = ("name", "image", "template_hash", "owner", "ready", "deleting")

    def __init__(self, pod):
        meta = pod.metadata
        self.name = meta.name
        self.image = pod.spec.containers[0].image
        self.template_hash = (meta.labels or {}).get("pod-template-hash")
        self.owner = (meta.owner_references or [None])[0]
        self.owner = self.owner.name if self.owner is not None else None
        self.ready = any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
        self.deleting = meta.deletion_timestamp is not None


class State:
    """The namespace as it stood right after one write (``rv``)."""

    def __init__(self, rv, slices, pods, selectors, known_pods):
        self.rv = rv
        self.slices = slices          # (service, slice name) -> [ready target pod names]
        self.pods = pods              # pod name -> PodView, live pods only
        self.selectors = selectors    # service -> selector dict
        self._known = known_pods      # every pod ever seen, deleted ones included

    def ready_endpoints(self, service):
        return [name for (svc, _s), names in self.slices.items() if svc == service for name in names]

    def serving_images(self, service):
        """Ready endpoints of ``service`` counted by the image of the pod behind each."""
        mix = {}
        for name in self.ready_endpoints(service):
            pod = self._known.get(name)
            image = pod.image if pod is not None else None
            mix[image] = mix.get(image, 0) + 1
        return mix

    def ready_pods(self, **match):
        """Live pods whose Ready condition is True and whose fields equal ``match`` (image=, owner=...)."""
        return [p for p in self.pods.values() if p.ready and not p.deleting
                and all(getattr(p, k) == v for k, v in match.items())]


class Witness:
    """Watches one namespace for the whole of a ``with`` block; then answers from the record."""

    def __init__(self, k8s, namespace):
        self.k8s = k8s
        self.namespace = namespace
        self._events = []       # (rv, kind, type, object)
        self._initial = {}      # kind -> (list rv, items)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._errors = []
        self._threads = []
        self._states = None

    # -- recording ------------------------------------------------------------------------------
    def _lister(self, kind):
        # The bound method itself: the watch reads the type to decode events from its docstring.
        return {
            "endpointslice": self.k8s.discovery.list_namespaced_endpoint_slice,
            "pod": self.k8s.core.list_namespaced_pod,
            "service": self.k8s.core.list_namespaced_service,
        }[kind]

    def _follow(self, kind, rv):
        lister = self._lister(kind)
        while not self._stop.is_set():
            try:
                # The server ends each watch after 2 s, so a stop is noticed that soon.
                for event in watch.Watch().stream(lister, self.namespace, resource_version=rv, timeout_seconds=2,
                                                  allow_watch_bookmarks=True):
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        self._errors.append("%s watch ended: %s" % (kind, event.get("raw_object")))
                        return
                    if event["type"] == "BOOKMARK":
                        rv = event["raw_object"]["metadata"]["resourceVersion"]
                        continue
                    rv = obj.metadata.resource_version
                    with self._lock:
                        self._events.append((int(rv), kind, event["type"], obj))
                    if self._stop.is_set():
                        break
            except ApiException as exc:
                # 410 Gone would leave a gap in the record: a witness with a gap proves nothing.
                self._errors.append("%s watch ended: %s" % (kind, exc))
                return
            except Exception as exc:  # pylint: disable=broad-exception-caught
                self._errors.append("%s watch failed: %r" % (kind, exc))
                return

    def __enter__(self):
        for kind in _KINDS:
            listed = self._lister(kind)(self.namespace)
            self._initial[kind] = (int(listed.metadata.resource_version), listed.items)
        for kind in _KINDS:
            t = threading.Thread(target=self._follow, args=(kind, str(self._initial[kind][0])), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def catch_up(self, predicate, timeout=30):
        """Wait until the record holds a state for which ``predicate`` is true (the watch lags the API)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._states = None
            if any(predicate(s) for s in self.states()):
                return
            time.sleep(0.1)
        raise AssertionError("the witness never saw the awaited state in %ss" % timeout)

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(10)
        self._states = None

    # -- answers ----------------------------------------------------------------------------------
    def states(self):
        """Every state of the namespace from the start of the block on, in the order of the writes."""
        if self._states is not None:
            return self._states
        assert not self._errors, self._errors
        slices, pods, known, selectors = {}, {}, {}, {}
        apply = {"endpointslice": self._apply_slice, "pod": self._apply_pod, "service": self._apply_service}
        for kind, (_rv, items) in self._initial.items():
            for obj in items:
                apply[kind]("ADDED", obj, slices, pods, known, selectors)
        start = max(rv for rv, _items in self._initial.values())
        with self._lock:
            events = sorted(self._events, key=lambda e: e[0])
        states = []
        for rv, kind, etype, obj in events:
            apply[kind](etype, obj, slices, pods, known, selectors)
            if rv >= start:
                states.append(State(rv, dict(slices), dict(pods), dict(selectors), known))
        first = State(start, dict(slices), dict(pods), dict(selectors), known) if not states else None
        self._states = ([first] if first else []) + states
        # States before ``start`` mix objects listed at different moments; the record begins there.
        return self._states

    @staticmethod
    def _apply_slice(etype, obj, slices, _pods, _known, _selectors):
        service = (obj.metadata.labels or {}).get("kubernetes.io/service-name")
        key = (service, obj.metadata.name)
        if etype == "DELETED":
            slices.pop(key, None)
            return
        slices[key] = [ep.target_ref.name for ep in obj.endpoints or []
                       if ep.target_ref is not None and ep.conditions is not None and ep.conditions.ready]

    @staticmethod
    def _apply_pod(etype, obj, _slices, pods, known, _selectors):
        view = PodView(obj)
        known[view.name] = view
        if etype == "DELETED":
            pods.pop(view.name, None)
        else:
            pods[view.name] = view

    @staticmethod
    def _apply_service(etype, obj, _slices, _pods, _known, selectors):
        if etype == "DELETED":
            selectors.pop(obj.metadata.name, None)
        else:
            selectors[obj.metadata.name] = dict(obj.spec.selector or {})

    def floor(self, service):
        """The fewest ready endpoints ``service`` had at any moment of the block."""
        return min(len(s.ready_endpoints(service)) for s in self.states())

    def ready_counts(self, service):
        return [len(s.ready_endpoints(service)) for s in self.states()]

    def mixes(self, service):
        """The distinct image mixes of ready endpoints, in the order they first appeared."""
        seen = []
        for s in self.states():
            mix = s.serving_images(service)
            if mix not in seen:
                seen.append(mix)
        return seen

    def first(self, predicate):
        """The first state for which ``predicate`` is true, or None."""
        return next((s for s in self.states() if predicate(s)), None)
