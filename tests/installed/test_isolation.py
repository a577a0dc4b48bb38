"""The installed-collection runs reach nothing of the checkout.

A tarball with two planted plugins, a module that imports the test ground and an action plugin
that imports the tests' helpers, is installed like the real one: under the harness both fail
to import; with the checkout put on PYTHONPATH (what a leaky run would have) both work, so the
failure is the harness's isolation and not a broken plant.
"""

import os
import subprocess

import pytest
import yaml

from tests.installed import harness
from testground.collection import REPO_ROOT

LEAK_MODULE = '''#!/usr/bin/python
# -*- coding: utf-8 -*-
DOCUMENTATION = r"""
module: leak_module
short_description: Imports the test ground (planted by tests/installed/test_isolation.py)
description: [Never shipped.]
author: [modelops.serving maintainers]
options: {}
"""
from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={})
    import testground.collection
    module.exit_json(changed=False, reached=testground.collection.REPO_ROOT)


if __name__ == "__main__":
    main()
'''

LEAK_ACTION = '''# -*- coding: utf-8 -*-
from ansible.plugins.action import ActionBase

import tests.helpers


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        return {"changed": False, "reached": tests.helpers.__file__}
'''


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    """The newest claim's venv with a collection that carries the two planted plugins."""
    from tests.helpers import claims

    venv = harness.ClaimVenv("newest", claims.sets()["newest"]).ensure()
    base = tmp_path_factory.mktemp("leaky")
    source = harness.copy_source(str(base / "src"), plant={
        "plugins/modules/leak_module.py": LEAK_MODULE, "plugins/action/leak_action.py": LEAK_ACTION})
    tarball = harness.build(source, str(base / "dist"))
    return harness.Installed(venv, tarball, str(base / "installed"), harness.kubectl_dir())


def play(installed, task):
    path = os.path.join(installed.work, task + ".yml")
    with open(path, "w") as f:
        yaml.safe_dump([{"name": "Probe", "hosts": "localhost", "connection": "local", "gather_facts": False,
                         "tasks": [{"name": "Reach", "modelops.serving." + task: {}, "register": "probe"},
                                   {"name": "Say where", "ansible.builtin.debug": {"var": "probe.reached"}}]}], f)
    return path


@pytest.mark.parametrize("task, missing", [("leak_module", "testground"), ("leak_action", "tests")])
def test_a_plugin_that_imports_the_checkout_fails_installed(leaky, task, missing):
    proc = leaky.playbook(play(leaky, task), check=False)
    assert proc.returncode != 0
    assert "No module named '%s'" % missing in proc.stdout + proc.stderr, proc.stdout[-3000:]


@pytest.mark.parametrize("task", ["leak_module", "leak_action"])
def test_the_same_plugin_works_when_the_checkout_is_on_the_path(leaky, task):
    env = dict(leaky.env(), PYTHONPATH=REPO_ROOT)
    proc = subprocess.run([leaky.venv.bin("ansible-playbook"), play(leaky, task)], capture_output=True, text=True,
                          env=env, cwd=leaky.work, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert REPO_ROOT in proc.stdout


def test_the_harness_refuses_an_environment_that_leads_into_the_checkout(leaky):
    with pytest.raises(harness.HarnessError, match="reaches into the checkout"):
        leaky.env(SOMETHING=os.path.join(REPO_ROOT, "plugins"))
    with pytest.raises(harness.HarnessError, match="PYTHONPATH"):
        leaky.env(PYTHONPATH="/opt/elsewhere")
