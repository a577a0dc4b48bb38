"""Deployments, ReplicaSets and Leases as the API serves them, small enough to read in a test."""


def deployment(image="repo/llm:v1", replicas=3, updated=None, ready=None, available=None, revision="1",
               paused=False, generation=2, observed=2, container="server", annotations=None, max_unavailable=1,
               max_surge=1, progressing="NewReplicaSetAvailable", total=None):
    updated = replicas if updated is None else updated
    ready = replicas if ready is None else ready
    available = ready if available is None else available
    meta_annotations = {"deployment.kubernetes.io/revision": revision}
    meta_annotations.update(annotations or {})
    status = {"observedGeneration": observed, "replicas": replicas if total is None else total, "updatedReplicas": updated,
              "readyReplicas": ready, "availableReplicas": available,
              "conditions": [{"type": "Progressing", "status": "True", "reason": progressing},
                             {"type": "Available", "status": "True" if available >= replicas - 1 else "False"}]}
    spec = {"replicas": replicas, "selector": {"matchLabels": {"app": "llm"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": max_surge,
                                                                    "maxUnavailable": max_unavailable}},
            "template": {"metadata": {"labels": {"app": "llm"}},
                         "spec": {"containers": [{"name": container, "image": image}]}}}
    if paused:
        spec["paused"] = True
    return {"metadata": {"name": "llm", "namespace": "serving", "uid": "d-1", "generation": generation,
                         "resourceVersion": "100", "annotations": meta_annotations},
            "spec": spec, "status": status}


def replicaset(revision, image, replicas=0, container="server"):
    return {"metadata": {"name": "llm-%s" % revision, "annotations": {"deployment.kubernetes.io/revision": revision},
                         "ownerReferences": [{"uid": "d-1", "controller": True}],
                         "creationTimestamp": "2026-12-01T10:00:0%sZ" % revision},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": container, "image": image}]}}},
            "status": {"readyReplicas": replicas}}


def lease(holder="rollout 20261201T100000Z tg1", renewed="2026-12-01T10:00:00.000000Z", duration=120, version="7"):
    return {"metadata": {"name": "modelops-rollout-llm", "resourceVersion": version},
            "spec": {"holderIdentity": holder, "renewTime": renewed, "acquireTime": renewed,
                     "leaseDurationSeconds": duration}}
