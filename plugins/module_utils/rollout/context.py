# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a strategy drives a run with, passed explicitly: no strategy reaches into another's parts.

``Context`` holds the API, the settings, the clock, the Lease, the wait loop, the gates, the
progress output and the result being built, and it is the one door for writes: every write of a
run goes through ``write()``, which first makes sure the Lease is still ours (a write for an
object this run created, to remove it, is the one exception) and notes that the run changed
something. After a verdict that forbids further writes (``freeze``), a write is a defect and
raises instead of reaching the cluster.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.modelops.serving.plugins.module_utils.rollout import spec
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import RolloutError


class Context:
    def __init__(self, api, settings, clock, result, loop, lease=None, gates=None, progress=None, cap=None,
                 observer=None):
        self.api = api
        self.settings = settings
        self.namespace = settings.namespace
        self.name = settings.name
        self.clock = clock
        self.result = result
        self.loop = loop
        self.lease = lease
        self.gates = gates
        self.progress = progress or (lambda line: None)
        # The overall cap (the timeout option) for waits until the new version's verdict, or None.
        self.cap = cap
        self.observer = observer or (lambda phase: None)
        self.phase = None
        # Server time of this run's last write to a Deployment (for stale deadline conditions).
        self.written_at = None
        # The pod template of the Deployment this run rolls out and stands behind (as written or
        # found); another hand changing it ends the run with ``superseded``, never a rollback over it.
        self.template = None
        self.frozen = None
        self.t0 = clock.monotonic()

    @property
    def container(self):
        return self.result.container

    def enter(self, phase):
        """Name the phase the run is in; error messages and tests see it, and its time is a duration."""
        self.phase = phase
        self.result.time_phase(phase, self.clock.monotonic())
        self.observer(phase)

    def stands_behind(self, deployment, template):
        """This run now stands behind ``template`` of its own Deployment (written, found, or rolled back to)."""
        if ((deployment or {}).get("metadata") or {}).get("name") == self.name:
            self.template = template

    def standing_template(self, deployment):
        """The template a wait on ``deployment`` must see unchanged: set for this run's own Deployment only."""
        if ((deployment or {}).get("metadata") or {}).get("name") == self.name:
            return self.template
        return None

    def freeze(self, reason):
        """Nothing more may be written: a verdict about the world (paused, stalled, lost Lease)."""
        self.frozen = reason

    # -- reading -----------------------------------------------------------------------------------
    def deployment_path(self, name=None):
        return self.api.deployment_path(self.namespace, name)

    def service_path(self, name):
        return self.api.path("v1", "services", self.namespace, name)

    # -- writing -----------------------------------------------------------------------------------
    def write(self, method, path, body=None, own_object=False, **kwargs):
        """One write to the cluster; ``own_object`` for removing what this run itself created."""
        if self.frozen:
            raise RolloutError("refusing to write %s %s after the verdict %s" % (method, path, self.frozen))
        if not own_object:
            self.loop.keep_lock()
        if method == "PATCH":
            out = self.api.patch(path, body, **kwargs)
        elif method == "POST":
            out = self.api.create(path, body, **kwargs)
        elif method == "DELETE":
            out = self.api.delete(path, **kwargs)
        else:
            raise RolloutError("unknown write %s" % method)
        if not kwargs.get("dry_run"):
            self.result.note_write()
            if method == "PATCH" and "/deployments/" in path and isinstance(out, dict):
                self.written_at = spec.write_time(out, self.api.field_manager) or self.written_at
        return out
