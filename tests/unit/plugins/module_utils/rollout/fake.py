"""A fake Kubernetes API, a fake Deployment controller and a fake clock, for the engine's unit tests.

Only pure logic may be tested against fakes; the integration tests run the same engine against the
real controllers. The fake keeps objects as the API returns them (JSON dicts, camelCase), applies
the three patch types the engine sends, honours resourceVersion and uid preconditions, bumps
generation on spec changes, stamps managedFields for the engine's field manager, and counts every
request. ``Controller.step`` plays kube-controller-manager and the kubelet on it: it observes
generations, makes ReplicaSets and pods for the template, moves pods by the test ground's image
tags (``:crash``, ``:pullfail``, ``:broken``, ``:big`` unschedulable, anything else Ready after
``ready_delay``) and keeps the Deployment's status and Progressing condition as the controller
does, ProgressDeadlineExceeded included.

``SyncWatches`` replaces the watch threads: each ``next_change`` advances the fake clock, lets the
controller act and lists again, so every test runs the same way every time and never sleeps.
"""

import copy
import datetime
import hashlib
import itertools
import json

from ansible_collections.modelops.serving.plugins.module_utils.rollout import runner, settings
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeApi, KubeError
from ansible_collections.modelops.serving.plugins.module_utils.rollout.watch import Cache, Change, selector_of

T0 = datetime.datetime(2026, 11, 25, 9, 0, 0, tzinfo=datetime.timezone.utc)
MANAGER = "modelops.serving"


def stamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeClock:
    """Monotonic seconds and the wall clock move together, only when someone waits."""

    def __init__(self, skew=0.0):
        self.t = 1000.0
        self.skew = datetime.timedelta(seconds=skew)
        self.on_advance = []

    def monotonic(self):
        return self.t

    def wall(self):
        return T0 + datetime.timedelta(seconds=self.t - 1000.0) + self.skew

    def server_wall(self):
        return T0 + datetime.timedelta(seconds=self.t - 1000.0)

    def sleep(self, seconds):
        self.advance(seconds)

    def advance(self, seconds):
        if seconds <= 0:
            return
        self.t += seconds
        for hook in list(self.on_advance):
            hook(self.t)


# -- the API -------------------------------------------------------------------------------------
PLURALS = {"deployments": "apps/v1", "replicasets": "apps/v1", "pods": "v1", "services": "v1", "events": "v1",
           "namespaces": "v1", "leases": "coordination.k8s.io/v1", "nodes": "v1"}
KINDS = {"deployments": "Deployment", "replicasets": "ReplicaSet", "pods": "Pod", "services": "Service",
         "leases": "Lease", "events": "Event", "namespaces": "Namespace", "nodes": "Node"}


def parse_path(path):
    """(plural, namespace, name, sub) of an API path."""
    parts = [p for p in path.split("/") if p]
    if parts[0] == "api":
        parts = parts[2:]
    else:
        parts = parts[3:]
    namespace = None
    if parts and parts[0] == "namespaces" and len(parts) > 2:
        namespace, parts = parts[1], parts[2:]
    plural = parts[0]
    name = parts[1] if len(parts) > 1 else None
    if plural == "namespaces" and namespace is None and name:
        return "namespaces", None, name, None
    sub = parts[2] if len(parts) > 2 else None
    return plural, namespace, name, sub


def labels_match(labels, selector):
    for part in [p for p in (selector or "").split(",") if p]:
        key, _eq, value = part.partition("=")
        if labels.get(key) != value:
            return False
    return True


def strategic_merge(target, patch):
    """The strategic merge patch as the API applies it to the fields the engine patches."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif key in ("containers", "env") and isinstance(value, list):
            current = target.setdefault(key, [])
            for item in value:
                for have in current:
                    if have.get("name") == item.get("name"):
                        strategic_merge(have, item)
                        break
                else:
                    current.append(dict((k, v) for k, v in item.items() if v is not None))
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            strategic_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def merge_patch(target, patch):
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def json_patch(target, ops):
    for op in ops:
        keys = [k.replace("~1", "/").replace("~0", "~") for k in op["path"].split("/")[1:]]
        node = target
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if op["op"] in ("replace", "add"):
            node[keys[-1]] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            node.pop(keys[-1], None)
    return target


class Response:
    def __init__(self, data):
        self.data = data

    def release_conn(self):
        pass


class FakeApi:
    """Enough of KubeApi for the engine, over an in-memory store."""

    path = staticmethod(KubeApi.path)

    def __init__(self, clock):
        self.clock = clock
        self.host = "https://fake.cluster:6443"
        self.field_manager = MANAGER
        self.store = {}
        self.requests = 0
        self.writes = []
        self.calls = []
        self.faults = []
        self.phase = None
        self.versions = itertools.count(100)
        self.uids = itertools.count(1)
        self.on_write = []

    def deployment_path(self, namespace, name=None):
        return self.path("apps/v1", "deployments", namespace, name)

    # -- faults --------------------------------------------------------------------------------
    def fail(self, exc, method=None, path=None, phase=None, times=1):
        """Raise ``exc`` on the next ``times`` calls that match (method, path substring, phase)."""
        self.faults.append({"exc": exc, "method": method, "path": path, "phase": phase, "times": times})

    def _fault(self, method, path):
        for fault in self.faults:
            if fault["times"] <= 0:
                continue
            if fault["method"] and fault["method"] != method:
                continue
            if fault["path"] and fault["path"] not in path:
                continue
            if fault["phase"] and fault["phase"] != self.phase:
                continue
            fault["times"] -= 1
            raise fault["exc"]

    def _enter(self, method, path, body=None):
        self.requests += 1
        self.calls.append((method, path, self.phase))
        self._fault(method, path)

    # -- store -----------------------------------------------------------------------------------
    def key(self, plural, namespace, name):
        return (plural, namespace, name)

    def add(self, plural, obj):
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", "uid-%d" % next(self.uids))
        meta["resourceVersion"] = str(next(self.versions))
        meta.setdefault("creationTimestamp", stamp(self.clock.server_wall()))
        if plural == "deployments":
            meta.setdefault("generation", 1)
        obj.setdefault("apiVersion", PLURALS[plural])
        obj.setdefault("kind", KINDS[plural])
        self.store[self.key(plural, meta.get("namespace"), meta["name"])] = obj
        return obj

    def obj(self, plural, namespace, name):
        return self.store.get(self.key(plural, namespace, name))

    def items(self, plural, namespace=None):
        return [o for (p, ns, _n), o in sorted(self.store.items()) if p == plural and (namespace is None or ns == namespace)]

    def remove(self, plural, namespace, name):
        self.store.pop(self.key(plural, namespace, name), None)

    def touch(self, obj):
        obj["metadata"]["resourceVersion"] = str(next(self.versions))

    def _managed(self, obj, fields):
        entry = {"manager": self.field_manager, "operation": "Update", "time": stamp(self.clock.server_wall()),
                 "fieldsV1": fields}
        others = [m for m in obj["metadata"].get("managedFields") or [] if m.get("manager") != self.field_manager]
        obj["metadata"]["managedFields"] = others + [entry]

    # -- verbs -----------------------------------------------------------------------------------
    def get(self, path, query=None):
        self._enter("GET", path)
        plural, namespace, name, _sub = parse_path(path)
        if name:
            obj = self.obj(plural, namespace, name)
            if obj is None:
                raise KubeError("%s %r not found" % (plural, name), status=404)
            return copy.deepcopy(obj)
        query = query or {}
        items = self.items(plural, namespace)
        field = query.get("fieldSelector", "")
        if field.startswith("metadata.name="):
            items = [o for o in items if o["metadata"]["name"] == field.split("=", 1)[1]]
        if query.get("labelSelector"):
            items = [o for o in items if labels_match(o["metadata"].get("labels") or {}, query["labelSelector"])]
        return {"items": copy.deepcopy(items), "metadata": {"resourceVersion": str(next(self.versions))}}

    def call(self, method, path, query=None, body=None, stream=False, timeout=30, content_type=None):
        self._enter(method, path)
        if path.endswith("/log"):
            return Response(b"loading model\nmodel failed\n")
        raise KubeError("not found", status=404)

    def _check_preconditions(self, obj, meta):
        version = meta.get("resourceVersion")
        if version and version != obj["metadata"]["resourceVersion"]:
            raise KubeError("the object has been modified; please apply your changes to the latest version",
                            status=409)
        uid = meta.get("uid")
        if uid and uid != obj["metadata"]["uid"]:
            raise KubeError("Precondition failed: UID in precondition: %s, UID in object meta: %s"
                            % (uid, obj["metadata"]["uid"]), status=409)

    def patch(self, path, body, patch_type="strategic", dry_run=False, query=None):
        self._enter("PATCH", path, body)
        plural, namespace, name, _sub = parse_path(path)
        current = self.obj(plural, namespace, name)
        if current is None:
            raise KubeError("%s %r not found" % (plural, name), status=404)
        obj = copy.deepcopy(current)
        if patch_type == "json":
            json_patch(obj, body)
        else:
            self._check_preconditions(current, (body.get("metadata") or {}))
            patch = copy.deepcopy(body)
            (patch.get("metadata") or {}).pop("resourceVersion", None)
            (patch.get("metadata") or {}).pop("uid", None)
            (strategic_merge if patch_type == "strategic" else merge_patch)(obj, patch)
        if dry_run:
            return obj
        if plural == "deployments" and obj.get("spec") != current.get("spec"):
            obj["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        paused = isinstance(body, dict) and "paused" in (body.get("spec") or {})
        self._managed(obj, {"f:spec": {"f:paused": {}}} if paused else {"f:spec": {}})
        self.touch(obj)
        self.store[self.key(plural, namespace, name)] = obj
        self._wrote("PATCH", path, body)
        return copy.deepcopy(obj)

    def create(self, path, body, dry_run=False):
        self._enter("POST", path, body)
        plural, namespace, _name, _sub = parse_path(path)
        name = body["metadata"]["name"]
        if self.obj(plural, namespace, name) is not None:
            raise KubeError("%s %r already exists" % (plural, name), status=409)
        obj = copy.deepcopy(body)
        obj["metadata"]["namespace"] = namespace
        self.add(plural, obj)
        self._managed(obj, {"f:spec": {}})
        self._wrote("POST", path, body)
        return copy.deepcopy(obj)

    def put(self, path, body):
        self._enter("PUT", path, body)
        plural, namespace, name, _sub = parse_path(path)
        current = self.obj(plural, namespace, name)
        if current is None:
            raise KubeError("%s %r not found" % (plural, name), status=404)
        self._check_preconditions(current, body.get("metadata") or {})
        obj = copy.deepcopy(body)
        obj["metadata"]["uid"] = current["metadata"]["uid"]
        self.touch(obj)
        self.store[self.key(plural, namespace, name)] = obj
        self._wrote("PUT", path, body)
        return copy.deepcopy(obj)

    def delete(self, path, preconditions=None):
        self._enter("DELETE", path)
        plural, namespace, name, _sub = parse_path(path)
        current = self.obj(plural, namespace, name)
        if current is None:
            raise KubeError("%s %r not found" % (plural, name), status=404)
        self._check_preconditions(current, preconditions or {})
        self.remove(plural, namespace, name)
        if plural == "deployments":
            # The garbage collector: what the Deployment owned goes with it.
            uid = current["metadata"]["uid"]
            for rs in self.items("replicasets", namespace):
                if any(r.get("uid") == uid for r in rs["metadata"].get("ownerReferences") or []):
                    self.remove("replicasets", namespace, rs["metadata"]["name"])
                    for pod in self.items("pods", namespace):
                        if any(r.get("uid") == rs["metadata"]["uid"] for r in pod["metadata"].get("ownerReferences") or []):
                            self.remove("pods", namespace, pod["metadata"]["name"])
        self._wrote("DELETE", path, preconditions)
        return {}

    def _wrote(self, method, path, body):
        self.writes.append((method, path, self.phase, copy.deepcopy(body)))
        for hook in list(self.on_write):
            hook(method, path, body)

    def writes_to(self, fragment, method=None):
        return [w for w in self.writes if fragment in w[1] and (method is None or w[0] == method)]


# -- the objects ---------------------------------------------------------------------------------
def deployment(name="llm", namespace="serving", image="repo/model:v1", replicas=3, pds=600, surge=1, unavailable=1,
               annotations=None):
    labels = {"app": name}
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels), "annotations": annotations or {}},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": pds,
            "selector": {"matchLabels": dict(labels)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
            "template": {"metadata": {"labels": dict(labels)},
                         "spec": {"containers": [{"name": "server", "image": image}]}},
        },
        "status": {},
    }


def service(name="llm", namespace="serving"):
    return {"metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}


def template_hash(template):
    clean = copy.deepcopy(template)
    (clean.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    return hashlib.sha1(json.dumps(clean, sort_keys=True).encode()).hexdigest()[:10]


def tag(image):
    return image.rsplit(":", 1)[-1] if ":" in image else ""


class Controller:
    """kube-controller-manager and the kubelet, as far as the engine can tell them apart.

    ``one_at_a_time``: the new ReplicaSet grows by one pod when the previous new pod is Ready
    (maxSurge 1, maxUnavailable 0); otherwise all new pods at once. ``stalled``: observes nothing.
    ``frozen_after``: stops acting at that monotonic time (a SIGSTOPped controller-manager).
    """

    def __init__(self, api, clock, ready_delay=1.0, one_at_a_time=False):
        self.api = api
        self.clock = clock
        self.ready_delay = ready_delay
        self.one_at_a_time = one_at_a_time
        self.stalled = False
        self.frozen_after = None
        self.hooks = []
        self.names = itertools.count(1)
        self.born = {}

    @property
    def frozen(self):
        return self.stalled or (self.frozen_after is not None and self.clock.monotonic() >= self.frozen_after)

    def step(self):
        for hook in list(self.hooks):
            hook(self.clock.monotonic())
        if not self.frozen:
            for dep in self.api.items("deployments"):
                self._sync(dep)
        self._kubelet()
        if not self.frozen:
            for dep in self.api.items("deployments"):
                self._status(dep)

    def settle(self, limit=200):
        """Run until nothing changes (for setting a scene before the run)."""
        for _round in range(limit):
            before = json.dumps(sorted(self.api.store.items()), sort_keys=True, default=str)
            self.clock.advance(1.0)
            self.step()
            if json.dumps(sorted(self.api.store.items()), sort_keys=True, default=str) == before:
                return

    # -- Deployment controller -------------------------------------------------------------------
    def _owned(self, plural, owner):
        uid = owner["metadata"]["uid"]
        return [o for o in self.api.items(plural, owner["metadata"]["namespace"])
                if any(r.get("uid") == uid and r.get("controller") for r in o["metadata"].get("ownerReferences") or [])]

    def _sync(self, dep):
        meta, spec = dep["metadata"], dep["spec"]
        st = dep.setdefault("status", {})
        changed = st.get("observedGeneration") != meta.get("generation")
        st["observedGeneration"] = meta.get("generation")
        if spec.get("paused"):
            if changed:
                self.api.touch(dep)
            return
        template_key = template_hash(spec["template"])
        sets = self._owned("replicasets", dep)
        new = [rs for rs in sets if rs["metadata"]["labels"].get("pod-template-hash") == template_key]
        revisions = [int(rs["metadata"]["annotations"].get("deployment.kubernetes.io/revision", "0")) for rs in sets]
        if not new:
            rs = self._new_replicaset(dep, template_key, max(revisions or [0]) + 1)
            changed = True
        else:
            rs = new[0]
            top = max(revisions or [0])
            if int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) < top:
                rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(top + 1)
                changed = True
        revision = rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        if meta.setdefault("annotations", {}).get("deployment.kubernetes.io/revision") != revision:
            meta["annotations"]["deployment.kubernetes.io/revision"] = revision
            changed = True
        desired = spec.get("replicas", 1)
        new_pods = self._pods_of(rs)
        ready_new = len([p for p in new_pods if _ready(p)])
        want_new = desired
        if self.one_at_a_time:
            want_new = min(desired, ready_new + 1)
        if rs["spec"]["replicas"] != want_new:
            rs["spec"]["replicas"] = want_new
            self.api.touch(rs)
        for old in sets:
            if old is rs:
                continue
            want_old = max(0, desired - ready_new)
            if old["spec"]["replicas"] > want_old:
                old["spec"]["replicas"] = want_old
                self.api.touch(old)
        for any_rs in self._owned("replicasets", dep):
            self._replicaset(any_rs)
        if changed:
            self.api.touch(dep)

    def _new_replicaset(self, dep, template_key, revision):
        template = copy.deepcopy(dep["spec"]["template"])
        template["metadata"].setdefault("labels", {})["pod-template-hash"] = template_key
        rs = {"metadata": {"name": "%s-%s" % (dep["metadata"]["name"], template_key),
                           "namespace": dep["metadata"]["namespace"],
                           "labels": dict(template["metadata"]["labels"]),
                           "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                           "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "controller": True,
                                                "name": dep["metadata"]["name"], "uid": dep["metadata"]["uid"]}]},
              "spec": {"replicas": 0, "template": template}, "status": {}}
        return self.api.add("replicasets", rs)

    def _pods_of(self, rs):
        return [p for p in self._owned("pods", rs) if not p["metadata"].get("deletionTimestamp")]

    def _replicaset(self, rs):
        pods = self._pods_of(rs)
        want = rs["spec"]["replicas"]
        for _missing in range(want - len(pods)):
            self._new_pod(rs)
        if len(pods) > want:
            doomed = sorted(pods, key=lambda p: (_ready(p), p["metadata"]["name"]))[:len(pods) - want]
            for pod in doomed:
                pod["metadata"]["deletionTimestamp"] = stamp(self.clock.server_wall())
                self.api.touch(pod)
        pods = self._pods_of(rs)
        status = {"replicas": len(pods), "readyReplicas": len([p for p in pods if _ready(p)]),
                  "availableReplicas": len([p for p in pods if _ready(p)]), "observedGeneration": 1}
        if rs.get("status") != status:
            rs["status"] = status
            self.api.touch(rs)

    def _new_pod(self, rs):
        template = rs["spec"]["template"]
        pod = {"metadata": {"name": "%s-%d" % (rs["metadata"]["name"], next(self.names)),
                            "namespace": rs["metadata"]["namespace"],
                            "labels": dict(template["metadata"]["labels"]),
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True,
                                                 "name": rs["metadata"]["name"], "uid": rs["metadata"]["uid"]}]},
               "spec": copy.deepcopy(template["spec"]),
               "status": {"phase": "Pending"}}
        self.api.add("pods", pod)
        self.born[pod["metadata"]["uid"]] = self.clock.monotonic()

    # -- kubelet -----------------------------------------------------------------------------------
    def _kubelet(self):
        now = self.clock.monotonic()
        wall = stamp(self.clock.server_wall())
        for pod in self.api.items("pods"):
            if pod["metadata"].get("deletionTimestamp"):
                self.api.remove("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
                continue
            status = self._pod_status(pod, now, wall)
            if pod.get("status") != status:
                pod["status"] = status
                self.api.touch(pod)

    def _pod_status(self, pod, now, wall):
        image = pod["spec"]["containers"][0]["image"]
        age = now - self.born.get(pod["metadata"]["uid"], now)
        born = stamp(self.clock.server_wall() - datetime.timedelta(seconds=age))
        kind = tag(image)
        old = pod.get("status") or {}

        def cond(kind_, value, reason=None, message=None, since=born):
            prior = [c for c in old.get("conditions") or [] if c["type"] == kind_]
            if prior and prior[0]["status"] == value:
                since = prior[0]["lastTransitionTime"]
            c = {"type": kind_, "status": value, "lastTransitionTime": since}
            if reason:
                c["reason"] = reason
            if message:
                c["message"] = message
            return c

        if kind == "big":
            return {"phase": "Pending", "conditions": [cond("PodScheduled", "False", "Unschedulable",
                                                            "0/3 nodes are available: 3 Insufficient cpu.")]}
        base = {"phase": "Running", "conditions": [cond("PodScheduled", "True")]}
        cs = {"name": "server", "restartCount": 0, "ready": False, "image": image}
        if kind == "crash":
            cs["restartCount"] = int(age // 2)
            cs["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}}
            cs["lastState"] = {"terminated": {"reason": "Error", "exitCode": 1}}
        elif kind == "pullfail":
            base["phase"] = "Pending"
            cs["state"] = {"waiting": {"reason": "ErrImagePull", "message": "pull access denied for %s" % image}}
        else:
            cs["state"] = {"running": {"startedAt": born}}
            cs["ready"] = kind != "broken" and age >= self.ready_delay
        base["containerStatuses"] = [cs]
        if cs["ready"]:
            base["conditions"].append(cond("Ready", "True", since=wall))
        else:
            base["conditions"].append(cond("Ready", "False", "ContainersNotReady",
                                           "containers with unready status: [server]"))
        return base

    # -- Deployment status -------------------------------------------------------------------------
    def _status(self, dep):
        st = dict(dep.get("status") or {})
        spec = dep["spec"]
        sets = self._owned("replicasets", dep)
        key = template_hash(spec["template"])
        pods = [p for rs in sets for p in self._pods_of(rs)]
        new_pods = [p for rs in sets if rs["metadata"]["labels"].get("pod-template-hash") == key
                    for p in self._pods_of(rs)]
        counts = {"replicas": len(pods), "updatedReplicas": len(new_pods),
                  "readyReplicas": len([p for p in pods if _ready(p)]),
                  "availableReplicas": len([p for p in pods if _ready(p)])}
        counts["unavailableReplicas"] = max(spec.get("replicas", 1) - counts["availableReplicas"], 0)
        before = dict((k, st.get(k)) for k in counts)
        st.update(counts)
        conds = [c for c in st.get("conditions") or [] if c["type"] != "Progressing"]
        prog = ([c for c in st.get("conditions") or [] if c["type"] == "Progressing"] or [None])[0]
        now = stamp(self.clock.server_wall())
        desired = spec.get("replicas", 1)
        complete = counts["updatedReplicas"] == desired and counts["replicas"] == desired and \
            counts["availableReplicas"] == desired
        if spec.get("paused"):
            prog = {"type": "Progressing", "status": "Unknown", "reason": "DeploymentPaused",
                    "lastUpdateTime": now if not prog or prog.get("reason") != "DeploymentPaused" else prog["lastUpdateTime"]}
        elif complete:
            if not prog or prog.get("reason") != "NewReplicaSetAvailable":
                prog = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                        "lastUpdateTime": now}
        elif before != dict((k, st.get(k)) for k in counts) or not prog or prog.get("reason") in (
                "NewReplicaSetAvailable", "DeploymentPaused"):
            prog = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "lastUpdateTime": now}
        elif prog.get("reason") != "ProgressDeadlineExceeded":
            since = self.clock.server_wall() - _parse(prog["lastUpdateTime"])
            if since.total_seconds() >= spec.get("progressDeadlineSeconds", 600):
                prog = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                        "lastUpdateTime": now, "message": "ReplicaSet has timed out progressing."}
        st["conditions"] = conds + [prog]
        if st != dep.get("status"):
            dep["status"] = st
            self.api.touch(dep)


def _parse(value):
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def _ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions") or [])


# -- watches -------------------------------------------------------------------------------------
class SyncWatches:
    """The WatchSet interface, synchronous: every wait moves the clock, the controller acts, we list again."""

    tick = 0.5

    def __init__(self, api, deployment, clock, controller):
        self.api = api
        self.clock = clock
        self.controller = controller
        meta = deployment["metadata"]
        self.namespace, self.name = meta["namespace"], meta["name"]
        self.selector = selector_of(deployment)
        self.cache = Cache()
        self.all_synced = False
        self.connected = True
        self.last_error = None
        self.disconnects = 0
        self.lists = 0
        self.pending = []

    def start(self):
        self._sync()

    def stop(self):
        pass

    def _sync(self):
        try:
            deps = self.api.get(self.api.deployment_path(self.namespace), {"fieldSelector": "metadata.name=" + self.name})
            sets = self.api.get(self.api.path("apps/v1", "replicasets", self.namespace), {"labelSelector": self.selector})
            pods = self.api.get(self.api.path("v1", "pods", self.namespace), {"labelSelector": self.selector})
        except KubeError as exc:
            self.connected = False
            self.last_error = exc
            self.disconnects += 1
            change = Change("deployment", Change.LOST, error=exc)
            self.pending.append(change)
            return change
        self.lists += 1
        for kind, listed in (("deployment", deps), ("replicaset", sets), ("pod", pods)):
            self.cache.apply(Change(kind, Change.SYNC, objects=listed["items"]))
        self.all_synced = True
        self.connected = True
        return None

    def drain(self):
        out, self.pending = self.pending, []
        return out

    def next_change(self, timeout):
        self.clock.advance(min(max(timeout, 0.0), self.tick) or 0.01)
        self.controller.step()
        lost = self._sync()
        if lost is not None:
            self.pending.remove(lost)
        return lost

    def stats(self):
        return {"deployment": {"lists": self.lists, "watches": 0, "reconnects": self.disconnects}}


# -- running the engine --------------------------------------------------------------------------
def make_settings(**params):
    params.setdefault("name", "llm")
    params.setdefault("namespace", "serving")
    return settings.Settings(settings.with_defaults(params))


class World:
    """A namespace with one Deployment (and its Service), settled, and a clock at rest."""

    def __init__(self, image="repo/model:v1", replicas=3, pds=600, ready_delay=1.0, one_at_a_time=False, **kw):
        self.clock = FakeClock()
        self.api = FakeApi(self.clock)
        self.controller = Controller(self.api, self.clock, ready_delay=ready_delay, one_at_a_time=one_at_a_time)
        self.api.add("namespaces", {"metadata": {"name": "serving"}})
        self.api.add("deployments", deployment(image=image, replicas=replicas, pds=pds, **kw))
        self.api.add("services", service())
        self.controller.settle()
        self.lines = []
        self.phases = []

    def deployment(self, name="llm"):
        return self.api.obj("deployments", "serving", name)

    def image(self, name="llm"):
        return self.deployment(name)["spec"]["template"]["spec"]["containers"][0]["image"]

    def observe(self, phase):
        self.phases.append(phase)
        self.api.phase = phase

    def run(self, check_mode=False, gates=None, observer=None, **params):
        s = make_settings(**params)
        self.api.writes = []

        def watches(api, dep):
            return SyncWatches(api, dep, self.clock, self.controller)

        return runner.run(self.api, s, check_mode=check_mode, progress=self.lines.append, clock=self.clock,
                          gates=gates, observer=observer or self.observe, watches=watches)


CONTRACT = ("changed", "verdict", "reason", "message", "previous", "current", "rolled_back_to", "diagnostics",
            "timeline", "durations", "resumed", "gates", "api", "lock", "namespace", "name", "container")


def assert_contract(result):
    from ansible_collections.modelops.serving.plugins.module_utils.rollout import reasons

    missing = [k for k in CONTRACT if k not in result]
    assert not missing, (missing, result)
    reasons.check(result["verdict"], result["reason"])
    assert set(result["previous"]) >= {"revision", "image"}
    assert set(result["current"]) >= {"revision", "image"}
    assert set(result["durations"]) == {"change", "rollout", "gate", "rollback", "total"}
    assert isinstance(result["message"], str) and result["message"]
    assert "Traceback" not in result["message"]
    json.dumps(result)
    return result
