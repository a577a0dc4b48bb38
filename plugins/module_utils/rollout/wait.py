# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one wait loop: every phase of a run waits here, and only here.

Rollout, rollback, canary steps, green, gate readiness and smoke, bake and holds all call
``WaitLoop.wait(phase, deployment, judge, ...)``. The loop owns the I/O of waiting:

- the watches (watch.py) of the Deployment, its ReplicaSets and Pods, kept open across phases
  of the same Deployment, so a rollback or a bake does not list again what the rollout saw;
- the Lease: renewed on schedule in every phase, between every two steps of a probe, and judged
  lost from this machine's own clock (lock.py);
- the deadline policy: time without progress, as the controller measures it (``ProgressDeadline``),
  the end of a hold (``HoldUntil``), and the overall cap only when the user set ``timeout``
  (``Cap``);
- the progress output: one timeline point and one line per change of the Deployment's status.

It takes a *judge*: a pure object that looks at a ``View`` (objects as the API returns them, and
the time) and says ``None`` (keep waiting) or an ``Outcome``; and optionally a *probe*, the one
place I/O other than watching happens during a wait (a gate request), run when it is due.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.modelops.serving.plugins.module_utils.rollout import diagnose, status
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import LockLost
from ansible_collections.modelops.serving.plugins.module_utils.rollout.watch import Change, deployment_watches, selector_of

# How long the controller may take to act before we say it does not: past the progress
# deadline, the time it has to write its own ProgressDeadlineExceeded; for a new generation,
# the time it has to observe it (a controller-manager failover takes about 15 to 20 s).
CONTROLLER_GRACE = 30.0
# progressDeadlineSeconds at or above this means "no deadline" to the controller.
NO_DEADLINE = 2147483647
# The loop wakes at least this often even when nothing is scheduled.
MAX_SLEEP = 60.0


class Outcome:
    """How a phase ended: ok, a registered reason when not ok, and a message for a person."""

    def __init__(self, ok, reason, message, evidence=None, view=None):
        self.ok = ok
        self.reason = reason
        self.message = message
        self.evidence = evidence or []
        self.view = view

    def at(self, view):
        if self.view is None:
            self.view = view
        return self

    def __repr__(self):
        return "Outcome(%r, %r, %r)" % (self.ok, self.reason, self.message)


class View:
    """One look at a Deployment and what it owns, with the time of the look."""

    def __init__(self, deployment, replicasets, pods, mono, wall):
        self.deployment = deployment
        self.replicasets = replicasets
        self.pods = pods
        self.mono = mono
        self.wall = wall
        self.new_rs = diagnose.find_new_replicaset(deployment, replicasets) if deployment else None
        self.new_pods = diagnose.pods_of_replicaset(self.new_rs, pods) if self.new_rs else []


def make_view(cache, clock):
    return View(cache.one("deployment"), cache.items("replicaset"), cache.items("pod"), clock.monotonic(),
                clock.wall())


def progress_marker(deployment):
    """What moves when the controller sees progress: its status counts and the Progressing condition."""
    st = deployment.get("status") or {}
    cond = [c for c in st.get("conditions") or [] if c.get("type") == "Progressing"]
    cond = cond[0] if cond else {}
    return (st.get("observedGeneration"), st.get("replicas"), st.get("updatedReplicas"), st.get("readyReplicas"),
            st.get("availableReplicas"), cond.get("reason"), cond.get("lastUpdateTime"))


def _name(deployment):
    meta = (deployment or {}).get("metadata") or {}
    return "%s/%s" % (meta.get("namespace"), meta.get("name"))


class ProgressDeadline:
    """Time without progress, reset by every progress observed: the controller's own measure.

    The controller writes ProgressDeadlineExceeded ``progressDeadlineSeconds`` after the last
    progress (progress.go); a judge reports that verdict. This policy is what happens when the
    controller does not: after the deadline and ``CONTROLLER_GRACE`` more with nothing moving, the
    controller is not doing its work (or we cannot reach the API server), which is no verdict on
    the template.
    """

    def __init__(self, deployment, started, grace=CONTROLLER_GRACE):
        seconds = (deployment.get("spec") or {}).get("progressDeadlineSeconds")
        self.seconds = None if seconds is None or seconds >= NO_DEADLINE else seconds
        self.grace = grace
        self.last_progress = started
        self.marker = None
        self.name = _name(deployment)

    def observe(self, view):
        marker = progress_marker(view.deployment)
        if marker != self.marker:
            self.marker = marker
            self.last_progress = view.mono

    @property
    def at(self):
        if self.seconds is None:
            return None
        return self.last_progress + self.seconds + self.grace

    def expired(self, now):
        return self.at is not None and now >= self.at

    def outcome(self, view, watches):
        quiet = (view.mono if view else self.at) - self.last_progress
        if view is None or not watches.connected:
            return Outcome(False, "api_error", "lost contact with the Kubernetes API server for %.0fs while waiting for "
                           "Deployment %s (%s); nothing more was written" % (quiet, self.name, watches.last_error))
        return Outcome(False, "controller_stalled", stalled_message(view.deployment, quiet, self.seconds))


def stalled_message(deployment, quiet, deadline):
    st = deployment.get("status") or {}
    meta = deployment.get("metadata") or {}
    cond = [c for c in st.get("conditions") or [] if c.get("type") == "Progressing"]
    cond_text = ("; Progressing: %s since %s" % (cond[0].get("reason"), cond[0].get("lastUpdateTime"))) if cond else ""
    return ("kube-controller-manager has not acted on Deployment %s for %.0fs: its status has not moved "
            "(observedGeneration %s of generation %s%s) and its progress deadline of %ss passed without the "
            "controller's own ProgressDeadlineExceeded. That is no verdict on the new template: nothing more was "
            "written. Check kube-controller-manager; running the same task again resumes the wait"
            % (_name(deployment), quiet, st.get("observedGeneration"), meta.get("generation"), cond_text, deadline))


class HoldUntil:
    """A hold ends well at its end."""

    def __init__(self, phase, end, seconds, what):
        self.phase = phase
        self.at = end
        self.seconds = seconds
        self.what = what

    def observe(self, view):
        pass

    def expired(self, now):
        return now >= self.at

    def outcome(self, view, watches):
        return Outcome(True, "held", "%s: %s held for %ss" % (self.phase, self.what, self.seconds))


class Cap:
    """The overall cap the user set with ``timeout``: from the start of the run to the new version's verdict."""

    def __init__(self, started, seconds):
        self.seconds = seconds
        self.at = started + seconds

    def observe(self, view):
        pass

    def expired(self, now):
        return now >= self.at

    def outcome(self, view, watches):
        where = ""
        if view is not None and view.deployment is not None:
            where = " (%s)" % status.rollout_status(view.deployment).message
        return Outcome(False, "timeout", "no verdict within timeout=%ss, the overall cap set for this run%s"
                       % (self.seconds, where))


class Quiet:
    """A judge that never ends a wait by itself (a probe or a policy does)."""

    def judge(self, view):
        return None

    def wake(self, view):
        return None


class WaitLoop:
    """Waits for every phase of one run. ``record(phase, view)`` keeps the timeline."""

    def __init__(self, api, clock, lease=None, progress=None, record=None, watches=deployment_watches):
        self.api = api
        self.clock = clock
        self.lease = lease
        self.progress = progress or (lambda line: None)
        self.record = record or (lambda phase, view: None)
        self._watch_factory = watches
        self._sets = {}
        self.disconnects = 0
        self.stats = {}

    # -- watches ---------------------------------------------------------------------------------
    def watches(self, deployment):
        meta = deployment.get("metadata") or {}
        key = (meta.get("namespace"), meta.get("name"), selector_of(deployment))
        ws = self._sets.get(key)
        if ws is None:
            ws = self._watch_factory(self.api, deployment)
            ws.start()
            self._sets[key] = ws
        return ws

    def forget(self, deployment):
        """Stop watching a Deployment this run is done with (a removed canary or green)."""
        meta = deployment.get("metadata") or {}
        for key in [k for k in self._sets if k[:2] == (meta.get("namespace"), meta.get("name"))]:
            self._stop(key)

    def _stop(self, key):
        ws = self._sets.pop(key)
        ws.stop()
        # Per Deployment watched, per kind: lists, watches and reconnects over the whole run.
        mine = self.stats.setdefault(key[1], {})
        for kind, counts in ws.stats().items():
            into = mine.setdefault(kind, {})
            for name, value in counts.items():
                into[name] = into.get(name, 0) + value

    def close(self):
        for key in list(self._sets):
            self._stop(key)

    # -- the Lease ---------------------------------------------------------------------------------
    def keep_lock(self, now=None):
        """Renew the Lease when due; LockLost when it may no longer be ours. Call between blocking steps."""
        if self.lease is None:
            return
        now = self.clock.monotonic() if now is None else now
        if self.lease.due(now):
            self.lease.renew()
        self.lease.check(self.clock.monotonic())

    # -- waiting -----------------------------------------------------------------------------------
    def wait(self, phase, deployment, judge, deadline=None, cap=None, probe=None):
        """Wait on ``deployment`` until ``judge``, ``probe``, ``deadline`` or ``cap`` ends the phase."""
        ws = self.watches(deployment)
        policies = [p for p in (deadline, cap) if p is not None]
        while True:
            now = self.clock.monotonic()
            try:
                self.keep_lock(now)
            except LockLost as exc:
                return Outcome(False, "lock_lost", str(exc))
            for change in ws.drain():
                self._note(phase, change)
            view = None
            if ws.all_synced:
                view = make_view(ws.cache, self.clock)
                if view.deployment is None:
                    return Outcome(False, "deployment_deleted", "Deployment %s was deleted during the %s"
                                   % (_name(deployment), phase))
                for policy in policies:
                    policy.observe(view)
                self.record(phase, view)
                outcome = judge.judge(view)
                if outcome is not None:
                    return outcome.at(view)
            if probe is not None and probe.due <= now:
                outcome = probe.run(view)
                if outcome is not None:
                    return outcome.at(view)
                continue
            for policy in policies:
                if policy.expired(now):
                    return policy.outcome(view, ws).at(view)
            change = ws.next_change(self._timeout(now, view, judge, probe, policies))
            if change is not None:
                self._note(phase, change)

    def sleep(self, phase, deployment, seconds):
        """Hold still for ``seconds`` (watching, renewing); an Outcome only when something ended the run."""
        end = self.clock.monotonic() + seconds
        outcome = self.wait(phase, deployment, Quiet(), deadline=HoldUntil(phase, end, seconds, "the wait"))
        return None if outcome.ok else outcome

    def _timeout(self, now, view, judge, probe, policies):
        wakes = [now + MAX_SLEEP]
        if self.lease is not None and self.lease.next_renewal is not None:
            wakes.append(self.lease.next_renewal)
        if view is not None:
            wakes.append(judge.wake(view))
        if probe is not None:
            wakes.append(probe.due)
        wakes.extend(p.at for p in policies)
        return max(min(w for w in wakes if w is not None) - now, 0.0)

    def _note(self, phase, change):
        if change.what == Change.LOST:
            self.disconnects += 1
            self.progress("%s: lost the %s watch (%s); resuming" % (phase, change.kind, change.error))
