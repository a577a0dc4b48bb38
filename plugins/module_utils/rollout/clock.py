# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine's sense of time, in one object so tests can hand it a clock of their own.

``monotonic`` measures every interval this run waits or holds (deadlines, Lease renewals, holds);
``wall`` is only compared with timestamps the API server wrote (pod conditions), never with
timestamps another machine wrote (a Lease holder's renewTime): two machines' clocks disagree.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import time


class Clock:
    def monotonic(self):
        return time.monotonic()

    def wall(self):
        return datetime.datetime.now(datetime.timezone.utc)

    def sleep(self, seconds):
        if seconds > 0:
            time.sleep(seconds)


def micro_time(moment):
    """A datetime as the API's MicroTime string."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
