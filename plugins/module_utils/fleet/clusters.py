# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read every cluster of a wave at once, from the controller: one thread per cluster.

One process for the whole wave instead of one per cluster: the kubernetes client is imported
once, and a wave of twelve clusters costs about what one costs. Every cluster's outcome is a
plain dict (ok, reason, message, what was read); no exception leaves ``check_all``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re
import threading
import time
import traceback

from ansible_collections.modelops.serving.plugins.module_utils.fleet import judge
from ansible_collections.modelops.serving.plugins.module_utils.rollout import capacity, lock, spec, status
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import (
    CONNECTION_ERRORS,
    KubeApi,
    KubeError,
    explain,
    label_selector,
)

# kubernetes.config.load_kube_config sets the client's process-wide default configuration, which
# get_api_client then copies: building two clients at once could hand one cluster's credentials
# to the other. Building is quick; only the requests run in parallel.
_BUILD = threading.Lock()
LOCK_POLL_SECONDS = 2.0
# urllib3 names its connection objects in messages: "<...HTTPSConnection object at 0x7f..>: Failed to ..."
OBJECT_REPR = re.compile(r"<[^<>]* object at 0x[0-9a-f]+>: ")
BAKE_WATCH_SECONDS = 60


class ClusterError(Exception):
    """Reaching or reading one cluster failed; ``reason`` is a word for the report."""

    def __init__(self, reason, message):
        super(ClusterError, self).__init__(message)
        self.reason = reason


def _api_client(connection):
    """kubernetes.core's client configuration (auth options, K8S_AUTH_* variables, kubeconfig), without the
    dynamic client: that one asks the server for its version and API groups first, and the check needs
    neither."""
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s import client as core

    try:
        build_auth, build_configuration, build_headers = (core._create_auth_spec, core._create_configuration,
                                                          core._create_headers)
    except AttributeError:  # another kubernetes.core: its public way, discovery included
        return core.get_api_client(**connection).client.client
    import kubernetes

    api_client = kubernetes.client.ApiClient(build_configuration(build_auth(None, **connection)))
    for header, value in build_headers(None, **connection).items():
        for one in value if isinstance(value, list) else [value]:
            api_client.set_default_header(header, one)
    return api_client


def connect(connection):
    """A KubeApi for one cluster's connection options (kubernetes.core's, or ``eks``)."""
    connection = dict(connection or {})
    eks = connection.pop("eks", None)
    try:
        if eks:
            from ansible_collections.modelops.serving.plugins.module_utils.eks.client import (
                EKS_ARG_SPEC,
                eks_api_client,
            )

            args = dict((k, v.get("default")) for k, v in EKS_ARG_SPEC.items())
            args.update(dict((k, v) for k, v in eks.items() if v is not None))
            api_client, renewer = eks_api_client(args)
            api = KubeApi(api_client)
            api.token_renewer = renewer
            return api
        with _BUILD:
            return KubeApi(_api_client(connection))
    except CONNECTION_ERRORS as exc:
        raise KubeError(str(getattr(exc, "reason", None) or exc))
    except KubeError:
        raise
    except Exception as exc:  # kubeconfig, EKS and client errors all mean: this cluster cannot be reached
        raise ClusterError("connection", "cannot build a Kubernetes client: %s" % (str(exc) or type(exc).__name__))


class Cluster:
    """One cluster of the wave: its name, connection and the Deployment to look at."""

    def __init__(self, name, connection, settings, clock=time.time, sleep=time.sleep):
        self.name = name
        self.connection = connection
        self.s = settings
        self.clock = clock
        self.sleep = sleep
        self.api = None

    @property
    def namespace(self):
        return self.s["namespace"]

    @property
    def deployment_name(self):
        return self.s["name"]

    def where(self):
        return judge.where(self.namespace, self.deployment_name)

    def _api(self):
        if self.api is None:
            self.api = connect(self.connection)
        return self.api

    def read_deployment(self):
        api = self._api()
        try:
            return api.get(api.deployment_path(self.namespace, self.deployment_name))
        except KubeError as exc:
            if exc.not_found:
                return None
            raise

    def read_lease(self):
        api = self._api()
        try:
            return api.get(api.path("coordination.k8s.io/v1", "leases", self.namespace,
                                    lock.lease_name(self.deployment_name)))
        except KubeError as exc:
            if exc.not_found:
                return None
            if exc.status == 403:
                # Without read access to Leases the lock cannot be checked here; model_rollout
                # still takes it, and refuses a held one, before it writes.
                return None
            raise

    def read_replicasets(self, deployment):
        api = self._api()
        selector = (deployment.get("spec") or {}).get("selector") or {}
        listed = api.get(api.path("apps/v1", "replicasets", self.namespace),
                         {"labelSelector": label_selector(selector.get("matchLabels"), selector.get("matchExpressions"))})
        return listed.get("items") or []

    def view(self, deployment, lease=None, replicasets=None):
        return judge.view(deployment, self.s.get("container"), lease, replicasets, self.s.get("max_surge"),
                          self.s.get("max_unavailable"))

    # -- checks ------------------------------------------------------------------------------
    def read(self):
        """What status.yml shows: the Deployment and its lock, judged by nothing."""
        deployment = self.read_deployment()
        if deployment is None:
            return {"message": "%s not found" % self.where()}
        return {"deployment": self.view(deployment, self.read_lease())}

    def preflight(self, kind):
        if kind == "rollout":
            try:
                spec.check_image(self.s.get("image"))
            except spec.SpecError as exc:
                raise judge.Refused("invalid_image", str(exc))
        deployment = self.read_deployment()
        replicasets = self.read_replicasets(deployment) if deployment is not None and kind == "rollback" else None
        current = self.view(deployment, replicasets=replicasets) if deployment is not None else None
        out = {"deployment": current, "target_image": self.s.get("image")}
        if current is not None and kind == "rollback":
            out["target_image"], out["target_revision"] = judge.rollback_target(
                current, self.s.get("revision"), self.namespace, self.deployment_name, self.s.get("container"))
        out["plan"] = judge.preflight(current, out["target_image"], self.namespace, self.deployment_name,
                                      self.s.get("container"), kind)
        out["lock"] = self.wait_for_lock()
        if out["plan"] == "change":
            self.check_gpu_room(deployment)
        return out

    def wait_for_lock(self):
        """None when no live run holds the Lease; waits up to ``lock_wait_seconds`` for one that does."""
        lease = self.read_lease()
        if judge.lease_free(lease, 0):
            return None
        started = self.clock()
        mark, since = judge.lease_mark(lease), started
        wait = max(int(self.s.get("lock_wait_seconds") or 0), 0)
        while self.clock() - started < wait:
            self.sleep(min(LOCK_POLL_SECONDS, max(wait - (self.clock() - started), 0.1)))
            lease = self.read_lease()
            now = self.clock()
            if judge.lease_mark(lease) != mark:
                mark, since = judge.lease_mark(lease), now
            if judge.lease_free(lease, now - since):
                return None
        raise judge.lock_refusal(lease, self.namespace, self.deployment_name, int(self.clock() - started))

    def check_gpu_room(self, deployment):
        """A surge-only rollout (maxUnavailable 0) of GPU pods needs a free GPU for its first new pod."""
        spec = deployment.get("spec") or {}
        rolling = ((spec.get("strategy") or {}).get("rollingUpdate")) or {}
        surge = self.s.get("max_surge") if self.s.get("max_surge") not in (None, "") else rolling.get("maxSurge", "25%")
        unavailable = self.s.get("max_unavailable")
        if unavailable in (None, ""):
            unavailable = rolling.get("maxUnavailable", "25%")
        try:
            surge, unavailable = status.resolve_fenceposts(surge, unavailable, spec.get("replicas", 1))
        except ValueError:
            return  # model_rollout names a bad strategy value before it writes
        if unavailable > 0 or surge == 0:
            return
        template = copy.deepcopy(spec.get("template") or {})
        try:
            capacity.check_gpu_room(self._api(), template, 1, "%s (maxUnavailable 0: a surge pod must start before "
                                    "any old pod stops)" % self.where(), lambda line: None)
        except capacity.NoRoom as exc:
            raise judge.Refused("gpu_room", "%s. Set model_server_max_unavailable to 1 to replace GPU pods one at a "
                                            "time, or add GPU capacity" % exc)

    def bake(self, expected_image, seconds):
        """Watch the Deployment for ``seconds``; a cluster that stops serving ``expected_image`` fails at once."""
        api = self._api()
        end = self.clock() + seconds
        points = []
        deployment = self.read_deployment()
        while True:
            problem = judge.bake_problem(deployment, self.s.get("container"), expected_image, self.namespace,
                                         self.deployment_name)
            if deployment is not None:
                points.append(judge.point(deployment, self.clock(), self.s.get("container")))
            if problem:
                return {"timeline": points, "problem": problem, "deployment": deployment}
            left = end - self.clock()
            if left <= 0:
                return {"timeline": points, "problem": None, "deployment": deployment}
            deployment, gone = self._next_state(api, deployment, left)
            if gone:
                deployment = None

    def _next_state(self, api, deployment, left):
        """The Deployment's next state within ``left`` seconds: a watch from the version last seen.

        A watch that ends quietly means nothing changed; one that breaks or is told its version is
        too old (410 Gone) is followed by a fresh read.
        """
        version = (deployment.get("metadata") or {}).get("resourceVersion")
        query = {"fieldSelector": "metadata.name=" + self.deployment_name}
        if version:
            query["resourceVersion"] = version
        try:
            for event in api.watch(api.deployment_path(self.namespace), query,
                                   timeout_seconds=max(int(min(left, BAKE_WATCH_SECONDS)), 1)):
                kind = event.get("type")
                if kind == "DELETED":
                    return None, True
                if kind in ("ADDED", "MODIFIED"):
                    return event.get("object"), False
                if kind == "ERROR":
                    break
            else:
                return deployment, False
        except KubeError:
            pass
        latest = self.read_deployment()
        return latest, latest is None


def describe_error(cluster, exc):
    """(reason, message) for an exception raised while checking ``cluster``."""
    if isinstance(exc, (judge.Refused, ClusterError)):
        return exc.reason, str(exc)
    if isinstance(exc, KubeError):
        host = cluster.api.host if cluster.api is not None else "(the configured cluster)"
        return ("unreachable" if exc.status == 0 else "api_error"), OBJECT_REPR.sub("", explain(exc, host))
    return "error", "unexpected %s while checking %s: %s" % (type(exc).__name__, cluster.where(), exc)


def check_all(clusters, work):
    """{name: outcome} of ``work(cluster)`` for every cluster, in parallel; an exception is an outcome too."""
    results = {}

    def run(cluster):
        started = cluster.clock()
        try:
            out = work(cluster) or {}
            out.setdefault("ok", True)
            out.setdefault("reason", "ok")
            out.setdefault("message", "")
        except Exception as exc:  # every cluster ends in an outcome, never in a traceback
            reason, message = describe_error(cluster, exc)
            out = {"ok": False, "reason": reason, "message": message}
            if reason == "error":
                out["traceback"] = traceback.format_exc()
        out["cluster"] = cluster.name
        out["started_at"] = round(started, 3)
        out["checked_at"] = round(cluster.clock(), 3)
        out["api_requests"] = cluster.api.requests if cluster.api is not None else 0
        results[cluster.name] = out

    threads = [threading.Thread(target=run, args=(c,), name="fleet-check-%s" % c.name) for c in clusters]
    for t in threads:
        t.daemon = True
        t.start()
    for t in threads:
        t.join()
    return results
