"""Who may import whom: plugins never import test code, and tests import the test ground or shared
helpers, never each other (a test module imported elsewhere runs its fixtures and tests twice and
ties two suites together)."""

import ast
import os

import pytest

from testground.collection import REPO_ROOT

NOT_FOR_PLUGINS = ("tests", "testground", "bench", "scripts", "molecule")


def python_files(top):
    for base, dirs, files in os.walk(os.path.join(REPO_ROOT, top)):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(base, name)


def imported(path):
    """Every module name a file imports, absolute or made absolute from its package."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    package = os.path.relpath(os.path.dirname(path), REPO_ROOT).replace(os.sep, ".")
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = base + ("." + node.module if node.module else "")
            else:
                module = node.module
            names.append(module)
            names.extend("%s.%s" % (module, alias.name) for alias in node.names)
    return names


def rel(path):
    return os.path.relpath(path, REPO_ROOT)


def test_the_walk_sees_the_imports_it_judges():
    names = imported(os.path.join(REPO_ROOT, "tests", "unit", "plugins", "module_utils", "eks", "test_token.py"))
    assert "testground.sigv4" in names


def test_plugins_never_import_test_code():
    offenders = [(rel(path), name) for path in python_files("plugins") for name in imported(path)
                 if name.split(".")[0] in NOT_FOR_PLUGINS]
    assert offenders == []


def test_no_module_imports_a_test_module():
    offenders = [(rel(path), name) for top in ("tests", "testground", "bench", "scripts")
                 for path in python_files(top) for name in imported(path)
                 if name.startswith("tests.") and any(part.startswith("test_") for part in name.split("."))]
    assert offenders == []


@pytest.mark.parametrize("suite, others", [
    ("unit", ("tests.integration", "tests.installed")),
    ("integration", ("tests.unit", "tests.installed")),
    ("installed", ("tests.unit", "tests.integration")),
])
def test_suites_share_only_helpers(suite, others):
    offenders = [(rel(path), name) for path in python_files(os.path.join("tests", suite))
                 for name in imported(path) if name.startswith(others)]
    assert offenders == []


def test_the_test_ground_is_not_a_test_helper():
    offenders = [(rel(path), name) for path in python_files("testground") for name in imported(path)
                 if name.split(".")[0] == "tests"]
    assert offenders == []
