"""Fixtures of the installed-collection tests: the tarball, a venv per end of the version claims,
the collection installed from the tarball for each, and one test-ground cluster outside the
checkout (its kubeconfig included)."""

import os
import tempfile
import time

import pytest

from tests.helpers import claims
from tests.installed import harness
from testground import cluster as tgcluster
from testground.collection import REPO_ROOT

TIMINGS = {}


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.write_sep("-", "installed-collection timings")
        for what, seconds in TIMINGS.items():
            terminalreporter.write_line("%-48s %6.1f s" % (what, seconds))


def timed(what, func, *args, **kwargs):
    started = time.monotonic()
    value = func(*args, **kwargs)
    TIMINGS[what] = time.monotonic() - started
    return value


@pytest.fixture(scope="session")
def tarball(tmp_path_factory):
    """The tarball of the checkout as it is now (after whatever the tests before left in it)."""
    return timed("build the tarball", harness.build, REPO_ROOT, str(tmp_path_factory.mktemp("dist")))


@pytest.fixture(scope="session")
def cluster():
    """A test-ground cluster whose work directory (kubeconfig, logs) is outside the checkout."""
    c = tgcluster.Cluster("inst", workdir=tempfile.mkdtemp(prefix="modelops-installed-"))
    timed("start the test-ground cluster", c.start)
    yield c
    c.stop()


@pytest.fixture(scope="session", params=sorted(claims.sets()))
def venv(request):
    """A venv with one end of the claims (oldest or newest), made once and cached."""
    v = harness.ClaimVenv(request.param, claims.sets()[request.param])
    was_ready = v.ready
    timed("venv %s (%s)" % (request.param, "cached" if was_ready else "created"), v.ensure)
    return v


@pytest.fixture(scope="session")
def installed(venv, tarball, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("installed-" + venv.label))
    return timed("install with ansible-core of %s" % venv.label, harness.Installed, venv, tarball, root,
                 harness.kubectl_dir())


@pytest.fixture(scope="session")
def account(installed, cluster):
    """The namespace and ServiceAccount docs/rbac.md sets up, made by running its blocks as written.

    The blocks run in a work directory whose docs/ is the installed collection's, with the
    cluster admin's kubeconfig, exactly as a cluster admin follows the page.
    """
    namespace = "inst-" + installed.venv.label
    cluster.kubectl("create", "namespace", namespace)
    workdir = os.path.join(installed.root, "rbac")
    os.makedirs(workdir)
    os.symlink(os.path.join(installed.path, "docs"), os.path.join(workdir, "docs"))
    blocks = harness.marked_blocks(os.path.join(installed.path, "docs", "rbac.md"))
    setup = blocks["rbac-setup"]
    assert "NS=serving " in setup, "docs/rbac.md no longer sets NS=serving; adapt the test"
    script = setup.replace("NS=serving ", "NS=%s " % namespace, 1) + "\n" + blocks["rbac-kubeconfig"]
    timed("docs/rbac.md setup (%s)" % installed.venv.label, installed.shell, script, workdir,
          KUBECONFIG=cluster.kubeconfig)
    return {"namespace": namespace, "name": "model-deployer", "context": "model-deployer",
            "kubeconfig": os.path.join(workdir, "model-deployer.kubeconfig"), "workdir": workdir}
