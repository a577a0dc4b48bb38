"""Fixtures that hand out real test-ground clusters to integration tests.

One cluster (``tg``) is shared by the whole session; each test gets a fresh
namespace in it. Tests that need several clusters start a fleet of their own.
"""

import os
import tempfile
import threading
import time
import uuid

import pytest

from tests.helpers.kube import create_namespace, deployment_manifest, service_manifest, wait_for  # noqa: F401 pylint: disable=unused-import
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


@pytest.fixture(scope="session", autouse=True)
def scratch_in_pytest_tmp(tmp_path_factory):
    """Scratch directories (fleet reports, runner private dirs, playbooks) go under pytest's own
    temporary tree, which pytest prunes run by run and keeps the last few of for reading after a
    failure, instead of piling up loose in /tmp."""
    saved = tempfile.tempdir
    tempfile.tempdir = str(tmp_path_factory.mktemp("scratch"))
    yield
    tempfile.tempdir = saved


@pytest.fixture(scope="session")
def aws_emulator(tmp_path_factory):
    """The session's AWS emulator (testground.aws), for tests anywhere under tests/integration."""
    from testground.aws import AwsEmulator

    emulator = AwsEmulator(workdir=str(tmp_path_factory.mktemp("aws-emulator"))).start()
    try:
        yield emulator
    finally:
        emulator.stop()


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
    create_namespace(k8s.core, name)
    yield name
    k8s.core.delete_namespace(name)


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


class CapacitySampler(Sampler):
    """Ready endpoints of a Service, sampled from EndpointSlices for the whole of a block."""

    def __init__(self, k8s, namespace, service):
        super().__init__()
        self.k8s = k8s
        self.namespace = namespace
        self.service = service

    def ready(self):
        return ready_endpoint_targets(self.k8s, self.namespace, self.service)

    def sample(self):
        return len(self.ready())

    @property
    def floor(self):
        return min(self.samples)


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
