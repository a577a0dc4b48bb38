# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wave sizes of a fleet run: what the user wrote, what Ansible's ``serial`` takes, and which
cluster goes in which wave.

Pure functions. The batching repeats Ansible's own (a percentage is of all the play's hosts,
rounded down but at least one; the last size repeats until every host has a wave), so a report
can name the planned wave of a cluster that never started.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

SIZE = re.compile(r"^(?:[1-9][0-9]*|(?:[1-9][0-9]?|100)%)$")
# Survey answers are text, such as "1, 50%, 100%" or '[1, "50%"]'.
TEXT_ITEM = re.compile(r"[^,\s\[\]\"']+")


class WaveError(ValueError):
    """The wave specification cannot be used; the message says what to write instead."""


def parse(spec):
    """The wave sizes as Ansible's ``serial`` takes them: ints and ``"N%"`` strings.

    ``spec`` is a list (extra vars) or text (a survey answer). Raises WaveError naming the
    entries that are not a positive count or a percentage from 1% to 100%.
    """
    if isinstance(spec, (list, tuple)):
        items = list(spec)
    elif isinstance(spec, (int, str)) and not isinstance(spec, bool):
        items = TEXT_ITEM.findall(str(spec))
    else:
        items = [spec]
    bad = [item for item in items if isinstance(item, bool) or not SIZE.match(str(item).strip())]
    if not items or bad:
        raise WaveError(
            "Wave sizes %s are not valid%s. Each wave is a positive number of clusters or a percentage from 1%% "
            "to 100%%, for example [1, \"50%%\", \"100%%\"] or \"1, 50%%, 100%%\". No cluster was touched."
            % (_show(spec), (": " + ", ".join(_show(b) for b in bad)) if bad else " (no wave given)"))
    return [_as_serial(str(item).strip()) for item in items]


def _show(value):
    return '"%s"' % value if isinstance(value, str) else str(value)


def _as_serial(text):
    return text if text.endswith("%") else int(text)


def _size(entry, total):
    if isinstance(entry, str) and entry.endswith("%"):
        return int(int(entry[:-1]) / 100.0 * total) or 1
    return int(entry)


def batches(hosts, sizes):
    """The hosts of each wave, in order, as ``serial: sizes`` cuts ``hosts``."""
    left = list(hosts)
    total = len(left)
    out = []
    index = 0
    while left:
        size = _size(sizes[index], total)
        out.append(left[:size])
        left = left[size:]
        index = min(index + 1, len(sizes) - 1)
    return out


def planned(hosts, sizes):
    """{host: wave number from 1} for every host of the run."""
    return dict((host, number) for number, batch in enumerate(batches(hosts, sizes), 1) for host in batch)


def wave_of_batch(hosts, sizes, batch):
    """The number of the wave that ``batch`` (the play's current hosts) is, or None if it is none of them."""
    first = batch[0] if batch else None
    return planned(hosts, sizes).get(first)
