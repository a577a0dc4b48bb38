# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a fleet run decides about one cluster from the objects it read: may its wave change
it (preflight), what does a rollback go back to, did it stay healthy through the bake.

Pure functions: API objects (dicts, as the API serves them) in, verdicts out. The fleet
check plugin does the reading; model_rollout does the changing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.modelops.serving.plugins.module_utils.rollout import info, lock, spec, status


class Refused(Exception):
    """The cluster must not be changed; ``reason`` is a word, the message says why and what to do."""

    def __init__(self, reason, message):
        super(Refused, self).__init__(message)
        self.reason = reason


def where(namespace, name):
    return "Deployment %s/%s" % (namespace, name)


def view(deployment, container, lease=None, replicasets=None, max_surge=None, max_unavailable=None):
    """The Deployment as model_rollout_info describes it, plus the container's image and the floor.

    ``floor`` is the fewest available pods the rollout allows (replicas - maxUnavailable, with
    the run's own maxSurge/maxUnavailable when it sets them).
    """
    out = info.describe(deployment, replicasets or [], lease)
    images = out.get("images") or {}
    if container:
        out["image"] = images.get(container)
    out["container_found"] = (container in images) if container else bool(images)
    out["floor"] = floor(deployment, max_surge, max_unavailable)
    out["found"] = True
    out["rolled_back_from"] = ((deployment.get("metadata") or {}).get("annotations") or {}).get(spec.ROLLED_BACK_FROM) or None
    return out


def floor(deployment, max_surge=None, max_unavailable=None):
    spec = dict(deployment.get("spec") or {})
    strategy = dict(spec.get("strategy") or {})
    rolling = dict(strategy.get("rollingUpdate") or {})
    if max_surge not in (None, ""):
        rolling["maxSurge"] = max_surge
    if max_unavailable not in (None, ""):
        rolling["maxUnavailable"] = max_unavailable
    strategy["rollingUpdate"] = rolling
    spec["strategy"] = strategy
    try:
        return status.capacity_floor(dict(deployment, spec=spec))
    except ValueError:
        return None


def preflight(current, target_image, namespace, name, container, kind="rollout"):
    """Raise Refused unless the Deployment may be rolled to ``target_image`` now; else "change" or "resume".

    A Deployment that already carries the target image is a run that was stopped half way:
    it is resumed whatever its state, so a re-run converges instead of refusing. A rollback
    is allowed on a Deployment that does not serve at full capacity: that is what it is for.
    """
    if not current:
        raise Refused("not_found", "%s not found" % where(namespace, name))
    if not current.get("container_found"):
        raise Refused("no_container", "%s has no container %s (containers: %s)" % (
            where(namespace, name), container, ", ".join(sorted(current.get("images") or {})) or "none"))
    replicas = current.get("replicas") or {}
    if current.get("image") == target_image:
        return "resume"
    if not replicas.get("desired"):
        raise Refused("scaled_to_zero", "%s has 0 replicas, so no rollout could show the new image serving; "
                                        "scale it up first" % where(namespace, name))
    if (current.get("strategy") or {}).get("paused"):
        raise Refused("paused", "%s is paused (kubectl rollout pause): someone is working on it. Resume it or "
                                "leave it out with --limit" % where(namespace, name))
    if not current.get("complete") and kind != "rollback":
        raise Refused("not_full_capacity", "%s is not serving at full capacity, so no change was made: %s (%s): %s; "
                      "replicas %s" % (where(namespace, name), current.get("verdict"), current.get("reason"),
                                       current.get("message"), _replicas(replicas)))
    return "change"


def _replicas(replicas):
    return ", ".join("%s %s" % (k, replicas[k]) for k in ("desired", "updated", "ready", "available")
                     if k in replicas)


def lease_holder(lease):
    spec = (lease or {}).get("spec") or {}
    return spec.get("holderIdentity") or None


def lease_mark(lease):
    """What changes whenever the holder renews (or another takes over)."""
    spec = (lease or {}).get("spec") or {}
    return (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("acquireTime"))


def lease_free(lease, unchanged_for, now=None):
    """Whether no live run holds the Lease.

    Free when nobody holds it, when its own times say it expired, or when it has not been
    renewed while we watched it for longer than its duration (a holder whose clock is off
    still renews, so a live one keeps changing it).
    """
    if lease is None or not lease_holder(lease):
        return True
    # The holder's own times only say it may be gone; model_rollout then judges the Lease by
    # what it observes, so a holder whose clock runs behind is still refused there.
    if not lock.looks_live(lease, now or datetime.datetime.now(datetime.timezone.utc)):
        return True
    duration = ((lease.get("spec") or {}).get("leaseDurationSeconds") or 0)
    return unchanged_for > duration


def lock_refusal(lease, namespace, name, waited):
    spec = (lease or {}).get("spec") or {}
    return Refused("locked", "another rollout holds the lock of %s: Lease %s is held by %s (renewed %s, lasts %ss), "
                             "still after waiting %ds. Nothing in this wave was changed; run again when it is done, "
                             "or delete the Lease if that run is gone" % (
                                 where(namespace, name), (lease.get("metadata") or {}).get("name"),
                                 spec.get("holderIdentity"), spec.get("renewTime"),
                                 spec.get("leaseDurationSeconds"), waited))


def rollback_target(current, revision, namespace, name, container):
    """(image, revision) to go back to: the named revision's, or the last image served before this one.

    The last other image, not the previous revision: a second rollback then undoes the first,
    and revisions that only changed env or args are skipped. So is the revision model_rollout
    rolled back from (it never served): a cluster that model_rollout already put back on its
    previous image stays on it.
    """
    history = current.get("history") or []
    live = current.get("image")
    revision = "" if revision is None else str(revision).strip()
    revisions = ", ".join(str(r.get("revision")) for r in history) or "none"
    if revision:
        for row in history:
            if str(row.get("revision")) == revision:
                image = (row.get("images") or {}).get(container)
                if image:
                    return image, revision
        raise Refused("no_rollback_target", "%s has no revision %s with container %s (revisions: %s; serving %s at "
                      "revision %s)" % (where(namespace, name), revision, container, revisions, live,
                                        current.get("revision")))
    failed = str(current.get("rolled_back_from") or "")
    for row in reversed(history):
        image = (row.get("images") or {}).get(container)
        number = str(row.get("revision"))
        if number not in (str(current.get("revision")), failed) and image and image != live:
            return image, number
    if failed:
        return live, str(current.get("revision"))
    raise Refused("no_rollback_target", "%s has no earlier image to roll back to (revisions: %s; serving %s at "
                  "revision %s)" % (where(namespace, name), revisions, live, current.get("revision")))


def bake_problem(deployment, container, expected_image, namespace, name):
    """(reason, message) when a baked cluster no longer serves ``expected_image`` at full capacity, else None."""
    if deployment is None:
        return "bake_deleted", "%s was deleted during the bake" % where(namespace, name)
    current = view(deployment, container)
    if current.get("image") != expected_image:
        return "bake_image_changed", "%s changed to %s during the bake (expected %s): another hand changed it" % (
            where(namespace, name), current.get("image"), expected_image)
    if (current.get("strategy") or {}).get("paused"):
        return "bake_paused", "%s was paused during the bake" % where(namespace, name)
    if not current.get("complete"):
        return "bake_unavailable", "%s stopped serving at full capacity during the bake: %s (%s): %s; replicas %s" % (
            where(namespace, name), current.get("verdict"), current.get("reason"), current.get("message"),
            _replicas(current.get("replicas") or {}))
    return None


def point(deployment, t, container=None):
    """One timeline point (absolute time ``t``, epoch seconds) of a Deployment's replica counts and image."""
    counts = status.progress(deployment)
    images = dict((c.get("name"), c.get("image")) for c in spec.containers((deployment.get("spec") or {}).get("template")))
    image = images.get(container) if container else next(iter(images.values()), None)
    return {"t": round(t, 3), "phase": "bake", "desired": counts["desired"], "updated": counts["updated"],
            "ready": counts["ready"], "available": counts["available"], "total": counts.get("total"), "image": image}


def epoch(value):
    """Epoch seconds of an RFC 3339 time such as the API's, or None."""
    if not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()
