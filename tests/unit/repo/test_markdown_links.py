"""Every link of every Markdown file in the repository resolves: a relative path names a file or
directory that exists, and a #fragment names a heading of its page (GitHub's anchor rules).

Links to other sites cannot be followed from here (no network); they are only checked to be
absolute URLs.
"""

import os
import re
import subprocess

import pytest

from tests.helpers.markdown import EXTERNAL, anchors, links, slug
from testground.collection import REPO_ROOT


def markdown_files():
    out = subprocess.run(["git", "-C", REPO_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                          "*.md"], capture_output=True, text=True, check=True).stdout
    return sorted(p for p in out.split("\0") if p and os.path.isfile(os.path.join(REPO_ROOT, p)))


def broken(rel):
    path = os.path.join(REPO_ROOT, rel)
    with open(path) as f:
        text = f.read()
    problems = []
    for target in links(text):
        if target.startswith(EXTERNAL):
            continue
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            problems.append("%s: unknown scheme" % target)
            continue
        file_part, _sep, fragment = target.partition("#")
        file_part = file_part.split("?", 1)[0]
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not dest.startswith(REPO_ROOT + os.sep) and dest != REPO_ROOT:
            problems.append("%s: leaves the repository" % target)
        elif not os.path.exists(dest):
            problems.append("%s: no such file" % target)
        elif fragment and dest.endswith(".md") and fragment not in anchors(dest):
            problems.append("%s: no heading #%s in %s" % (target, fragment, os.path.relpath(dest, REPO_ROOT)))
    return problems


def test_the_walk_reads_links_the_way_markdown_does():
    sample = ("See [a](docs/a.md), ![p](x.png \"t\") and [ok](<c.md>).\n"
              "```\n[not](a-link.md)\n```\n`[nor](this.md)` <!-- [nor](that.md) -->\n"
              "[ref]: ../b.md\n")
    assert links(sample) == ["docs/a.md", "x.png", "c.md", "../b.md"]
    assert slug("Check it: `kubectl auth can-i`") == "check-it-kubectl-auth-can-i"
    assert slug("Provision and tear down: role `modelops.serving.eks_cluster`") == \
        "provision-and-tear-down-role-modelopsservingeks_cluster"


def test_readme_and_docs_are_walked():
    files = markdown_files()
    assert "README.md" in files and "docs/rbac.md" in files and len(files) >= 10


@pytest.mark.parametrize("rel", markdown_files())
def test_every_link_resolves(rel):
    assert broken(rel) == []
