# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one result builder: every exit of a run, expected or not, becomes the full result contract.

The contract's keys are always present: ``changed, verdict, reason, message, previous, current,
rolled_back_to, diagnostics, timeline, durations`` (plus ``namespace, name, container, resumed,
gates, api, lock``). The verdict and reason are checked against reasons.REASONS when they are set,
and an exception, whatever its class, is turned into a registered reason by ``fail``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible_collections.modelops.serving.plugins.module_utils.rollout import reasons, spec
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import RolloutError
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError, explain

DURATIONS = ("change", "rollout", "gate", "rollback", "total")

# Which duration a phase's time adds to. Reading, planning, taking the Lease, the preflight and
# check mode's preview count in ``total`` only. The waits for the new version (every canary step,
# green, and the holds between them) are the rollout; a failure's answer (diagnostics, the rollback
# or the pause, a failed canary or green removed and the Service switched back) is the rollback.
PHASE_DURATIONS = {
    "change": "change", "canary": "change", "switch": "change", "cleanup": "change",
    "rollout": "rollout", "green": "rollout", "hold": "rollout", "rollback window": "rollout",
    "gate": "gate", "bake": "gate",
    "diagnose": "rollback", "pause": "rollback", "rollback": "rollback",
}


def duration_of(phase):
    """The duration key a phase's time lands in, or None for time counted in ``total`` only."""
    if phase and phase.startswith("canary step "):
        return "rollout"
    return PHASE_DURATIONS.get(phase)


def empty_version():
    return {"revision": None, "image": None}


def snapshot(deployment, container):
    """Revision, image, strategy and generation of a Deployment, for previous/current/diff."""
    return {
        "revision": spec.revision_of(deployment),
        "image": spec.image_of(deployment, container) if container else None,
        "strategy": spec.strategy_summary(deployment),
        "generation": (deployment.get("metadata") or {}).get("generation"),
    }


def error_reason(exc, phase, host=None):
    """(reason, message) for an exception that ended a run during ``phase``."""
    where = " (during %s)" % phase if phase else ""
    if isinstance(exc, RolloutError):
        return exc.reason, str(exc)
    if isinstance(exc, spec.SpecError):
        return "invalid_input", str(exc)
    if isinstance(exc, KubeError):
        return "api_error", explain(exc, host or "(the configured cluster)") + where
    frames = traceback.extract_tb(exc.__traceback__)
    at = ""
    if frames:
        last = frames[-1]
        at = " at %s:%d" % (last.filename.rsplit("/", 1)[-1], last.lineno)
    return "internal_error", "unexpected %s%s%s: %s" % (exc.__class__.__name__, where, at, exc)


class Result:
    """What one run of model_rollout reports, built up as it goes."""

    def __init__(self, namespace, name, container=None):
        self.namespace = namespace
        self.name = name
        self.container = container
        self.changed = False
        self.verdict = None
        self.reason = None
        self.message = None
        self.previous = empty_version()
        self.current = dict(empty_version(), strategy=None)
        self.rolled_back_to = None
        self.diagnostics = []
        self.timeline = []
        self.durations = dict((k, 0.0) for k in DURATIONS)
        # The phase being timed and when it began (monotonic seconds).
        self._timing = (None, None)
        self.resumed = False
        self.gates = []
        self.lock = None
        self.api = {"requests": 0, "watch_disconnects": 0, "watches": {}}
        self.extra = {}

    # -- as the run goes -------------------------------------------------------------------------
    def set_previous(self, deployment):
        snap = snapshot(deployment, self.container)
        self.previous = {"revision": snap["revision"], "image": snap["image"]}

    def set_current(self, deployment):
        snap = snapshot(deployment, self.container)
        self.current = {"revision": snap["revision"], "image": snap["image"], "strategy": snap["strategy"]}

    def note_write(self):
        self.changed = True

    def time_phase(self, phase, now):
        """The run enters ``phase`` at ``now``: the phase it leaves adds its time to its duration.

        Phases follow one another and never nest, so each second of the run lands in at most one
        duration; ``phase=None`` closes the last one.
        """
        previous, since = self._timing
        key = duration_of(previous)
        if key is not None:
            self.durations[key] += now - since
        self._timing = (phase, now)

    def end(self, verdict, reason, message):
        reasons.check(verdict, reason)
        self.verdict, self.reason, self.message = verdict, reason, message

    @property
    def ended(self):
        return self.verdict is not None

    def fail(self, exc, phase, host=None, left=None):
        """End the run on an exception: its registered reason, and what it left behind."""
        reason, message = error_reason(exc, phase, host)
        if left:
            message = "%s; %s" % (message, left)
        self.end(reasons.REASONS[reason].verdicts[0], reason, message)

    # -- the contract ----------------------------------------------------------------------------
    def build(self, total=None):
        if total is not None:
            self.durations["total"] = total
        if not self.ended:
            # A path that forgot its verdict is a defect; it still ends in the contract.
            self.end("failed", "internal_error", "the run ended without a verdict")
        out = {
            "changed": bool(self.changed),
            "verdict": self.verdict,
            "reason": self.reason,
            "message": self.message,
            "namespace": self.namespace,
            "name": self.name,
            "container": self.container,
            "previous": dict(self.previous),
            "current": dict(self.current),
            "rolled_back_to": self.rolled_back_to,
            "diagnostics": list(self.diagnostics),
            "timeline": list(self.timeline),
            "durations": dict((k, round(v, 3)) for k, v in self.durations.items()),
            "resumed": bool(self.resumed),
            "gates": list(self.gates),
            "api": dict(self.api),
            "lock": self.lock,
        }
        out.update(self.extra)
        return out
