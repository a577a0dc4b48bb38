# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run of model_rollout, from the request to the verdict, never a traceback.

The path: read and validate (nothing is written if anything is wrong), decide (nothing to do,
resume an unfinished rollout, or write), take the Lease, then let the strategy drive its phases
(phases.py) through the one wait loop (wait.py) to a verdict. ``run`` catches everything: an
error of any class, in any phase, ends in the full result (result.py) with a registered reason,
after the strategy removed what it created and said what is left.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.modelops.serving.plugins.module_utils.rollout import phases, spec, status
from ansible_collections.modelops.serving.plugins.module_utils.rollout.clock import Clock
from ansible_collections.modelops.serving.plugins.module_utils.rollout.context import Context
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import InputError
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError
from ansible_collections.modelops.serving.plugins.module_utils.rollout.lock import RolloutLock
from ansible_collections.modelops.serving.plugins.module_utils.rollout.result import Result, snapshot
from ansible_collections.modelops.serving.plugins.module_utils.rollout.strategies import STRATEGIES
from ansible_collections.modelops.serving.plugins.module_utils.rollout.wait import Cap, WaitLoop
from ansible_collections.modelops.serving.plugins.module_utils.rollout.watch import deployment_watches


def run(api, settings, check_mode=False, progress=None, clock=None, gates=None, observer=None,
        watches=deployment_watches):
    """Run model_rollout for ``settings`` against ``api``; always returns the full result dict.

    ``observer(phase)`` is told every phase the run enters; ``watches`` builds the watches of a
    Deployment (tests give their own).
    """
    clock = clock or Clock()
    progress = progress or (lambda line: None)
    result = Result(settings.namespace, settings.name, settings.container)
    lease = RolloutLock(api, settings.namespace, settings.name, clock, identity=settings.lock_identity,
                        ttl_seconds=settings.lock_ttl_seconds, progress=progress)
    ctx = Context(api, settings, clock, result, loop=None, lease=None, gates=gates, progress=progress,
                  cap=Cap(clock.monotonic(), settings.timeout) if settings.timeout else None, observer=observer)
    ctx.loop = WaitLoop(api, clock, lease=None, progress=progress, record=_recorder(ctx), watches=watches)
    strategy = STRATEGIES[settings.strategy](ctx)
    try:
        _run(ctx, strategy, lease, check_mode)
    except Exception as exc:  # every error, of any class, ends in the result contract
        result.fail(exc, ctx.phase, host=_host(api), left=_abort(strategy))
        _refresh_current(ctx)
    finally:
        _close(ctx, lease)
    now = clock.monotonic()
    result.time_phase(None, now)
    return result.build(total=now - ctx.t0)


def _run(ctx, strategy, lease, check_mode):
    result = ctx.result
    ctx.enter("read")
    deployment = phases.read_deployment(ctx, first=True)
    ctx.enter("plan")
    change = phases.plan(ctx, deployment)
    result.container = change.container
    result.set_previous(deployment)
    result.set_current(deployment)
    decision = spec.decide(deployment, change, strategy.leftover())
    if decision == spec.UNCHANGED:
        result.end("unchanged", "up_to_date", "Deployment %s/%s already runs the requested template"
                   % (ctx.namespace, ctx.name))
        return
    if decision != spec.RESUME and check_mode:
        _preview(ctx, deployment, change)
        return
    phases.refuse_if_paused(ctx, deployment)
    zero = _zero_replicas(ctx, deployment, change)
    if check_mode:
        result.end("unchanged", "up_to_date", "a rollout to this template is in progress; check mode does not wait "
                   "for it")
        return
    ctx.enter("lock")
    lease.acquire()
    ctx.lease = ctx.loop.lease = lease
    result.lock = {"lease": lease.name, "holder": lease.identity}
    strategy.drive(deployment, change, decision)
    if zero and result.verdict == "complete":
        result.message += ("; the Deployment has 0 replicas: no pod runs the new template yet and nothing was judged "
                           "or gated (allow_zero_replicas)")


def _zero_replicas(ctx, deployment, change):
    """True for a change of a Deployment at 0 replicas, which only allow_zero_replicas lets through."""
    if (deployment.get("spec") or {}).get("replicas", 1) != 0 or not change.container_patch:
        return False
    if not ctx.settings.allow_zero_replicas:
        raise InputError("Deployment %s/%s has 0 replicas: no pod would run the new template, so the change could "
                         "not be judged and nothing was written (playbooks/rollout.yml refuses it the same way). Scale "
                         "it up first, or set allow_zero_replicas: true to write the template alone"
                         % (ctx.namespace, ctx.name))
    return True


def _preview(ctx, deployment, change):
    """Check mode: the change as a server-side dry run, before and after, nothing written."""
    ctx.enter("preview")
    body = spec.build_patch(deployment, change.container_patch, change.spec_patch,
                            spec.change_cause(ctx.settings.image, ctx.settings.env, ctx.settings.env_absent))
    try:
        would = ctx.api.patch(ctx.deployment_path(ctx.name), body, dry_run=True)
    except KubeError as exc:
        if exc.status in (400, 422):
            raise InputError("the API server would reject the change to Deployment %s/%s: %s"
                             % (ctx.namespace, ctx.name, exc))
        raise
    result = ctx.result
    before, after = snapshot(deployment, result.container), snapshot(would, result.container)
    result.set_current(would)
    result.changed = True
    result.extra["diff"] = {"before": before, "after": after}
    result.end("pending", "check_mode", "would roll Deployment %s/%s: %s" % (
        ctx.namespace, ctx.name, spec.describe_change(change.container_patch, change.spec_patch)))


def _recorder(ctx):
    """The timeline: one point per change of a Deployment's status, once its generation is observed."""
    last = {}

    def record(phase, view):
        deployment = view.deployment
        meta, st = deployment.get("metadata") or {}, deployment.get("status") or {}
        if (st.get("observedGeneration") or 0) < (meta.get("generation") or 0):
            return
        point = status.progress(deployment)
        key = meta.get("name")
        if last.get(key) == point:
            return
        last[key] = point
        entry = {"t": round(ctx.clock.monotonic() - ctx.t0, 3), "phase": phase}
        entry.update(point)
        ctx.result.timeline.append(entry)
        ctx.progress("%s: %d/%d updated, %d ready, %d available, %d unavailable" % (
            phase, point["updated"], point["desired"], point["ready"], point["available"], point["unavailable"]))

    return record


def _refresh_current(ctx):
    """After an error, ``current`` says what the Deployment runs now, when this run changed it."""
    if not ctx.result.changed:
        return
    try:
        ctx.result.set_current(ctx.api.get(ctx.deployment_path(ctx.name)))
    except Exception:  # the API may be what failed; the result stands without it
        pass


def _abort(strategy):
    try:
        return strategy.abort()
    except Exception as exc:  # the verdict must survive a failed cleanup
        return "cleaning up failed too (%s)" % exc


def _close(ctx, lease):
    for close in (ctx.loop.close, lease.release):
        try:
            close()
        except Exception:  # an expiring Lease or a closed watch never masks the verdict
            pass
    api = ctx.api
    ctx.result.api = {"requests": getattr(api, "requests", 0), "watch_disconnects": ctx.loop.disconnects,
                      "watches": ctx.loop.stats}


def _host(api):
    try:
        return api.host
    except Exception:  # a test double or a half-built client
        return None
