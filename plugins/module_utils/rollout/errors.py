# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error tree of the rollout engine.

Every exception the engine raises on purpose is a ``RolloutError`` carrying the ``reason`` its
result reports (see reasons.py). Errors of the transport (``kube.KubeError``) and of the pure
judges (``spec.SpecError``) stay where they are raised; the result builder turns each kind into a
reason, and anything else into ``internal_error``, so no exit of a run is ever a traceback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class RolloutError(Exception):
    """An end of the run with a known reason; the message is for a person."""

    reason = "internal_error"

    def __init__(self, message, reason=None):
        super(RolloutError, self).__init__(message)
        if reason is not None:
            self.reason = reason


class InputError(RolloutError):
    """Bad input or an unusable cluster; raised before anything is written."""

    reason = "invalid_input"


class LockHeld(RolloutError):
    """Another run holds the rollout Lease; the message names it. Nothing was written."""

    reason = "lock_held"


class LockLost(RolloutError):
    """This run no longer holds its Lease (taken, deleted, or not renewable in time)."""

    reason = "lock_lost"


class Refused(RolloutError):
    """The Deployment is in a state this run must not write to (for example paused by a person)."""
