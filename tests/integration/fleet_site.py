"""One model server on every cluster of a three-cluster test-ground fleet, as the fleet tests
(playbooks/rollout.yml and the AWX runner) set it up and read it back."""

import glob
import os
import tempfile
import uuid

from tests.integration.conftest import deployment_manifest, wait_for
from testground.collection import REPO_ROOT

PREFIX = "f8-"
CLUSTERS = ["tg1", "tg2", "tg3"]
INVENTORY = os.path.join(REPO_ROOT, "inventory", "testground.yml")


class Site:
    """One model server, in a fresh namespace, on every cluster of the fleet."""

    def __init__(self, fleet, image="repo/llm:v1", ready_delay=None):
        from kubernetes import client

        self.fleet = fleet
        self.namespace = "f-" + uuid.uuid4().hex[:8]
        self.name = "llm"
        self.report_dir = tempfile.mkdtemp(prefix="fleet-report-")
        self.apps = {}
        annotations = {"testground.modelops.serving/ready-delay": ready_delay} if ready_delay else None
        for c in CLUSTERS:
            api = fleet[PREFIX + c].api()
            core = client.CoreV1Api(api)
            self.apps[c] = client.AppsV1Api(api)
            core.create_namespace({"metadata": {"name": self.namespace}})
            wait_for(lambda: core.list_namespaced_service_account(self.namespace).items, 30, "default SA")
            self.apps[c].create_namespaced_deployment(
                self.namespace, deployment_manifest(self.name, image, annotations=annotations))
        for c in CLUSTERS:
            wait_for(lambda: self.complete(c, image), 60, "%s ready on %s" % (image, c))

    def deployment(self, cluster):
        return self.apps[cluster].read_namespaced_deployment(self.name, self.namespace)

    def image(self, cluster):
        return self.deployment(cluster).spec.template.spec.containers[0].image

    def complete(self, cluster, image):
        d = self.deployment(cluster)
        s = d.status
        return (d.spec.template.spec.containers[0].image == image and (s.observed_generation or 0) >= d.metadata.generation
                and s.updated_replicas == d.spec.replicas == s.available_replicas == (s.replicas or 0))

    def replicasets(self, cluster):
        return self.apps[cluster].list_namespaced_replica_set(self.namespace).items

    def extravars(self, **more):
        v = {"model_server_name": self.name, "model_server_namespace": self.namespace,
             "model_server_container_name": "server", "rollout_report_dir": self.report_dir,
             "rollout_bake_seconds": 0, "rollout_waves": [1, 2]}
        v.update(more)
        return v

    def reports(self):
        return sorted(glob.glob(os.path.join(self.report_dir, "rollout-*.json")))
