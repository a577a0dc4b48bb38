# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What to change on a Deployment, decided from objects alone (no I/O).

The change is a strategic merge patch, not a server-side apply: containers and
env vars merge by name, so the patch touches exactly the image, the named env
vars and args, and the strategy knobs it names; replicas are never in it (an
HPA keeps its count). Server-side apply would, on a later run that names fewer
fields, delete fields this manager owned before (e.g. an env var set once);
that is not what a user who only bumps an image expects.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

from ansible_collections.modelops.serving.plugins.module_utils.rollout import status

ANNOTATION = "modelops.serving/"
PREVIOUS_TEMPLATE = ANNOTATION + "previous-template"
PREVIOUS_REVISION = ANNOTATION + "previous-revision"
PREVIOUS_IMAGE = ANNOTATION + "previous-image"
TARGET = ANNOTATION + "target"
ROLLED_BACK_FROM = ANNOTATION + "rolled-back-from"
CHANGE_CAUSE = "kubernetes.io/change-cause"
REVISION = "deployment.kubernetes.io/revision"

# The distribution/reference grammar that container runtimes accept.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = r"(?:%s(?:\.%s)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?" % (_DOMAIN_PART, _DOMAIN_PART)
_IMAGE_RE = re.compile(
    r"^(?:(?P<domain>%s)/)?(?P<path>%s(?:/%s)*)(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$"
    % (_DOMAIN, _COMPONENT, _COMPONENT)
)
_ENV_NAME_RE = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class SpecError(ValueError):
    """The requested change is invalid; the message says what to fix."""


def check_image(image):
    if not isinstance(image, str) or not image:
        raise SpecError("image must be a non-empty container image reference such as 'registry.example.com/team/model:v2'")
    if len(image) > 4096 or not _IMAGE_RE.match(image):
        raise SpecError(
            "image %r is not a valid image reference: expected [registry[:port]/]repository[:tag][@digest] "
            "with a lowercase repository, e.g. 'registry.example.com/team/model:v2'" % image
        )
    # "repo:tag" with a domain-looking first part is fine; a bare tag with no name is not.
    return image


def check_env(env):
    for name in env or {}:
        if not _ENV_NAME_RE.match(name):
            raise SpecError("env name %r is not a valid environment variable name" % name)


def containers(template):
    return ((template or {}).get("spec") or {}).get("containers") or []


def pick_container(deployment, wanted=None):
    """The container to change: the named one, or the only one."""
    found = containers((deployment.get("spec") or {}).get("template"))
    names = [c.get("name") for c in found]
    if wanted:
        for c in found:
            if c.get("name") == wanted:
                return c
        raise SpecError("container %r not found in Deployment %s; its containers are: %s"
                        % (wanted, _name(deployment), ", ".join(names) or "(none)"))
    if len(found) == 1:
        return found[0]
    raise SpecError("Deployment %s has %d containers (%s): set container to the one serving the model"
                    % (_name(deployment), len(found), ", ".join(names)))


def _name(deployment):
    meta = deployment.get("metadata") or {}
    return "%s/%s" % (meta.get("namespace"), meta.get("name"))


def _env_map(container):
    out = {}
    for item in container.get("env") or []:
        out[item.get("name")] = item
    return out


def container_changes(container, image=None, env=None, args=None):
    """The container patch (name plus changed fields), or None when it already matches."""
    patch = {"name": container["name"]}
    if image is not None and container.get("image") != image:
        patch["image"] = image
    if env:
        current = _env_map(container)
        entries = []
        for name in sorted(env):
            value = env[name]
            now = current.get(name)
            if now is not None and "valueFrom" not in now and now.get("value", "") == value:
                continue
            entry = {"name": name, "value": value}
            if now is not None and "valueFrom" in now:
                # Merging would keep valueFrom beside value, which the API rejects.
                entry["valueFrom"] = None
            entries.append(entry)
        if entries:
            patch["env"] = entries
    if args is not None and list(container.get("args") or []) != list(args):
        patch["args"] = list(args)
    return patch if len(patch) > 1 else None


def _same_int_or_percent(current, wanted):
    return str(current) == str(wanted)


def strategy_changes(deployment, max_surge=None, max_unavailable=None, min_ready_seconds=None,
                     progress_deadline_seconds=None):
    """The spec patch for the rollout knobs that differ, or {}."""
    spec = deployment.get("spec") or {}
    strategy = spec.get("strategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    out = {}
    knobs = {}
    if max_surge is not None and not _same_int_or_percent(rolling.get("maxSurge"), max_surge):
        knobs["maxSurge"] = max_surge
    if max_unavailable is not None and not _same_int_or_percent(rolling.get("maxUnavailable"), max_unavailable):
        knobs["maxUnavailable"] = max_unavailable
    if knobs:
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            raise SpecError("max_surge/max_unavailable need strategy RollingUpdate; Deployment %s uses %s"
                            % (_name(deployment), strategy.get("type")))
        out["strategy"] = {"type": "RollingUpdate", "rollingUpdate": knobs}
    if min_ready_seconds is not None and spec.get("minReadySeconds", 0) != min_ready_seconds:
        out["minReadySeconds"] = min_ready_seconds
    if progress_deadline_seconds is not None and spec.get("progressDeadlineSeconds", 600) != progress_deadline_seconds:
        out["progressDeadlineSeconds"] = progress_deadline_seconds
    return out


def parse_int_or_percent(value, field):
    """Module input (string from YAML or int) to what the API takes: int or 'N%'."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise SpecError("%s must be a whole number or a percentage like '25%%', not %r" % (field, value))
    if isinstance(value, int):
        if value < 0:
            raise SpecError("%s must not be negative (got %d)" % (field, value))
        return value
    text = str(value).strip()
    if re.match(r"^\d+$", text):
        return int(text)
    if re.match(r"^\d+%$", text):
        return text
    raise SpecError("%s must be a whole number or a percentage like '25%%', not %r" % (field, value))


def check_strategy(deployment, spec_patch):
    """Reject knob combinations the API would reject, before anything is written."""
    spec = copy.deepcopy(deployment.get("spec") or {})
    rolling = dict(((spec.get("strategy") or {}).get("rollingUpdate")) or {})
    rolling.update(((spec_patch.get("strategy") or {}).get("rollingUpdate")) or {})
    replicas = spec.get("replicas", 1)
    surge = rolling.get("maxSurge", "25%")
    unavailable = rolling.get("maxUnavailable", "25%")
    if str(surge) in ("0", "0%") and str(unavailable) in ("0", "0%"):
        raise SpecError("max_surge and max_unavailable cannot both be 0: the rollout could never make progress")
    try:
        status.resolve_fenceposts(surge, unavailable, replicas)
    except ValueError as exc:
        raise SpecError(str(exc))
    min_ready = spec_patch.get("minReadySeconds", spec.get("minReadySeconds", 0))
    deadline = spec_patch.get("progressDeadlineSeconds", spec.get("progressDeadlineSeconds", 600))
    if deadline <= min_ready:
        raise SpecError("progress_deadline_seconds (%d) must be greater than min_ready_seconds (%d)"
                        % (deadline, min_ready))


def template_for_record(template):
    """The pod template as it will be restored on rollback, compact."""
    return json.dumps(template, sort_keys=True, separators=(",", ":"))


def target_record(container_name, image, env, args):
    return json.dumps({"container": container_name, "image": image, "env": env or {}, "args": args},
                      sort_keys=True, separators=(",", ":"))


def build_patch(deployment, container_patch, spec_patch, change_cause):
    """The strategic merge patch for the change, recording what it replaces."""
    meta = deployment.get("metadata") or {}
    annotations = {}
    spec = dict(spec_patch)
    if container_patch:
        current = (deployment.get("spec") or {}).get("template") or {}
        annotations[PREVIOUS_TEMPLATE] = template_for_record(current)
        annotations[PREVIOUS_REVISION] = (meta.get("annotations") or {}).get(REVISION, "")
        annotations[PREVIOUS_IMAGE] = pick_container(deployment, container_patch["name"]).get("image", "")
        annotations[CHANGE_CAUSE] = change_cause
        spec["template"] = {"spec": {"containers": [container_patch]}}
    body = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "spec": spec}
    if annotations:
        body["metadata"]["annotations"] = annotations
    return body


def recorded_previous(deployment):
    """What an earlier change recorded on the Deployment: template, revision and image, or None."""
    annotations = (deployment.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(PREVIOUS_TEMPLATE)
    if not raw:
        return None
    try:
        template = json.loads(raw)
    except ValueError:
        return None
    return {
        "template": template,
        "revision": annotations.get(PREVIOUS_REVISION) or None,
        "image": annotations.get(PREVIOUS_IMAGE) or None,
    }


def previous_from_replicasets(deployment, replicasets):
    """Fallback when nothing was recorded: the newest older ReplicaSet's template."""
    current = int(((deployment.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0") or 0)
    best = None
    for rs in replicasets:
        rev = int(((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0") or 0)
        if rev < current and (best is None or rev > best[0]):
            best = (rev, rs)
    if best is None:
        return None
    template = copy.deepcopy((best[1].get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop("pod-template-hash", None)
    images = [c.get("image") for c in containers(template)]
    return {"template": template, "revision": str(best[0]), "image": images[0] if images else None}


def rollback_patch(previous_template, failed_revision):
    """JSON patch that puts the recorded template back, exactly, and notes why."""
    return [
        {"op": "replace", "path": "/spec/template", "value": previous_template},
        {"op": "add", "path": "/metadata/annotations/" + ROLLED_BACK_FROM.replace("/", "~1"),
         "value": str(failed_revision or "")},
    ]


def image_of(deployment, container_name):
    for c in containers((deployment.get("spec") or {}).get("template")):
        if c.get("name") == container_name:
            return c.get("image")
    return None


def revision_of(deployment):
    return ((deployment.get("metadata") or {}).get("annotations") or {}).get(REVISION)


def strategy_summary(deployment):
    spec = deployment.get("spec") or {}
    strategy = spec.get("strategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    return {
        "type": strategy.get("type", "RollingUpdate"),
        "max_surge": rolling.get("maxSurge"),
        "max_unavailable": rolling.get("maxUnavailable"),
        "min_ready_seconds": spec.get("minReadySeconds", 0),
        "progress_deadline_seconds": spec.get("progressDeadlineSeconds", 600),
        "replicas": spec.get("replicas"),
        "paused": bool(spec.get("paused")),
    }


# -- the change planner --------------------------------------------------------------------------
class Plan:
    """What a run would change on a Deployment: the container it changes and the two patches."""

    def __init__(self, container, container_patch, spec_patch):
        self.container = container
        self.container_patch = container_patch
        self.spec_patch = spec_patch

    @property
    def changes(self):
        return bool(self.container_patch or self.spec_patch)


def plan(deployment, settings):
    """Validate the request against the live object and decide the patches (SpecError names what to fix)."""
    if settings.image is not None:
        check_image(settings.image)
    check_env(settings.env)
    container = pick_container(deployment, settings.container)
    container_patch = container_changes(container, image=settings.image, env=settings.env, args=settings.args)
    spec_patch = strategy_changes(
        deployment,
        max_surge=parse_int_or_percent(settings.max_surge, "max_surge"),
        max_unavailable=parse_int_or_percent(settings.max_unavailable, "max_unavailable"),
        min_ready_seconds=settings.min_ready_seconds,
        progress_deadline_seconds=settings.progress_deadline_seconds,
    )
    check_strategy(deployment, spec_patch)
    return Plan(container["name"], container_patch, spec_patch)


UNCHANGED, RESUME, WRITE = "unchanged", "resume", "write"


def decide(deployment, change, leftover=False):
    """What the run does with a Deployment: nothing, wait for a rollout already written, or write.

    A template that already matches but whose rollout is not complete is taken for this tool's own
    unfinished rollout and waited for (``resume``). This is the one place that decides it.
    """
    if change.changes or leftover:
        return WRITE
    if status.rollout_status(deployment).done:
        return UNCHANGED
    return RESUME


def change_cause(image, env):
    parts = []
    if image:
        parts.append("image=%s" % image)
    for k in sorted(env or {}):
        parts.append("%s=%s" % (k, env[k]))
    return "modelops.serving.model_rollout " + " ".join(parts)


def describe_change(container_patch, spec_patch):
    bits = []
    if container_patch:
        for key in ("image", "env", "args"):
            if key in container_patch:
                value = container_patch[key]
                if key == "env":
                    value = ", ".join("%s=%s" % (e["name"], e.get("value")) for e in value)
                bits.append("%s -> %s" % (key, value))
    for key, value in sorted(spec_patch.items()):
        bits.append("%s -> %s" % (key, value))
    return "; ".join(bits)


def apply_container(template, container_patch):
    """The template with the container patch merged the way the API merges it (by name)."""
    out = copy.deepcopy(template)
    for c in containers(out):
        if c.get("name") != container_patch["name"]:
            continue
        if "image" in container_patch:
            c["image"] = container_patch["image"]
        if "args" in container_patch:
            c["args"] = list(container_patch["args"])
        for entry in container_patch.get("env") or []:
            env = c.setdefault("env", [])
            for item in env:
                if item.get("name") == entry["name"]:
                    item.pop("valueFrom", None)
                    item["value"] = entry["value"]
                    break
            else:
                env.append({"name": entry["name"], "value": entry["value"]})
    return out


def write_time(obj, manager):
    """The server's time of ``manager``'s latest write, from managedFields."""
    times = [m.get("time") for m in (obj.get("metadata") or {}).get("managedFields") or []
             if m.get("manager") == manager and m.get("time")]
    return max(times) if times else None
