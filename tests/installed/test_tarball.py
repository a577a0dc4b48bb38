"""The built tarball holds what users run and read, and nothing a checkout accumulates."""

import hashlib
import json
import os
import subprocess
import tarfile

import pytest
import yaml

from tests.helpers.markdown import EXTERNAL, links
from tests.installed import harness
from testground.collection import REPO_ROOT

# Every top-level entry the tarball may have. A new one is a decision: add it to galaxy.yml's
# manifest and here, and say why in docs/release.md.
ALLOWED = {
    "MANIFEST.json", "FILES.json", "README.md", "COPYING", "CHANGELOG.rst", "requirements.txt",
    "meta", "plugins", "roles", "playbooks", "docs", "changelogs", "awx", "inventory",
}
REQUIRED = {"MANIFEST.json", "FILES.json", "README.md", "COPYING", "CHANGELOG.rst", "meta", "plugins", "roles",
            "playbooks", "docs"}
LIMIT = 1024 * 1024
# The GNU GPL version 3 as the FSF publishes it (also Debian's /usr/share/common-licenses/GPL-3).
GPL3_SHA256 = "3972dc9744f6499f0f9b2dbf76696f2ae7ad8af9b23dde66d6af86c9dfb36986"

# What a checkout holds after the tests, the demo and the benchmarks ran, and a new top-level
# directory nobody decided to ship.
LEFTOVERS = {
    ".venv-sanity/lib/python3.11/site-packages/pip/__init__.py": "",
    ".venv/bin/activate": "",
    "tests/output/.tmp/sanity.json": "{}",
    "demo-output/rollout-20261201.json": "{}",
    ".testground/tg-abc/kubeconfig": "kind: Config\n",
    "collections/ansible_collections/x/y/plugins/modules/z.py": "",
    ".cache/pip/x": "",
    "bench/results/smoke.png": "png",
    "plugins/modules/__pycache__/model_rollout.cpython-311.pyc": "pyc",
    "roles/model_server/tasks/main.yml~": "",
    "docs/rollout.md.orig": "",
    "changelogs/fragments/next-change.yml": "---\n",
    "changelogs/.plugin-cache.yaml": "---\n",
    "modelops-serving-0.0.9.tar.gz": "old build",
}


def top_level(names):
    return {name.split("/", 1)[0] for name in names}


def test_the_tarball_holds_only_the_allowed_top_level_entries(tarball):
    names = harness.members(tarball)
    assert top_level(names) <= ALLOWED, sorted(top_level(names) - ALLOWED)
    assert REQUIRED <= top_level(names), sorted(REQUIRED - top_level(names))


def test_the_tarball_is_small(tarball):
    size = os.path.getsize(tarball)
    print("\n%s: %d bytes, %d members" % (os.path.basename(tarball), size, len(harness.members(tarball))))
    assert size < LIMIT


def test_nothing_of_tests_test_ground_or_tooling_ships(tarball):
    for name in harness.members(tarball):
        parts = name.split("/")
        assert parts[0] not in ("tests", "testground", "bench", "molecule", "scripts", ".ci"), name
        assert "__pycache__" not in parts and not name.endswith((".pyc", ".tar.gz")), name
        assert not any(p.startswith(".") for p in parts), name


def test_leftovers_of_a_full_test_run_stay_out(tmp_path):
    source = harness.copy_source(str(tmp_path / "src"), plant=LEFTOVERS)
    tarball = harness.build(source, str(tmp_path / "dist"))
    names = set(harness.members(tarball))
    assert sorted(set(LEFTOVERS) & names) == []
    assert top_level(names) <= ALLOWED
    # The copy is the checkout's files: the same tarball content apart from the leftovers.
    assert "plugins/modules/model_rollout.py" in names and "docs/rbac.md" in names


def test_a_new_top_level_directory_is_caught_not_shipped_silently(tmp_path):
    """build_ignore is a deny-list: what nobody listed ships, and the allowed list says so."""
    source = harness.copy_source(str(tmp_path / "src"), plant={"scratch/notes.yml": "---\n"})
    names = harness.members(harness.build(source, str(tmp_path / "dist")))
    assert top_level(names) - ALLOWED == {"scratch"}


def test_a_source_tree_installs_without_extra_python_packages(tmp_path):
    """As an AWX project's git requirement or an execution environment build installs it: from the
    source, with nothing but ansible-core (no distlib, which a galaxy.yml manifest would need)."""
    from tests.helpers import claims

    venv = harness.ClaimVenv("newest", claims.sets()["newest"]).ensure()
    source = harness.copy_source(str(tmp_path / "src"))
    out = subprocess.run([venv.bin("ansible-galaxy"), "collection", "install", "--no-deps", "-p",
                          str(tmp_path / "collections"), source], capture_output=True, text=True, timeout=300,
                         check=False, cwd=str(tmp_path), env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stdout + out.stderr
    root = tmp_path / "collections" / "ansible_collections" / "modelops" / "serving"
    shipped = set(harness.members(harness.build(source, str(tmp_path / "dist"))))
    found = {str(p.relative_to(root)) for p in root.rglob("*")}
    assert found == shipped


def read_member(tarball, name):
    with tarfile.open(tarball) as tar:
        return tar.extractfile(name).read()


def test_license_and_metadata(tarball):
    assert hashlib.sha256(read_member(tarball, "COPYING")).hexdigest() == GPL3_SHA256
    info = json.loads(read_member(tarball, "MANIFEST.json"))["collection_info"]
    with open(os.path.join(REPO_ROOT, "galaxy.yml")) as f:
        galaxy = yaml.safe_load(f)
    assert info["license"] == galaxy["license"] == ["GPL-3.0-or-later"]
    assert info["version"] == galaxy["version"]
    assert info["dependencies"] == galaxy["dependencies"]


def test_the_changelog_describes_the_version_it_ships_with(tarball):
    changelog = read_member(tarball, "CHANGELOG.rst").decode()
    info = json.loads(read_member(tarball, "MANIFEST.json"))["collection_info"]
    assert "v%s" % info["version"] in changelog
    with open(os.path.join(REPO_ROOT, "CHANGELOG.rst")) as f:
        assert f.read() == changelog


@pytest.mark.parametrize("name", ["README.md", "docs/rbac.md", "docs/rbac/model-rollout.yml", "meta/runtime.yml",
                                  "roles/eks_cluster/meta/argument_specs.yml", "playbooks/rollout.yml",
                                  "requirements.txt", "meta/execution-environment.yml"])
def test_what_users_read_and_run_is_there(tarball, name):
    assert name in harness.members(tarball)


# Left out of the tarball on purpose: links into them are for readers of the repository.
REPOSITORY_ONLY = ("testground", "bench", "tests", "molecule", "scripts")


def test_the_shipped_docs_link_only_to_what_ships(tarball):
    names = set(harness.members(tarball))
    dangling = []
    for doc in sorted(n for n in names if n.endswith(".md")):
        for target in links(read_member(tarball, doc).decode()):
            path = os.path.normpath(os.path.join(os.path.dirname(doc), target.partition("#")[0]))
            if target.startswith(EXTERNAL) or path.split(os.sep)[0] in REPOSITORY_ONLY:
                continue
            if path not in names and not any(n.startswith(path + "/") for n in names):
                dangling.append((doc, target))
    assert dangling == []
