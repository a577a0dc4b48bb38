"""CHANGELOG.rst is what antsibull-changelog generates from changelogs/changelog.yaml, and the
fragments waiting for the next release are valid."""

import os
import shutil
import subprocess
import sys

from testground.collection import REPO_ROOT

TOOL = os.path.join(os.path.dirname(sys.executable), "antsibull-changelog")


def test_the_changelog_is_generated_from_changelog_yaml(tmp_path):
    for rel in ("galaxy.yml", "CHANGELOG.rst"):
        shutil.copy(os.path.join(REPO_ROOT, rel), tmp_path / rel)
    shutil.copytree(os.path.join(REPO_ROOT, "changelogs"), tmp_path / "changelogs")
    # The plugin cache (written by the release) lets generate run without ansible-doc.
    assert (tmp_path / "changelogs" / ".plugin-cache.yaml").exists()
    subprocess.run([TOOL, "generate"], cwd=str(tmp_path), check=True, capture_output=True, timeout=120)
    with open(os.path.join(REPO_ROOT, "CHANGELOG.rst")) as f:
        assert (tmp_path / "CHANGELOG.rst").read_text() == f.read()


def test_the_fragments_lint_clean():
    out = subprocess.run([TOOL, "lint"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0 and out.stdout == "", out.stdout + out.stderr
