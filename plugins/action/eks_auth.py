# -*- coding: utf-8 -*-
# Copyright (c) modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Runs modelops.serving.eks_auth and marks its whole result no_log.

A module cannot do this itself: Ansible strips ``_ansible_no_log`` from module returns, and
putting the token into ``no_log_values`` would mask it in the registered variable too, which
would make it useless. Marking the result here censors it in every callback (``-vvv`` included)
while the registered variable keeps the real token.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        result.update(self._execute_module(module_name="modelops.serving.eks_auth", task_vars=task_vars))
        # Errors carry no token and must stay readable.
        if not result.get("failed"):
            result["_ansible_no_log"] = True
        return result
