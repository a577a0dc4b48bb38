"""The versions we claim, at both ends, as the installed-collection tests install them.

requirements.txt says what the collection needs on the controller (lower and upper bounds);
requirements-test.txt pins what everything else runs (its boto3 pin is botocore's too). The
oldest set is every lower bound of requirements.txt; the newest set is the pins of
requirements-test.txt, which must lie inside requirements.txt's bounds. meta/runtime.yml's
requires_ansible is requirements.txt's range of ansible-core.
"""

import os
import re

from testground.collection import REPO_ROOT

# The Python packages of the collection on the controller (requirements.txt names them all).
PACKAGES = ("ansible-core", "kubernetes", "boto3", "botocore", "matplotlib")
# The two whose range is closed at the top: a new ansible-core or kubernetes client major is
# claimed only once it has been run (issue 17). boto3, botocore and matplotlib keep their usual
# open ranges; the newest set runs their pinned versions.
BOUNDED = ("ansible-core", "kubernetes")
# Not claims: what the oldest set also needs to install and import on this machine's Python.
# matplotlib 3.6 is built against numpy 1, which numpy 2 cannot load.
OLDEST_CONSTRAINTS = ("numpy<2",)

_REQ = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*([^#;]*)")


def _parse(path):
    out = {}
    with open(os.path.join(REPO_ROOT, path)) as f:
        for line in f:
            m = _REQ.match(line)
            if m and m.group(1):
                out[m.group(1).lower()] = [s.strip() for s in m.group(2).split(",") if s.strip()]
    return out


def requirements():
    """{package: [specifiers]} of requirements.txt."""
    return _parse("requirements.txt")


def test_pins():
    """{package: version} of requirements-test.txt."""
    pins = {}
    for name, specs in _parse("requirements-test.txt").items():
        for spec in specs:
            if spec.startswith("=="):
                pins[name] = spec[2:]
    return pins


def lower_bound(specs):
    for spec in specs:
        if spec.startswith(">="):
            return spec[2:]
    return None


def upper_bound(specs):
    for spec in specs:
        if spec.startswith("<") and not spec.startswith("<="):
            return spec[1:]
    return None


def oldest():
    reqs = requirements()
    return dict((name, lower_bound(reqs[name])) for name in PACKAGES)


def newest():
    pins = test_pins()
    # boto3 and botocore are released together under the same version, and each boto3 release
    # requires its own botocore, so the boto3 pin is botocore's too.
    pins.setdefault("botocore", pins["boto3"])
    return dict((name, pins[name]) for name in PACKAGES)


def version_tuple(text):
    return tuple(int(part) for part in re.findall(r"\d+", text))


def sets():
    """{label: (pip requirement lines)} for each end of the claims."""
    return {
        "oldest": tuple("%s==%s" % item for item in sorted(oldest().items())) + OLDEST_CONSTRAINTS,
        "newest": tuple("%s==%s" % item for item in sorted(newest().items())),
    }
