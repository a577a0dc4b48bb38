"""Wave sizes: what users and surveys write, and the batches Ansible's serial makes of them."""

import pytest

from ansible.utils.helpers import pct_to_int
from ansible_collections.modelops.serving.plugins.module_utils.fleet import waves


@pytest.mark.parametrize("spec, parsed", [
    ([1, "50%", "100%"], [1, "50%", "100%"]),
    ("1, 50%, 100%", [1, "50%", "100%"]),
    ('[1, "2"]', [1, 2]),
    (3, [3]),
    (["100%"], ["100%"]),
])
def test_lists_and_survey_text_become_serial_sizes(spec, parsed):
    assert waves.parse(spec) == parsed


@pytest.mark.parametrize("spec, named", [
    ([1, "two"], '"two"'), ("1, 150%", '"150%"'), ([0], "0"), ("0%", '"0%"'), ([True], "True"), ([], "no wave"),
    ("", "no wave"), ({"a": 1}, "{"), ([1.5], "1.5"),
])
def test_a_wave_that_serial_would_misread_is_refused_naming_it(spec, named):
    with pytest.raises(waves.WaveError) as err:
        waves.parse(spec)
    assert named in str(err.value) and "No cluster was touched" in str(err.value)


def _ansible_batches(hosts, sizes):
    """The batching of ansible.executor.playbook_executor, with Ansible's own pct_to_int."""
    left, out, index = list(hosts), [], 0
    total = len(left)
    while left:
        size = pct_to_int(sizes[index], total)
        out.append(left[:size])
        left = left[size:]
        index = min(index + 1, len(sizes) - 1)
    return out


@pytest.mark.parametrize("count", [1, 2, 3, 5, 7, 12])
@pytest.mark.parametrize("sizes", [[1, "50%", "100%"], [1, 2], ["30%"], ["100%"], [2], ["1%", "10%"]])
def test_batches_are_the_ones_serial_makes(count, sizes):
    hosts = ["c%d" % i for i in range(count)]
    assert waves.batches(hosts, sizes) == _ansible_batches(hosts, sizes)


def test_every_cluster_has_its_planned_wave_and_a_batch_knows_its_number():
    hosts = ["tg1", "tg2", "tg3", "tg4"]
    assert waves.planned(hosts, [1, 2]) == {"tg1": 1, "tg2": 2, "tg3": 2, "tg4": 3}
    assert waves.wave_of_batch(hosts, [1, 2], ["tg4"]) == 3
    assert waves.wave_of_batch(hosts, [1, 2], ["other"]) is None
