# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""model_rollout's options: the argument spec (the only place defaults live) and the settings read from it.

``Settings(params)`` takes the module's parameters once, after Ansible applied the spec's defaults,
checks what the spec cannot express (ranges, combinations), and is what the engine reads from then
on. Nothing else in the engine knows a default.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.modelops.serving.plugins.module_utils.eks.client import EKS_ARG_SPEC
from ansible_collections.modelops.serving.plugins.module_utils.rollout import diagnose
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import InputError
from ansible_collections.modelops.serving.plugins.module_utils.rollout.gates import GATES_ARG_SPEC

STRATEGY_NAMES = ("rolling", "canary", "blue_green")

OPTIONS = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", default="default"),
    container=dict(type="str"),
    image=dict(type="str"),
    env=dict(type="dict"),
    env_absent=dict(type="list", elements="str"),
    args=dict(type="list", elements="str"),
    max_surge=dict(type="raw"),
    max_unavailable=dict(type="raw"),
    min_ready_seconds=dict(type="int"),
    progress_deadline_seconds=dict(type="int"),
    on_failure=dict(type="str", default="rollback", choices=["rollback", "pause", "fail"]),
    allow_zero_replicas=dict(type="bool", default=False),
    timeout=dict(type="int"),
    crash_loop_restarts=dict(type="int", default=2),
    fail_on_image_pull=dict(type="bool", default=True),
    unschedulable_seconds=dict(type="int", default=30),
    ready_flap_transitions=dict(type="int", default=3),
    not_ready_seconds=dict(type="int"),
    log_lines=dict(type="int", default=20),
    lock_ttl_seconds=dict(type="int", default=120),
    lock_identity=dict(type="str"),
    progress_file=dict(type="path"),
    strategy=dict(type="str", default="rolling", choices=list(STRATEGY_NAMES)),
    canary_steps=dict(type="list", elements="int", default=[10, 25, 50]),
    canary_pause_seconds=dict(type="int", default=0),
    service=dict(type="str"),
    rollback_window_seconds=dict(type="int", default=0),
    eks=dict(type="dict", options=EKS_ARG_SPEC),
    gates=dict(type="dict", options=GATES_ARG_SPEC),
)

MUTUALLY_EXCLUSIVE = [("eks", "kubeconfig"), ("eks", "host"), ("eks", "context")]

# Lower bounds the spec's types cannot say.
_MINIMUMS = (
    ("min_ready_seconds", 0), ("progress_deadline_seconds", 1), ("timeout", 1), ("crash_loop_restarts", 1),
    ("unschedulable_seconds", 0), ("ready_flap_transitions", 1), ("not_ready_seconds", 1), ("log_lines", 0),
    ("lock_ttl_seconds", 5), ("canary_pause_seconds", 0), ("rollback_window_seconds", 0),
)


def argument_spec(auth_spec):
    """The whole spec of model_rollout: the connection options of kubernetes.core, then ours."""
    spec = copy.deepcopy(auth_spec)
    spec.update(copy.deepcopy(OPTIONS))
    return spec


def with_defaults(params, spec=None):
    """``params`` completed with the spec's defaults, suboptions included, as Ansible completes them."""
    spec = OPTIONS if spec is None else spec
    out = {}
    for key, rule in spec.items():
        value = params.get(key, copy.deepcopy(rule.get("default")))
        if isinstance(value, dict) and rule.get("options"):
            value = with_defaults(value, rule["options"])
        out[key] = value
    for key, value in params.items():
        out.setdefault(key, value)
    return out


class Settings:
    """Every model_rollout option, read once from the module's parameters."""

    def __init__(self, params):
        missing = sorted(k for k in OPTIONS if k not in params)
        if missing:
            # Only a caller that bypassed the argument spec gets here.
            raise InputError("settings lack %s: build them from the module's argument spec" % ", ".join(missing))
        for key in OPTIONS:
            setattr(self, key, copy.deepcopy(params[key]))
        self.env = _env_as_strings(self.env)
        self.canary_steps = list(self.canary_steps or [])
        _check(self)

    @property
    def thresholds(self):
        return diagnose.Thresholds(
            crash_restarts=self.crash_loop_restarts,
            image_pull_failures=1 if self.fail_on_image_pull else None,
            unschedulable_seconds=self.unschedulable_seconds,
            flap_transitions=self.ready_flap_transitions,
            not_ready_seconds=self.not_ready_seconds,
        )

    @property
    def longest_request(self):
        """The longest a single gate request may block the run (seconds), or 0 without gates."""
        gates = self.gates or {}
        times = [gates.get("timeout") or 0]
        times.append((gates.get("smoke") or {}).get("timeout") or 0)
        times.append((gates.get("prometheus") or {}).get("timeout") or 0)
        return max(times) if gates else 0


def _env_as_strings(env):
    if not env:
        return env
    return dict((str(k), "" if v is None else str(v)) for k, v in env.items())


def _check(s):
    for name, minimum in _MINIMUMS:
        value = getattr(s, name)
        if value is not None and value < minimum:
            raise InputError("%s must be at least %d (got %d)" % (name, minimum, value))
    if s.strategy == "canary":
        steps = s.canary_steps
        if not steps or any(not 0 < v <= 100 for v in steps) or steps != sorted(set(steps)):
            raise InputError("canary_steps must be increasing percentages between 1 and 100, got %s" % steps)
    if s.strategy == "blue_green" and not s.service:
        raise InputError("strategy blue_green needs service: the Service whose selector switches colours")
    # The wait loop renews the Lease between requests; one request must not outlast half its life.
    if s.longest_request and s.longest_request * 2 > s.lock_ttl_seconds:
        raise InputError("a gate request may take %ss (gates timeouts), longer than half of lock_ttl_seconds (%s): "
                         "raise lock_ttl_seconds or lower the gate timeouts" % (s.longest_request, s.lock_ttl_seconds))
