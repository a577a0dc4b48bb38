"""The test ground's port allocation: outside the ephemeral range, and never one another process holds."""

import socket
import subprocess
import sys

from testground import process


def test_a_port_comes_from_below_the_ephemeral_range_and_is_free():
    low = process._ephemeral_range()[0]
    port = process.free_port()
    try:
        assert process._PORT_FLOOR <= port < low
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
    finally:
        process.release_port(port)


def test_a_port_another_process_reserved_is_passed_by(monkeypatch):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from testground import process; print(process.free_port(), flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        held = int(holder.stdout.readline())
        other = held + 1 if held + 1 < process._ephemeral_range()[0] else held - 1
        picks = iter([held, held, other])
        monkeypatch.setattr(process.random, "randint", lambda a, b: next(picks))
        assert process.free_port() == other
        process.release_port(other)
    finally:
        holder.stdin.close()
        holder.wait(10)


def test_a_port_something_listens_on_is_passed_by(monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        free = process.free_port()
        process.release_port(free)
        picks = iter([taken, free])
        monkeypatch.setattr(process, "_allocation_range", lambda: (1, 65535))
        monkeypatch.setattr(process.random, "randint", lambda a, b: next(picks))
        assert process.free_port() == free
        process.release_port(free)


def test_a_port_this_process_holds_is_not_handed_out_twice(monkeypatch):
    first = process.free_port()
    try:
        second_choice = first + 1 if first + 1 < process._ephemeral_range()[0] else first - 1
        picks = iter([first, second_choice])
        monkeypatch.setattr(process.random, "randint", lambda a, b: next(picks))
        assert process.free_port() == second_choice
        process.release_port(second_choice)
    finally:
        process.release_port(first)


def test_a_released_port_can_be_reserved_again(monkeypatch):
    port = process.free_port()
    process.release_port(port)
    monkeypatch.setattr(process.random, "randint", lambda a, b: port)
    assert process.free_port() == port
    process.release_port(port)
