# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run records on the Deployment it changes, and the rollback target read back from it. No I/O.

The record is small on purpose: the Deployment controller copies every Deployment annotation onto
each new ReplicaSet, and annotations share a 256 KiB limit per object. A write records the
revision, pod-template-hash and image of the ReplicaSet that served before it, and a digest of the
change it asked for; the template itself is read back from that ReplicaSet, which the
controller owns (the run that wrote keeps it in memory as well, so its own rollback is exact even
when the ReplicaSet is gone).

Which template is the rollback target is decided here, and only here:

- a Deployment that is *serving* (its rollout complete, whatever the scaling since) goes back to
  the template it runs now;
- a rollout this module wrote and that never completed goes back to what that write recorded;
- a rollout someone else started and that never completed goes back to the last complete
  template: the ReplicaSet of this Deployment (by controller ownership, never a ``-canary`` or
  ``-green`` one) with the most available pods, the newest on a tie.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json

from ansible_collections.modelops.serving.plugins.module_utils.rollout import diagnose, status

ANNOTATION = "modelops.serving/"
PREVIOUS_REVISION = ANNOTATION + "previous-revision"
PREVIOUS_IMAGE = ANNOTATION + "previous-image"
PREVIOUS_HASH = ANNOTATION + "previous-hash"
ROLLOUT_TARGET = ANNOTATION + "rollout-target"
ROLLED_BACK_FROM = ANNOTATION + "rolled-back-from"
# Written by 0.1.0: the whole template. Still read (an unfinished rollout of 0.1.0 can be resumed), never written.
LEGACY_TEMPLATE = ANNOTATION + "previous-template"
REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH = "pod-template-hash"

# kubectl rollout undo keeps these of the Deployment and takes every other annotation from the
# ReplicaSet it restores (k8s.io/kubectl pkg/polymorphichelpers/rollback.go, annotationsToSkip).
UNDO_KEEPS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
)


def _meta(obj):
    return (obj or {}).get("metadata") or {}


def _annotations(obj):
    return _meta(obj).get("annotations") or {}


def _int(value):
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def revision(obj):
    return _int(_annotations(obj).get(REVISION))


class Target:
    """A template to roll back to: revision, pod-template-hash and image, and once known the template."""

    def __init__(self, revision, image, hash_=None, template=None, annotations=None):
        self.revision = str(revision) if revision not in (None, "", 0) else None
        self.image = image or None
        self.hash = hash_ or None
        self.template = template
        self.annotations = annotations

    def summary(self):
        return {"revision": self.revision, "image": self.image}

    def __repr__(self):
        return "Target(%r, %r, %r)" % (self.revision, self.image, self.hash)


def change_digest(container, image, env, args, env_absent=None):
    """A digest of the change a run asks for: the record names it without holding env values."""
    change = {"container": container, "image": image, "env": env or {}, "args": args}
    if env_absent:
        change["env_absent"] = sorted(env_absent)
    text = json.dumps(change, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _first_image(template, container=None):
    found = ((template or {}).get("spec") or {}).get("containers") or []
    for c in found:
        if container is None or c.get("name") == container:
            return c.get("image")
    return None


def template_of(replicaset):
    """The ReplicaSet's pod template as a Deployment template: without the controller's hash label."""
    template = copy.deepcopy((replicaset.get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(HASH, None)
    return template


def owned(deployment, replicasets):
    """The ReplicaSets this Deployment controls (ownerReference with controller true and its uid)."""
    return [rs for rs in replicasets or [] if diagnose.controlled_by(rs, deployment)]


def serving(deployment):
    """True when the Deployment's rollout is complete at its template, however it was scaled since.

    The controller's own test (progress.go): no old pods (status.replicas equal to updatedReplicas)
    and Progressing with reason NewReplicaSetAvailable, which a pure scaling never changes. Pods
    Pending after an autoscaler or a person scaled up do not make a rollout.
    """
    meta, st = _meta(deployment), deployment.get("status") or {}
    if (st.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return False
    if status.rollout_status(deployment).done:
        return True
    progressing = [c for c in st.get("conditions") or [] if c.get("type") == "Progressing"]
    return (bool(progressing) and progressing[0].get("reason") == "NewReplicaSetAvailable"
            and (st.get("replicas") or 0) == (st.get("updatedReplicas") or 0))


def written_by_us(deployment):
    """True when the Deployment's template is the one a run of this module last wrote.

    Every template change bumps the revision; ours was at most one above the one we recorded.
    """
    ann = _annotations(deployment)
    if ROLLOUT_TARGET not in ann and LEGACY_TEMPLATE not in ann:
        return False
    return revision(deployment) <= _int(ann.get(PREVIOUS_REVISION)) + 1


def ours(deployment, digest):
    """True when the Deployment's unfinished rollout is one this module started for this very change."""
    return written_by_us(deployment) and _annotations(deployment).get(ROLLOUT_TARGET) == digest


def recorded(deployment):
    """The Target an earlier write recorded, or None."""
    ann = _annotations(deployment)
    if not (ann.get(ROLLOUT_TARGET) or ann.get(PREVIOUS_HASH) or ann.get(LEGACY_TEMPLATE)):
        return None
    template = None
    if ann.get(LEGACY_TEMPLATE):
        try:
            template = json.loads(ann[LEGACY_TEMPLATE])
        except ValueError:
            template = None
    return Target(ann.get(PREVIOUS_REVISION), ann.get(PREVIOUS_IMAGE), ann.get(PREVIOUS_HASH), template)


def current(deployment, replicasets, container=None):
    """The Target of what the Deployment runs now (it is serving)."""
    template = copy.deepcopy((deployment.get("spec") or {}).get("template") or {})
    rs = diagnose.find_new_replicaset(deployment, replicasets)
    hash_ = (_meta(rs).get("labels") or {}).get(HASH) if rs else None
    # The new ReplicaSet carries the annotations of its revision; without it, the Deployment's as read.
    return Target(_annotations(deployment).get(REVISION), _first_image(template, container), hash_, template,
                  annotations=dict(_annotations(rs) if rs else _annotations(deployment)))


def last_complete(deployment, replicasets, container=None):
    """The old ReplicaSet of this Deployment that serves most (the newest on a tie), as a Target; or None."""
    new = diagnose.find_new_replicaset(deployment, replicasets)
    new_uid = _meta(new).get("uid") if new else None
    older = [rs for rs in owned(deployment, replicasets)
             if rs is not new and (new_uid is None or _meta(rs).get("uid") != new_uid)]
    if new is None:
        # The controller has not made the new ReplicaSet yet: every owned one is older.
        older = owned(deployment, replicasets)
    if not older:
        return None
    best = max(older, key=lambda rs: ((rs.get("status") or {}).get("availableReplicas") or 0, revision(rs)))
    return _from_replicaset(best, container)


def _from_replicaset(rs, container=None):
    template = template_of(rs)
    return Target(revision(rs), _first_image(template, container), (_meta(rs).get("labels") or {}).get(HASH),
                  template, dict(_annotations(rs)))


def rollback_target(deployment, replicasets, container=None):
    """Where a failure of a change made now goes back to: what served before it (see the module doc)."""
    if serving(deployment):
        return current(deployment, replicasets, container)
    if written_by_us(deployment):
        return recorded(deployment)
    return last_complete(deployment, replicasets, container)


def resolve(target, deployment, replicasets, container=None):
    """The Target with its template and annotations from the ReplicaSet the Deployment owns, when it exists.

    Falls back to the template the Target already holds (kept in memory by the run that wrote, or
    a 0.1.0 record); None when neither is there, so nothing is guessed.
    """
    if target is None:
        return None
    for rs in owned(deployment, replicasets):
        same = ((_meta(rs).get("labels") or {}).get(HASH) == target.hash if target.hash
                else target.revision is not None and str(revision(rs)) == target.revision)
        if same:
            found = _from_replicaset(rs, container)
            found.revision = target.revision or found.revision
            return found
    if target.template is not None:
        return target
    return None


def record_annotations(target, digest):
    """The annotations a change writes: small, and they replace any 0.1.0 record."""
    target = target or Target(None, None)
    return {
        PREVIOUS_REVISION: target.revision or "",
        PREVIOUS_IMAGE: target.image or "",
        PREVIOUS_HASH: target.hash or "",
        ROLLOUT_TARGET: digest,
        LEGACY_TEMPLATE: None,
    }


def undo_annotations(deployment, target, failed_revision):
    """The Deployment's annotations after rolling back to ``target``, as `kubectl rollout undo` sets them.

    The Deployment keeps kubectl's skipped keys; everything else comes from the restored
    ReplicaSet (its change-cause above all), except this module's own record, which describes a
    run and not a revision. ``rolled-back-from`` names the revision that failed.
    """
    mine = _annotations(deployment)
    out = dict((k, mine[k]) for k in UNDO_KEEPS if k in mine)
    source = target.annotations
    if source is None:
        # Only a 0.1.0 record, whose ReplicaSet is gone: the failed change's cause must not stay.
        source = dict((k, v) for k, v in mine.items() if k != CHANGE_CAUSE)
    for key, value in source.items():
        if key not in UNDO_KEEPS and not key.startswith(ANNOTATION):
            out[key] = value
    out[ROLLED_BACK_FROM] = str(failed_revision or "")
    return out


def rollback_patch(deployment, target, failed_revision):
    """JSON patch putting ``target`` back exactly, with the resourceVersion read as its precondition."""
    return [
        {"op": "replace", "path": "/metadata/resourceVersion", "value": _meta(deployment).get("resourceVersion")},
        {"op": "replace", "path": "/spec/template", "value": target.template},
        {"op": "replace", "path": "/metadata/annotations", "value": undo_annotations(deployment, target,
                                                                                     failed_revision)},
    ]
