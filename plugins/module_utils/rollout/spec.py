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

from ansible_collections.modelops.serving.plugins.module_utils.rollout import record, status

ANNOTATION = record.ANNOTATION
TARGET = ANNOTATION + "target"
ROLLED_BACK_FROM = record.ROLLED_BACK_FROM
CHANGE_CAUSE = record.CHANGE_CAUSE
REVISION = record.REVISION

# The distribution reference grammar (github.com/distribution/reference), which container runtimes
# parse: [domain[:port]/]path[:tag][@digest], the name (domain and path) at most 255 characters.
NAME_MAX = 255
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = r"(?:%s(?:\.%s)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?" % (_DOMAIN_PART, _DOMAIN_PART)
_IMAGE_RE = re.compile(
    r"^(?P<name>(?:%s/)?%s(?:/%s)*)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[^@]*))?$"
    % (_DOMAIN, _COMPONENT, _COMPONENT)
)
_DIGEST_RE = re.compile(r"^(?P<algorithm>[a-z0-9]+(?:[+._-][a-z0-9]+)*):(?P<encoded>[a-zA-Z0-9=_-]+)$")
# The algorithms runtimes verify (github.com/opencontainers/go-digest), with their hex lengths.
DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}
_ENV_NAME_RE = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class SpecError(ValueError):
    """The requested change is invalid; the message says what to fix."""


def check_image(image):
    if not isinstance(image, str) or not image:
        raise SpecError("image must be a non-empty container image reference such as 'registry.example.com/team/model:v2'")
    match = _IMAGE_RE.match(image)
    if not match:
        raise SpecError(
            "image %r is not a valid image reference: expected [registry[:port]/]repository[:tag][@digest] "
            "with a lowercase repository, e.g. 'registry.example.com/team/model:v2'" % image
        )
    if len(match.group("name")) > NAME_MAX:
        raise SpecError("image %r: the repository name is %d characters long, at most %d are allowed"
                        % (image[:64] + "...", len(match.group("name")), NAME_MAX))
    if match.group("digest") is not None:
        check_digest(image, match.group("digest"))
    return image


def check_digest(image, digest):
    """A digest the runtime can verify: a known algorithm and exactly its length of lowercase hex."""
    match = _DIGEST_RE.match(digest)
    if not match:
        raise SpecError("image %r: digest %r is not <algorithm>:<hex>, e.g. 'sha256:' followed by 64 lowercase "
                        "hex digits" % (image, digest))
    algorithm, encoded = match.group("algorithm"), match.group("encoded")
    length = DIGEST_HEX.get(algorithm)
    if length is None:
        raise SpecError("image %r: digest algorithm %r is not one runtimes verify (%s)"
                        % (image, algorithm, ", ".join(sorted(DIGEST_HEX))))
    if len(encoded) != length or not re.match(r"^[a-f0-9]+$", encoded):
        raise SpecError("image %r: a %s digest is exactly %d lowercase hex digits, got %d character(s)%s"
                        % (image, algorithm, length, len(encoded),
                           "" if re.match(r"^[a-f0-9]*$", encoded) else " that are not all lowercase hex"))


def check_env(env, absent=None):
    for name in list(env or {}) + list(absent or []):
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


def container_changes(container, image=None, env=None, args=None, env_absent=None):
    """The container patch (name plus changed fields), or None when it already matches.

    ``env_absent`` names variables to remove: a strategic merge ``$patch: delete`` entry each,
    which removes the variable whoever set it (a merge alone never removes one).
    """
    patch = {"name": container["name"]}
    if image is not None and container.get("image") != image:
        patch["image"] = image
    current = _env_map(container)
    entries = []
    for name in sorted(set(env_absent or []) - set(env or {})):
        if name in current:
            entries.append({"name": name, "$patch": "delete"})
    if entries:
        patch["env"] = entries
    if env:
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
    spec = deployment.get("spec") or {}
    rolling = dict(((spec.get("strategy") or {}).get("rollingUpdate")) or {})
    rolling.update(((spec_patch.get("strategy") or {}).get("rollingUpdate")) or {})
    # A knob the object leaves out is the API's default (25%), never 0: only knobs set to 0 can stall.
    surge, unavailable = rolling.get("maxSurge"), rolling.get("maxUnavailable")
    if str(surge) in ("0", "0%") and str(unavailable) in ("0", "0%"):
        raise SpecError("max_surge and max_unavailable cannot both be 0: the rollout could never make progress")
    try:
        # The API bounds maxUnavailable alone (at 100%); surge values here passed parse_int_or_percent or the
        # API already, and the replica count changes nothing of what is refused.
        status.resolve_fenceposts(None, unavailable, None)
    except ValueError as exc:
        raise SpecError(str(exc))
    min_ready = spec_patch.get("minReadySeconds", spec.get("minReadySeconds", 0))
    deadline = spec_patch.get("progressDeadlineSeconds", spec.get("progressDeadlineSeconds", 600))
    if deadline <= min_ready:
        raise SpecError("progress_deadline_seconds (%d) must be greater than min_ready_seconds (%d)"
                        % (deadline, min_ready))


def target_record(container_name, image, env, args):
    return json.dumps({"container": container_name, "image": image, "env": env or {}, "args": args},
                      sort_keys=True, separators=(",", ":"))


def build_patch(deployment, container_patch, spec_patch, change_cause, recorded=None):
    """The strategic merge patch for the change; ``recorded`` are the record annotations (record.py)."""
    meta = deployment.get("metadata") or {}
    annotations = {}
    spec = dict(spec_patch)
    if container_patch:
        annotations.update(recorded or {})
        annotations[CHANGE_CAUSE] = change_cause
        spec["template"] = {"spec": {"containers": [container_patch]}}
    body = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "spec": spec}
    if annotations:
        body["metadata"]["annotations"] = annotations
    return body


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
    check_env(settings.env, settings.env_absent)
    container = pick_container(deployment, settings.container)
    container_patch = container_changes(container, image=settings.image, env=settings.env, args=settings.args,
                                        env_absent=settings.env_absent)
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

    A template that already matches and is serving (its rollout complete, however it was scaled
    since: Pending pods after a scale-up are no rollout) is ``unchanged``. A template that matches
    but whose rollout never completed is waited for (``resume``); whether it is this module's own
    rollout, and so which template a failure goes back to, record.py decides. This is the one place
    that decides what a run does.
    """
    if change.changes or leftover:
        return WRITE
    if record.serving(deployment):
        return UNCHANGED
    return RESUME


def change_cause(image, env, absent=None):
    """kubectl rollout history's label of the change; env by name only (values may be secrets)."""
    parts = []
    if image:
        parts.append("image=%s" % image)
    names = sorted(env or {}) + ["-" + name for name in sorted(set(absent or []) - set(env or {}))]
    if names:
        parts.append("env=%s" % ",".join(names))
    return "modelops.serving.model_rollout " + " ".join(parts)


def describe_change(container_patch, spec_patch):
    bits = []
    if container_patch:
        for key in ("image", "env", "args"):
            if key in container_patch:
                value = container_patch[key]
                if key == "env":
                    # Names only: progress lines and messages land in job logs, values may be secrets.
                    value = ", ".join(("-" if e.get("$patch") == "delete" else "") + e["name"] for e in value)
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
            if entry.get("$patch") == "delete":
                c["env"] = [item for item in env if item.get("name") != entry["name"]]
                continue
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
