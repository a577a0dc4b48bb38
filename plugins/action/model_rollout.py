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
