"""Every doc and message that names RBAC or a refused permission sends the reader to docs/rbac.md,
and the page's Role files are valid RBAC objects whose names the page binds."""

import io
import os
import re
import tokenize

import pytest
import yaml

from testground.collection import REPO_ROOT

NAMES_RBAC = re.compile(r"rbac(?!\.authorization\.k8s\.io)|\b403\b|no permission|forbidden", re.IGNORECASE)
SCOPES = (("README.md",), ("docs", ".md"), ("plugins", ".py"), ("roles", ".yml"), ("playbooks", ".yml"))


def files():
    for scope in SCOPES:
        if len(scope) == 1:
            yield scope[0]
            continue
        top, ext = scope
        for base, dirs, names in os.walk(os.path.join(REPO_ROOT, top)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in names:
                if name.endswith(ext):
                    yield os.path.relpath(os.path.join(base, name), REPO_ROOT)


def read(rel):
    with open(os.path.join(REPO_ROOT, rel)) as f:
        return f.read()


def text_of(rel):
    """What a reader sees: a doc whole, of Python code only its strings (messages and docs)."""
    text = read(rel)
    if not rel.endswith(".py"):
        return text
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return "\n".join(tok.string for tok in tokens if tok.type == tokenize.STRING)


def test_the_scan_finds_the_messages_it_is_about():
    naming = [rel for rel in files() if NAMES_RBAC.search(text_of(rel))]
    assert "plugins/module_utils/rollout/kube.py" in naming and "README.md" in naming


def test_whatever_names_rbac_points_to_the_rbac_page():
    missing = [rel for rel in files() if rel != os.path.join("docs", "rbac.md")
               and NAMES_RBAC.search(text_of(rel)) and "rbac.md" not in text_of(rel)]
    assert missing == []


def role_files():
    directory = os.path.join(REPO_ROOT, "docs", "rbac")
    return sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.endswith(".yml"))


@pytest.mark.parametrize("path", role_files(), ids=os.path.basename)
def test_each_role_file_is_an_rbac_object_the_page_names(path):
    with open(path) as f:
        (obj,) = list(yaml.safe_load_all(f))
    assert obj["apiVersion"] == "rbac.authorization.k8s.io/v1" and obj["kind"] in ("Role", "ClusterRole")
    assert obj["rules"] and all(rule["verbs"] and rule["resources"] for rule in obj["rules"])
    page = read(os.path.join("docs", "rbac.md"))
    assert "rbac/%s" % os.path.basename(path) in page
    if obj["kind"] == "Role":
        assert "--role=%s " % obj["metadata"]["name"] in page
