# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One rollout per Deployment at a time, through a coordination.k8s.io Lease.

The Lease lives beside the Deployment and names its holder, who renews it while the run lasts
(the wait loop does, on schedule, in every phase). Every write carries the resourceVersion it
read, so two runs racing for one Lease cannot both win: the API server lets exactly one through.

Expiry is judged from time this machine observed, as client-go's leader election does, never by
comparing our clock with the holder's ``renewTime``: two operators' laptops disagree by minutes.

- Taking: a Lease whose ``renewTime`` looks recent is held (a skewed clock can only make us wait,
  never take a live Lease). One that looks expired is not trusted: we watch it for its own
  ``leaseDurationSeconds``, and take it over (compare-and-swap) only if nobody renewed it in all
  that time; a renewal seen meanwhile means the holder lives, and the run is refused naming it.
- Holding: the Lease counts as ours until ``renew_deadline`` (two thirds of the TTL) after the last
  renewal the API server accepted, measured from when we *sent* it. Renewals are due every third
  of the TTL; a transient failure (connection, 429, 5xx) is retried with backoff within that
  deadline; a conflict re-reads the Lease (still ours: go on; another holder: lost); a deleted
  Lease is lost. Lost ends the run as ``lock_lost``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import getpass
import os
import socket
import uuid

from ansible_collections.modelops.serving.plugins.module_utils.rollout.clock import micro_time
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import LockHeld, LockLost
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError

LEASE_PREFIX = "modelops-rollout-"
# Waits between renewal attempts after transient failures.
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)


def lease_name(deployment):
    return (LEASE_PREFIX + deployment)[:253]


def default_identity():
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "unknown"
    return "%s@%s/pid-%d/%s" % (user, socket.gethostname(), os.getpid(), uuid.uuid4().hex[:8])


def parse_time(value):
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def looks_live(lease, now):
    """True when the holder's own ``renewTime`` plus the duration is still ahead of ``now``.

    Only ever a reason to hold back: a holder whose clock runs behind looks expired although it
    lives, so an expired look is checked by observation before anything is taken.
    """
    spec = lease.get("spec") or {}
    if not spec.get("holderIdentity"):
        return False
    renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    if renewed is None:
        return False
    return now <= renewed + datetime.timedelta(seconds=spec.get("leaseDurationSeconds") or 0)


def _record(lease):
    """What changes when a holder renews or a new one takes over."""
    spec = lease.get("spec") or {}
    return ((lease.get("metadata") or {}).get("resourceVersion"), spec.get("holderIdentity"), spec.get("renewTime"))


def transient(exc):
    return exc.status in (0, 429, 500, 502, 503, 504)


def renewal_may_recover(exc):
    """Whether a failed renewal is worth trying again within the renew deadline.

    Besides transient errors: an apiserver that has just started (a restart, an upgrade) answers 401 and
    403 until its token webhook and RBAC caches are up. The Lease is ours until the deadline either way,
    and client-go's leader election retries every failed renewal until then. The permissions a run needs
    are in docs/rbac.md.
    """
    return transient(exc) or exc.status in (401, 403)


class RolloutLock:
    def __init__(self, api, namespace, deployment, clock, identity=None, ttl_seconds=120, progress=None):
        self.api = api
        self.namespace = namespace
        self.name = lease_name(deployment)
        self.deployment = deployment
        self.clock = clock
        self.identity = identity or default_identity()
        self.ttl = int(ttl_seconds)
        self.progress = progress or (lambda line: None)
        self.lease = None
        # Local monotonic time at which the last accepted renewal was sent.
        self.renewed_at = None
        self.next_renewal = None
        self.failures = 0
        self.last_error = None

    # -- paths and bodies ------------------------------------------------------------------------
    @property
    def path(self):
        return self.api.path("coordination.k8s.io/v1", "leases", self.namespace, self.name)

    def _collection(self):
        return self.api.path("coordination.k8s.io/v1", "leases", self.namespace)

    def _spec(self, transitions, acquired=None):
        now = micro_time(self.clock.wall())
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.ttl,
            "acquireTime": acquired or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    @property
    def renew_every(self):
        return max(self.ttl / 3.0, 1.0)

    @property
    def renew_deadline(self):
        return self.ttl * 2.0 / 3.0

    def _held_since(self, sent):
        self.renewed_at = sent
        self.next_renewal = sent + self.renew_every
        self.failures = 0
        self.last_error = None

    # -- taking ----------------------------------------------------------------------------------
    def acquire(self):
        """Take the Lease, or raise LockHeld naming the holder."""
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
        sent = self.clock.monotonic()
        try:
            self.lease = self.api.create(self._collection(), body)
            self._held_since(sent)
            return
        except KubeError as exc:
            if not exc.conflict:
                raise
        current = self.api.get(self.path)
        spec = current.get("spec") or {}
        if spec.get("holderIdentity") and spec.get("holderIdentity") != self.identity:
            if looks_live(current, self.clock.wall()):
                raise LockHeld(self._held_message(current))
            current = self._observe(current)
        self._take_over(current)

    def _observe(self, lease):
        """Watch a Lease that looks expired for its own duration; return it if nobody renewed it."""
        duration = (lease.get("spec") or {}).get("leaseDurationSeconds") or self.ttl
        seen = _record(lease)
        self.progress("Lease %s/%s is held by %s, last renewed %s by its own clock; not trusting that clock, "
                      "watching it for %ss before taking it over"
                      % (self.namespace, self.name, (lease.get("spec") or {}).get("holderIdentity"),
                         (lease.get("spec") or {}).get("renewTime"), duration))
        start = self.clock.monotonic()
        interval = min(2.0, max(0.5, duration / 5.0))
        while self.clock.monotonic() - start < duration:
            self.clock.sleep(min(interval, duration - (self.clock.monotonic() - start)))
            try:
                now = self.api.get(self.path)
            except KubeError as exc:
                if exc.not_found:
                    return None
                if transient(exc):
                    continue
                raise
            if _record(now) != seen:
                if not (now.get("spec") or {}).get("holderIdentity"):
                    return now
                raise LockHeld(self._held_message(now, renewed_while_watched=True))
        return lease

    def _take_over(self, current):
        sent = self.clock.monotonic()
        if current is None:
            # Deleted while we watched: whoever creates it first has it.
            return self.acquire()
        spec = current.get("spec") or {}
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
        self._held_since(sent)

    def _held_message(self, lease, renewed_while_watched=False):
        spec = lease.get("spec") or {}
        text = ("another rollout of Deployment %s/%s is in progress: Lease %s is held by %s since %s "
                "(renewed %s, lasts %ss after each renewal)"
                % (self.namespace, self.deployment, self.name, spec.get("holderIdentity"), spec.get("acquireTime"),
                   spec.get("renewTime"), spec.get("leaseDurationSeconds")))
        if renewed_while_watched:
            text += ("; its renewTime looked expired by this machine's clock, but it was renewed while this run "
                     "watched, so its clock differs from ours")
        return text + ". Wait for it, or delete the Lease if that run is gone for good."

    # -- holding ---------------------------------------------------------------------------------
    def due(self, now):
        return self.lease is not None and now >= self.next_renewal

    def check(self, now):
        """Raise LockLost when the Lease may no longer be ours (no accepted renewal for too long)."""
        if self.lease is None:
            return
        if now - self.renewed_at > self.renew_deadline:
            cause = (": %s" % self.last_error) if self.last_error else ""
            raise LockLost("could not renew the rollout Lease %s/%s for %.0fs%s; another run may take it over, so "
                           "this run stopped" % (self.namespace, self.name, now - self.renewed_at, cause))

    def renew(self):
        """One renewal attempt; transient failures are retried later, within the deadline."""
        if self.lease is None:
            return
        sent = self.clock.monotonic()
        body = dict(self.lease)
        spec = dict(body.get("spec") or {})
        spec["renewTime"] = micro_time(self.clock.wall())
        body["spec"] = spec
        try:
            self.lease = self.api.put(self.path, body)
        except KubeError as exc:
            self._renew_failed(exc, sent)
            return
        self._held_since(sent)

    def _renew_failed(self, exc, sent):
        if exc.not_found:
            self.lease = None
            raise LockLost("the rollout Lease %s/%s was deleted by someone else during the run"
                           % (self.namespace, self.name))
        if exc.conflict:
            current = self._reread()
            holder = (current.get("spec") or {}).get("holderIdentity") if current else None
            if current is not None and holder == self.identity:
                # Our own earlier renewal went through unseen; carry on from what the server has.
                self.lease = current
                self._held_since(sent)
                return
            self.lease = None
            if current is None:
                raise LockLost("the rollout Lease %s/%s was deleted by someone else during the run"
                               % (self.namespace, self.name))
            raise LockLost("the rollout Lease %s/%s was taken by %s during the run"
                           % (self.namespace, self.name, holder))
        self.failures += 1
        self.last_error = exc
        if not renewal_may_recover(exc):
            self.lease = None
            raise LockLost("cannot renew the rollout Lease %s/%s: %s" % (self.namespace, self.name, exc))
        self.next_renewal = self.clock.monotonic() + RETRY_DELAYS[min(self.failures, len(RETRY_DELAYS)) - 1]
        self.progress("could not renew the rollout Lease (%s); retrying" % exc)
        self.check(self.clock.monotonic())

    def _reread(self):
        try:
            return self.api.get(self.path)
        except KubeError as exc:
            if exc.not_found:
                return None
            raise LockLost("the rollout Lease %s/%s changed under this run and cannot be read: %s"
                           % (self.namespace, self.name, exc))

    def release(self):
        """Delete the Lease if it is still the one we hold; never fails the run."""
        if self.lease is None:
            return
        version = (self.lease.get("metadata") or {}).get("resourceVersion")
        self.lease = None
        for _attempt in range(2):
            try:
                self.api.delete(self.path, preconditions={"resourceVersion": version} if version else None)
                return
            except KubeError as exc:
                if not transient(exc):
                    return  # gone, taken, or not ours to delete: it expires by itself
