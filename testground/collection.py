"""Make this checkout importable as ``ansible_collections.modelops.serving``.

Ansible finds a collection only under ``<dir>/ansible_collections/<ns>/<name>``.
The repository root is the collection root, so tests, molecule, benchmarks and
the demo point Ansible at a link farm outside the checkout (keyed by the
checkout's path, so two clones never share one) whose leaf links back here.
"""

import hashlib
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def collections_dir():
    """Return a directory to put on ANSIBLE_COLLECTIONS_PATH, creating the link if needed."""
    key = hashlib.sha1(REPO_ROOT.encode()).hexdigest()[:12]
    base = os.path.join(os.path.expanduser("~"), ".cache", "modelops-serving", "collections", key)
    leaf_parent = os.path.join(base, "ansible_collections", "modelops")
    leaf = os.path.join(leaf_parent, "serving")
    os.makedirs(leaf_parent, exist_ok=True)
    if os.path.islink(leaf) and os.readlink(leaf) != REPO_ROOT:
        os.unlink(leaf)
    if not os.path.lexists(leaf):
        try:
            os.symlink(REPO_ROOT, leaf)
        except FileExistsError:
            pass
    return base


def ansible_env(env=None):
    """An environment in which ansible-* commands find this collection."""
    env = dict(os.environ if env is None else env)
    paths = [collections_dir()]
    if env.get("ANSIBLE_COLLECTIONS_PATH"):
        paths.append(env["ANSIBLE_COLLECTIONS_PATH"])
    env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join(paths)
    # Commands started from the venv's python must find the venv's tools.
    venv_bin = os.path.dirname(sys.executable)
    if venv_bin not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    return env


if __name__ == "__main__":
    print(collections_dir())
