# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""modelops.serving.fleet_check runs here, on the controller, for a whole wave at once.

Run as a module per cluster, the check would start one Python process and import the
kubernetes client once per cluster; here it is one thread per cluster inside the task. It
never connects to the hosts themselves: every cluster is reached through its API from the
controller, as model_rollout reaches it with ``connection: local``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.plugins.action import ActionBase
from ansible_collections.modelops.serving.plugins.module_utils.fleet import check

try:
    # Ansible loads this plugin once per run in its own process, before it forks the task's workers:
    # imported here, the client comes with every wave's worker instead of being imported by each.
    import kubernetes.client  # noqa: F401  pylint: disable=unused-import
except ImportError:  # said in the task's result, where it is needed
    pass


def _scrub(value, secrets):
    """``value`` with every secret replaced, in case an error message quoted one."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "********")
        return value
    if isinstance(value, dict):
        return dict((k, _scrub(v, secrets)) for k, v in value.items())
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    return value


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        validation, params = self.validate_argument_spec(argument_spec=check.ARGUMENT_SPEC)
        secrets = [v for v in getattr(validation, "_no_log_values", ()) if isinstance(v, str) and v]
        for entry in params["clusters"]:
            kubeconfig = (entry.get("connection") or {}).get("kubeconfig")
            if isinstance(kubeconfig, str):
                entry["connection"]["kubeconfig"] = os.path.expanduser(kubeconfig)
        try:
            outcome = check.run(params)
        except ImportError as exc:
            result.update(failed=True, msg="fleet_check needs the kubernetes Python package where ansible-playbook "
                                           "runs: %s" % exc)
            return result
        result.update(_scrub(outcome, secrets))
        result["changed"] = False
        forks = (task_vars or {}).get("ansible_forks")
        if isinstance(forks, int) and len(params["clusters"]) > forks:
            # Said where people look: a wave wider than forks is not rolled at once.
            result["warnings"] = ["%d clusters in this wave and forks is %d: at most %d roll at once, the others "
                                  "wait for a free fork. Raise --forks (or the AWX job template's forks) to roll "
                                  "them together." % (len(params["clusters"]), forks, forks)]
        if not outcome["ok"]:
            result["failed"] = True
            result["msg"] = _scrub("; ".join("%s: %s" % (name, outcome["clusters"][name]["message"])
                                             for name in outcome["failed_clusters"]), secrets)
        return result
