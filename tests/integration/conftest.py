"""Fixtures that hand out real test-ground clusters to integration tests.

One cluster (``tg``) is shared by the whole session; each test gets a fresh
namespace in it. Tests that need several clusters start a fleet of their own.
"""

import os
import threading
import time
import uuid

import pytest

from testground import cluster as tgcluster


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.testground)


@pytest.fixture(scope="session")
def tg():
    """The session's cluster: 2 CPU nodes and 1 GPU node with 1 GPU."""
    c = tgcluster.Cluster("tg")
    c.start()
    print("\ntest ground cluster ready in %.1fs (%s)" % (c.ready_seconds, c.workdir))
    yield c
    c.stop()


@pytest.fixture
def k8s(tg):
    """Typed API groups of the session cluster."""
    from kubernetes import client

    api = tg.api()

    class Apis:
        core = client.CoreV1Api(api)
        apps = client.AppsV1Api(api)
        discovery = client.DiscoveryV1Api(api)
        autoscaling = client.AutoscalingV2Api(api)
        coordination = client.CoordinationV1Api(api)
        rbac = client.RbacAuthorizationV1Api(api)
        custom = client.CustomObjectsApi(api)
        raw = api

    return Apis


@pytest.fixture
def namespace(tg, k8s):
    name = "t-" + uuid.uuid4().hex[:8]
    k8s.core.create_namespace({"metadata": {"name": name}})
    # Pods need the namespace's default ServiceAccount, which the controller-manager makes.
    wait_for(lambda: _has_default_sa(k8s, name), 30, "default ServiceAccount in %s" % name)
    yield name
    k8s.core.delete_namespace(name)


def _has_default_sa(k8s, ns):
    from kubernetes.client.rest import ApiException

    try:
        k8s.core.read_namespaced_service_account("default", ns)
        return True
    except ApiException:
        return False


def wait_for(predicate, timeout, what, interval=0.2):
    """Poll ``predicate`` until it returns a truthy value; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


def deployment_manifest(name, image, replicas=3, max_surge=1, max_unavailable=1, progress_deadline=600,
                        annotations=None, resources=None, container="server", labels=None):
    labels = labels or {"app": name}
    container_spec = {"name": container, "image": image, "ports": [{"containerPort": 8080, "name": "http"}]}
    if resources:
        container_spec["resources"] = resources
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": progress_deadline,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable}},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations or {}},
                "spec": {"containers": [container_spec], "terminationGracePeriodSeconds": 5},
            },
        },
    }


def service_manifest(name, labels=None):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": labels or {"app": name}, "ports": [{"port": 80, "targetPort": 8080, "name": "http"}]},
    }


def ready_endpoint_targets(k8s, namespace, service):
    """Pod names of the endpoints the EndpointSlice controller marks ready for ``service``."""
    slices = k8s.discovery.list_namespaced_endpoint_slice(
        namespace, label_selector="kubernetes.io/service-name=%s" % service).items
    return [ep.target_ref.name if ep.target_ref else None for s in slices for ep in s.endpoints or []
            if ep.conditions and ep.conditions.ready]


def ready_endpoints(k8s, namespace, service):
    """How many endpoints the EndpointSlice controller marks ready for ``service``."""
    return len(ready_endpoint_targets(k8s, namespace, service))


class Sampler:
    """Calls ``sample()`` every 50 ms in the background for the whole of a ``with`` block."""

    def __init__(self):
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self):
        raise NotImplementedError

    def _run(self):
        while not self._stop.is_set():
            self.samples.append(self.sample())
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def deployment_ready(k8s, namespace, name, image):
    d = k8s.apps.read_namespaced_deployment(name, namespace)
    s = d.status
    return (
        (s.observed_generation or 0) >= d.metadata.generation
        and (s.updated_replicas or 0) == d.spec.replicas
        and (s.replicas or 0) == d.spec.replicas
        and (s.available_replicas or 0) == d.spec.replicas
        and d.spec.template.spec.containers[0].image == image
    )


os.environ.setdefault("PYTHONUNBUFFERED", "1")
