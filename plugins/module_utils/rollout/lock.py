# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One rollout per Deployment at a time, through a coordination.k8s.io Lease.

The Lease lives beside the Deployment and names its holder. A holder renews it
while it waits; a holder that died stops renewing, and once renewTime +
leaseDurationSeconds has passed anyone may take the Lease over. Every write
carries the resourceVersion it read, so two runs racing for one Lease cannot
both win: the API server lets exactly one write through.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import getpass
import os
import socket
import uuid

from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError

LEASE_PREFIX = "modelops-rollout-"


class LockHeld(Exception):
    """Someone else holds the rollout lock; the message names them."""


def lease_name(deployment):
    return (LEASE_PREFIX + deployment)[:253]


def default_identity():
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "unknown"
    return "%s@%s/pid-%d/%s" % (user, socket.gethostname(), os.getpid(), uuid.uuid4().hex[:8])


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _micro(ts):
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value):
    if not value:
        return None
    value = value.replace("Z", "+00:00")
    try:
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        return None


def expired(lease, now=None):
    """True when the holder has stopped renewing for longer than the lease lasts."""
    spec = lease.get("spec") or {}
    if not spec.get("holderIdentity"):
        return True
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    if renewed is None:
        return True
    duration = spec.get("leaseDurationSeconds") or 0
    return (now or _now()) > renewed + datetime.timedelta(seconds=duration)


class RolloutLock:
    def __init__(self, api, namespace, deployment, identity=None, ttl_seconds=120):
        self.api = api
        self.namespace = namespace
        self.name = lease_name(deployment)
        self.deployment = deployment
        self.identity = identity or default_identity()
        self.ttl = int(ttl_seconds)
        self.lease = None

    @property
    def path(self):
        return self.api.path("coordination.k8s.io/v1", "leases", self.namespace, self.name)

    def _collection(self):
        return self.api.path("coordination.k8s.io/v1", "leases", self.namespace)

    def _spec(self, transitions):
        now = _micro(_now())
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.ttl,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    def acquire(self):
        """Take the lock or raise LockHeld naming the holder."""
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/managed-by": "modelops.serving"},
                "annotations": {"modelops.serving/deployment": self.deployment},
            },
            "spec": self._spec(0),
        }
        try:
            self.lease = self.api.create(self._collection(), body)
            return
        except KubeError as exc:
            if not exc.conflict:
                raise
        current = self.api.get(self.path)
        spec = current.get("spec") or {}
        if spec.get("holderIdentity") and not expired(current):
            raise LockHeld(
                "another rollout of Deployment %s/%s is in progress: Lease %s is held by %s since %s "
                "(renewed %s, expires %ss after its last renewal). Wait for it, or delete the Lease if "
                "that run is gone for good."
                % (self.namespace, self.deployment, self.name, spec.get("holderIdentity"),
                   spec.get("acquireTime"), spec.get("renewTime"), spec.get("leaseDurationSeconds"))
            )
        current["spec"] = self._spec((spec.get("leaseTransitions") or 0) + 1)
        try:
            # resourceVersion in the body makes this a compare-and-swap.
            self.lease = self.api.put(self.path, current)
        except KubeError as exc:
            if exc.conflict:
                holder = (self.api.get(self.path).get("spec") or {}).get("holderIdentity")
                raise LockHeld("another rollout took Lease %s/%s first: it is held by %s"
                               % (self.namespace, self.name, holder))
            raise

    def renew(self):
        if self.lease is None:
            return
        body = dict(self.lease)
        spec = dict(body.get("spec") or {})
        spec["renewTime"] = _micro(_now())
        body["spec"] = spec
        try:
            self.lease = self.api.put(self.path, body)
        except KubeError as exc:
            if exc.conflict or exc.not_found:
                raise LockHeld("lost the rollout lock %s/%s to another run" % (self.namespace, self.name))
            raise

    def release(self):
        if self.lease is None:
            return
        version = (self.lease.get("metadata") or {}).get("resourceVersion")
        try:
            self.api.delete(self.path, preconditions={"resourceVersion": version} if version else None)
        except KubeError as exc:
            if not (exc.not_found or exc.conflict):
                raise
        self.lease = None
