"""EKS clusters whose API endpoint is a test-ground cluster.

AWS assigns an EKS cluster its API endpoint (``https://<id>.<region>.eks.amazonaws.com``) and its
cluster CA (``certificateAuthority.data``, base64 PEM) when it creates the cluster; DescribeCluster
returns both, and every client (``aws eks update-kubeconfig``, the collection's ``eks_auth``,
``model_rollout`` with ``eks:``, the ``eks_clusters`` inventory) reaches the cluster through them.
moto makes up both. Here the test ground is what assigns them: ``POST
/testground-api/eks/endpoints`` with ``{cluster name: {"endpoint": "https://127.0.0.1:P", "ca_data":
"<base64 PEM>", "region": "us-east-1" (optional, default every region)}}`` puts a test-ground
cluster's apiserver address and CA on moto's own cluster objects of that name, those that exist and
those created later (CreateCluster), until the emulator is reset.
"""

import threading

from moto.eks import models as eks_models

_LOCK = threading.Lock()
# cluster name -> {"endpoint", "ca_data", "region"}
ASSIGNED = {}
_ORIGINAL_CREATE = eks_models.EKSBackend.create_cluster


def _give(cluster, region, assignment):
    if assignment.get("region") not in (None, region):
        return
    cluster.endpoint = assignment["endpoint"]
    cluster.certificate_authority = {"data": assignment["ca_data"]}


def _backends():
    for regions in eks_models.eks_backends.values():
        for region, backend in regions.items():
            yield region, backend


def assign(assignments):
    """Record the endpoints and CAs, and give them to the clusters that exist already."""
    for name, assignment in assignments.items():
        if not assignment.get("endpoint", "").startswith("https://") or not assignment.get("ca_data"):
            raise ValueError("cluster %r needs an https endpoint and ca_data (base64 PEM)" % name)
    with _LOCK:
        ASSIGNED.update((name, dict(a)) for name, a in assignments.items())
        for region, backend in _backends():
            for name, cluster in backend.clusters.items():
                if name in assignments:
                    _give(cluster, region, assignments[name])
        return dict(ASSIGNED)


def _create_cluster(self, name, *args, **kwargs):
    cluster = _ORIGINAL_CREATE(self, name, *args, **kwargs)
    with _LOCK:
        if name in ASSIGNED:
            _give(cluster, self.region_name, ASSIGNED[name])
    return cluster


def install():
    eks_models.EKSBackend.create_cluster = _create_cluster


def reset():
    with _LOCK:
        ASSIGNED.clear()
