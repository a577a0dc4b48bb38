# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Show a long-running module's progress while it runs, not only at the end.

A module speaks only once, when it returns. When it runs on the controller (connection local,
the usual way to drive Kubernetes and AWS APIs), an action plugin built on ``ProgressAction``
gives it a progress file and prints each new line as it appears, so a person watching a
twenty-minute GPU rollout sees it move.
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


class Tail(threading.Thread):
    """Prints the whole lines appended to ``path`` until stopped."""

    def __init__(self, path, prefix):
        super(Tail, self).__init__(name="modelops-progress")
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


class ProgressAction(ActionBase):
    """Runs ``MODULE`` with a ``progress_file`` and shows its lines live, prefixed with ``where()``."""

    _VALID_ARGS = None
    MODULE = None

    def where(self, args):
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        result = super(ProgressAction, self).run(tmp, task_vars)
        args = dict(self._task.args)
        tail = None
        owned = None
        connection = getattr(self._connection, "_load_name", None) or getattr(self._connection, "transport", "")
        if connection in LOCAL_CONNECTIONS and not self._task.async_val:
            if not args.get("progress_file"):
                handle, owned = tempfile.mkstemp(prefix="modelops-", suffix=".progress")
                os.close(handle)
                args["progress_file"] = owned
            where = self.where(args)
            host = (task_vars or {}).get("inventory_hostname", "")
            tail = Tail(args["progress_file"], "  [%s %s] " % (host, where) if host else "  [%s] " % where)
            tail.start()
        try:
            result.update(self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars))
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
