"""The collection as users get it: a tarball built by ansible-galaxy, installed by ansible-galaxy
into a fresh collections path beside its dependencies, run by an ansible-core of the versions we
claim, from a directory that is not the checkout, with the checkout on no path.

Pieces:
- ``build``: ``ansible-galaxy collection build`` of a source tree (the checkout, or a copy of its
  files with something planted, to prove what build_ignore keeps out or what the isolation catches).
- ``ClaimVenv``: a virtualenv per end of the claims (tests/helpers/claims.py), cached under
  ~/.cache/modelops-serving/venvs and rebuilt only when the pins change.
- ``Installed``: one fresh collections path with the dependencies (the collections the ``ansible``
  package from PyPI bundles: no Galaxy server is reachable here) and the tarball, and the only
  environment commands get: no PYTHONPATH, no sys.path scan, a HOME and an ansible.cfg of its own.
"""

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import time

from testground import build as tgbuild
from testground.collection import REPO_ROOT, collections_dir

CACHE = os.path.join(os.path.expanduser("~"), ".cache", "modelops-serving", "venvs")
DEPENDENCIES = ("kubernetes.core", "amazon.aws", "community.aws")
# The tarball is built by the test venv's ansible-galaxy, as a maintainer builds it (docs/release.md).
BUILDER = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")


class HarnessError(AssertionError):
    pass


def _run(argv, **kwargs):
    kwargs.setdefault("timeout", 900)
    out = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if out.returncode != 0:
        raise HarnessError("%s failed (%d):\n%s\n%s" % (" ".join(argv), out.returncode, out.stdout[-4000:],
                                                        out.stderr[-4000:]))
    return out


# -- the artifact ----------------------------------------------------------------------------------
def source_files():
    """The checkout's files as git knows them (tracked, or new and not ignored)."""
    out = _run(["git", "-C", REPO_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    return [path for path in out.stdout.split("\0") if path and os.path.isfile(os.path.join(REPO_ROOT, path))]


def copy_source(dest, plant=None):
    """A copy of the checkout's files in ``dest``, plus ``plant`` {relative path: text}."""
    for rel in source_files():
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(REPO_ROOT, rel), target)
    for rel, text in (plant or {}).items():
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as f:
            f.write(text)
    return dest


def build(source, output_dir):
    """Path of the tarball ``ansible-galaxy collection build`` makes of ``source``."""
    os.makedirs(output_dir, exist_ok=True)
    _run([BUILDER, "collection", "build", "--force", "--output-path", output_dir, os.path.abspath(source)],
         cwd=output_dir)
    (name,) = [n for n in os.listdir(output_dir) if n.endswith(".tar.gz")]
    return os.path.join(output_dir, name)


def members(tarball):
    with tarfile.open(tarball) as tar:
        return [m.name for m in tar.getmembers()]


# -- the versions we claim ---------------------------------------------------------------------
def base_python():
    """The interpreter the venvs are made from: the one this machine's bootstrap uses."""
    return getattr(sys, "_base_executable", None) or shutil.which("python3.11") or sys.executable


class ClaimVenv:
    def __init__(self, label, requirements):
        self.label = label
        self.requirements = tuple(requirements)
        key = hashlib.sha256("\n".join(self.requirements + (sys.version,)).encode()).hexdigest()[:10]
        self.path = os.path.join(CACHE, "%s-%s" % (label, key))
        self.created_seconds = None

    def bin(self, name):
        return os.path.join(self.path, "bin", name)

    @property
    def ready(self):
        return os.path.exists(os.path.join(self.path, ".complete"))

    def ensure(self):
        """Create the venv unless the cache holds a complete one; a half-made one is made again.

        Made in place (venv scripts name their interpreter by absolute path), marked complete last.
        """
        if self.ready:
            return self
        started = time.monotonic()
        shutil.rmtree(self.path, ignore_errors=True)
        os.makedirs(CACHE, exist_ok=True)
        _run([base_python(), "-m", "venv", self.path])
        _run([self.bin("python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
             + list(self.requirements), timeout=1800)
        with open(os.path.join(self.path, ".complete"), "w") as f:
            f.write("\n".join(self.requirements) + "\n")
        self.created_seconds = time.monotonic() - started
        return self

    def versions(self):
        code = ("import ansible, kubernetes, boto3, botocore; print(ansible.__version__, kubernetes.__version__,"
                " boto3.__version__, botocore.__version__)")
        return _run([self.bin("python"), "-c", code]).stdout.split()


# -- one installed collection ---------------------------------------------------------------------
def bundled_collection(fqcn):
    """Directory of a collection the ``ansible`` PyPI package ships, in the test venv."""
    spec = importlib.util.find_spec("ansible_collections." + fqcn)
    for location in spec.submodule_search_locations:
        if os.path.exists(os.path.join(location, "MANIFEST.json")):
            return location
    raise HarnessError("the ansible package in %s ships no %s" % (sys.prefix, fqcn))


class Installed:
    """modelops.serving installed from ``tarball`` into ``root``, run by ``venv``'s ansible-core."""

    def __init__(self, venv, tarball, root, kubectl_dir):
        self.venv = venv
        self.root = root
        self.collections = os.path.join(root, "collections")
        self.work = os.path.join(root, "work")
        self.home = os.path.join(root, "home")
        for d in (self.collections, self.work, self.home, os.path.join(root, "tmp"), os.path.join(root, "roles")):
            os.makedirs(d, exist_ok=True)
        self.config = os.path.join(root, "ansible.cfg")
        with open(self.config, "w") as f:
            f.write("[defaults]\n")
        self.kubectl_dir = kubectl_dir
        self.extra_env = {}
        self.galaxy("collection", "install", "--offline", "-p", self.collections,
                    *[bundled_collection(c) for c in DEPENDENCIES])
        self.install_log = self.galaxy("collection", "install", "--offline", "-p", self.collections, tarball).stdout

    @property
    def path(self):
        """The installed collection's root, ansible_collections/modelops/serving."""
        return os.path.join(self.collections, "ansible_collections", "modelops", "serving")

    def env(self, **extra):
        env = {
            "HOME": self.home,
            "PATH": os.pathsep.join([os.path.join(self.venv.path, "bin"), self.kubectl_dir, "/usr/local/bin",
                                     "/usr/bin", "/bin"]),
            "LANG": "C.UTF-8",
            "TMPDIR": os.path.join(self.root, "tmp"),
            "ANSIBLE_CONFIG": self.config,
            "ANSIBLE_COLLECTIONS_PATH": self.collections,
            # The venv holds no collections, but the interpreter's site-packages must not count.
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
            "ANSIBLE_ROLES_PATH": os.path.join(self.root, "roles"),
            "ANSIBLE_LOCAL_TEMP": os.path.join(self.root, "tmp"),
            "ANSIBLE_PYTHON_INTERPRETER": self.venv.bin("python"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_DEPRECATION_WARNINGS": "false",
        }
        env.update(self.extra_env)
        env.update(extra)
        reach_into_checkout(env)
        return env

    def run(self, argv, check=True, cwd=None, timeout=900, **env):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout,
                              cwd=cwd or self.work, env=self.env(**env))
        if check and proc.returncode != 0:
            raise HarnessError("%s failed (%d):\n%s\n%s" % (" ".join(argv), proc.returncode, proc.stdout[-6000:],
                                                            proc.stderr[-4000:]))
        return proc

    def galaxy(self, *args, **kwargs):
        return self.run([self.venv.bin("ansible-galaxy")] + list(args), **kwargs)

    def doc(self, *args, **kwargs):
        return self.run([self.venv.bin("ansible-doc")] + list(args), **kwargs)

    def playbook(self, *args, **kwargs):
        return self.run([self.venv.bin("ansible-playbook")] + list(args), **kwargs)

    def shell(self, script, cwd=None, **kwargs):
        return self.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, **kwargs)


def reach_into_checkout(env):
    """Fail when any variable of ``env`` leads into the checkout or its link farm."""
    farm = collections_dir()
    for key, value in env.items():
        if REPO_ROOT in value or farm in value:
            raise HarnessError("%s=%s reaches into the checkout" % (key, value))
        if key == "PYTHONPATH":
            raise HarnessError("PYTHONPATH is set (%s): the installed collection must not need it" % value)


def kubectl_dir():
    return os.path.dirname(tgbuild.binary("kubectl"))


def marked_blocks(markdown_path):
    """{name: body} of the shell blocks a Markdown page marks ``<!-- installed-test: name -->``."""
    with open(markdown_path) as f:
        text = f.read()
    blocks = {}
    for part in text.split("<!-- installed-test: ")[1:]:
        name, rest = part.split(" -->", 1)
        blocks[name.strip()] = rest.split("```sh\n", 1)[1].split("\n```", 1)[0]
    return blocks
