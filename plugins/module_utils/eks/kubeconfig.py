# -*- coding: utf-8 -*-
# Copyright (c) modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Write a token kubeconfig so that only its owner can read it.

The file is JSON, which is YAML too and which kubectl and every Kubernetes client read; this
keeps the module free of a PyYAML requirement on the target.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile

FILE_MODE = 0o600


def _without_tokens(config):
    users = [dict(u, user=dict(u.get("user") or {}, token=None)) for u in (config or {}).get("users") or []]
    return dict(config or {}, users=users)


def _read(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (IOError, OSError, ValueError):
        return None


def needs_change(path, config):
    """True when the file differs from ``config`` in more than the token, or has another mode.

    A fresh token is a credential refresh, not a change of configuration: writing one alone is
    not reported as ``changed``, so that a play which authenticates every run stays idempotent.
    """
    if not os.path.exists(path):
        return True
    if os.stat(path).st_mode & 0o777 != FILE_MODE:
        return True
    return _without_tokens(_read(path)) != _without_tokens(config)


def write(path, config):
    """Atomically replace ``path`` with ``config`` (mode 0600 from creation on, never wider)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    fd, tmp = tempfile.mkstemp(prefix=".kubeconfig-", dir=directory)  # mkstemp creates with 0600
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)
            f.write("\n")
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
