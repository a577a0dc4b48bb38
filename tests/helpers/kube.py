"""Kubernetes objects and waits that the integration and the installed-collection tests share."""

import time


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


def create_namespace(core, name):
    """A namespace whose pods can be created at once.

    Pods need the namespace's default ServiceAccount, which the controller-manager's
    serviceaccount controller makes when it gets round to it (tens of seconds on a busy
    machine). Tests make it themselves, so no test waits on that controller's pace; a 409 means
    the controller was first, which is just as good.
    """
    from kubernetes.client.rest import ApiException

    core.create_namespace({"metadata": {"name": name}})
    try:
        core.create_namespaced_service_account(name, {"metadata": {"name": "default"}})
    except ApiException as exc:
        if exc.status != 409:
            raise


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
