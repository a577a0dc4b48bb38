# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Show model_rollout's progress while it runs, not only at the end (see plugin_utils/progress.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.modelops.serving.plugins.plugin_utils.progress import ProgressAction


class ActionModule(ProgressAction):
    MODULE = "modelops.serving.model_rollout"

    def where(self, args):
        return "%s/%s" % (args.get("namespace") or "default", args.get("name"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        hide_env_values(result.get("invocation", {}).get("module_args", {}))
        return result


def hide_env_values(module_args):
    """The invocation echoes the task's args into every failed or verbose task output: env by name only.

    ``no_log`` on ``env`` would mask every occurrence of each value in the whole result (a value
    of "2" would blank every revision 2), so the names stay and the values go here.
    """
    env = module_args.get("env")
    if isinstance(env, dict):
        module_args["env"] = dict((name, "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER") for name in env)
