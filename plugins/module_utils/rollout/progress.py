# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress lines a person can follow while a rollout runs (file-based, line-buffered)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time


class ProgressFile:
    def __init__(self, path):
        self.path = path
        self.handle = None
        self.lines = 0

    def write(self, line):
        if not self.path:
            return
        if self.handle is None:
            self.handle = open(self.path, "a", buffering=1)
        self.handle.write("%s %s\n" % (time.strftime("%H:%M:%S"), line))
        self.lines += 1

    def close(self):
        if self.handle is not None:
            self.handle.close()
            self.handle = None
