# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""modelops.serving.rollout_report writes its files here, on the controller, inside the task.

The report belongs to the controller whatever host the task runs for, and a fleet rewrites it
after every wave: done in place it costs no module process, no transfer and no second import
of matplotlib per wave.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase
from ansible_collections.modelops.serving.plugins.module_utils.report import files


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        _validation, params = self.validate_argument_spec(argument_spec=files.ARGUMENT_SPEC)
        try:
            written = files.write(params)
        except files.ReportError as exc:
            written = dict(exc.result, failed=True, msg=str(exc))
        result.update(written)
        result["changed"] = not result.get("failed")
        if not result["warnings"]:
            del result["warnings"]
        return result
