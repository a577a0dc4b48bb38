# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Show model_rollout's progress while it runs, not only at the end.

A module speaks only once, when it returns. When the module runs on the
controller (connection local, the usual way to drive Kubernetes), this action
plugin gives it a progress file and prints each new line as it appears, so a
person watching a twenty-minute GPU rollout sees it move.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile
import threading

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

LOCAL_CONNECTIONS = ("local", "ansible.builtin.local")


class _Tail(threading.Thread):
    def __init__(self, path, prefix):
        super(_Tail, self).__init__(name="model-rollout-progress")
        self.daemon = True
        self.path = path
        self.prefix = prefix
        self.stopping = threading.Event()

    def run(self):
        position = 0
        while True:
            stop = self.stopping.wait(0.25)
            position = self._show_new(position)
            if stop:
                return

    def _show_new(self, position):
        try:
            with open(self.path, "rb") as handle:
                handle.seek(position)
                for line in handle:
                    if not line.endswith(b"\n"):
                        break  # half-written; read it whole next time
                    display.display("%s%s" % (self.prefix, line.decode("utf-8", "replace").rstrip("\n")))
                    position += len(line)
        except OSError:
            pass
        return position


class ActionModule(ActionBase):
    _VALID_ARGS = None

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        tail = None
        owned = None
        connection = getattr(self._connection, "_load_name", None) or getattr(self._connection, "transport", "")
        if connection in LOCAL_CONNECTIONS and not self._task.async_val:
            if not args.get("progress_file"):
                handle, owned = tempfile.mkstemp(prefix="model-rollout-", suffix=".progress")
                os.close(handle)
                args["progress_file"] = owned
            where = "%s/%s" % (args.get("namespace") or "default", args.get("name"))
            host = (task_vars or {}).get("inventory_hostname", "")
            tail = _Tail(args["progress_file"], "  [%s %s] " % (host, where) if host else "  [%s] " % where)
            tail.start()
        try:
            result.update(self._execute_module(module_name="modelops.serving.model_rollout", module_args=args,
                                               task_vars=task_vars))
        finally:
            if tail is not None:
                tail.stopping.set()
                tail.join(5)
            if owned:
                try:
                    os.unlink(owned)
                except OSError:
                    pass
        if owned:
            result.get("invocation", {}).get("module_args", {}).pop("progress_file", None)
        return result
