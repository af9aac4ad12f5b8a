"""``pipelines.forked.split_map``: the same results as a plain map, in order, with half of the
items computed by a forked child; and whatever happens to the child, nothing is lost."""

import os
import signal
import sys
import time

import pytest

from pipelines import forked

PARENT = os.getpid()


def _square_where(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(forked, "cores", lambda: 2)


def test_every_second_item_is_computed_by_a_child_and_the_results_keep_their_order(two_cores):
    items = list(range(11))
    results = forked.split_map(_square_where, items)
    assert [value for value, _ in results] == [x * x for x in items]
    pids = [pid for _, pid in results]
    assert set(pids[0::2]) == {PARENT}
    children = set(pids[1::2])
    assert len(children) == 1 and PARENT not in children


def test_with_four_cores_the_items_are_dealt_to_this_process_and_three_children(monkeypatch):
    monkeypatch.setattr(forked, "cores", lambda: 4)
    items = list(range(23))
    results = forked.split_map(_square_where, items)
    assert [value for value, _ in results] == [x * x for x in items]
    pids = [pid for _, pid in results]
    assert set(pids[0::4]) == {PARENT}
    children = [set(pids[share::4]) for share in (1, 2, 3)]
    assert all(len(c) == 1 for c in children)
    assert len(set.union(*children)) == 3 and PARENT not in set.union(*children)


def _fails_in_one_child(x: int) -> tuple[int, int]:
    if os.getpid() != PARENT and x % 4 == 2:  # the second child's share
        raise RuntimeError("one child fails")
    return _square_where(x)


def test_one_child_of_several_failing_leaves_only_its_items_to_this_process(monkeypatch):
    monkeypatch.setattr(forked, "cores", lambda: 4)
    results = forked.split_map(_fails_in_one_child, range(20))
    assert [v for v, _ in results] == [x * x for x in range(20)]
    pids = [pid for _, pid in results]
    assert set(pids[2::4]) == {PARENT}  # computed here
    assert PARENT not in set(pids[1::4]) | set(pids[3::4])  # the others' children


def test_few_items_or_one_core_stay_in_this_process(two_cores, monkeypatch):
    few = forked.split_map(_square_where, range(forked.MIN_ITEMS - 1))
    assert {pid for _, pid in few} == {PARENT}
    monkeypatch.setattr(forked, "cores", lambda: 1)
    many = forked.split_map(_square_where, range(20))
    assert [v for v, _ in many] == [x * x for x in range(20)] and {pid for _, pid in many} == {PARENT}


def test_a_process_that_has_loaded_grpc_does_not_fork(two_cores, monkeypatch):
    monkeypatch.setitem(sys.modules, "grpc._cython.cygrpc", object())
    results = forked.split_map(_square_where, range(20))
    assert {pid for _, pid in results} == {PARENT}


def _fails_in_the_child(x: int) -> tuple[int, int]:
    if os.getpid() != PARENT:
        raise RuntimeError("the child's share fails")
    return _square_where(x)


def _dies_in_the_child(x: int) -> tuple[int, int]:
    if os.getpid() != PARENT:
        os.kill(os.getpid(), signal.SIGKILL)
    return _square_where(x)


def _leaves_early_in_the_child(x: int) -> tuple[int, int]:
    if os.getpid() != PARENT:
        os._exit(0)  # exit 0 with nothing sent
    return _square_where(x)


@pytest.mark.parametrize("func", [_fails_in_the_child, _dies_in_the_child, _leaves_early_in_the_child])
def test_a_child_that_fails_dies_or_sends_nothing_leaves_its_items_to_this_process(two_cores, func):
    results = forked.split_map(func, range(10))
    assert results == [(x * x, PARENT) for x in range(10)]


def test_a_failure_on_this_side_is_raised_and_the_child_does_not_outlive_it(two_cores, tmp_path):
    pid_file = tmp_path / "child.pid"

    def func(x: int) -> int:
        if os.getpid() != PARENT:
            pid_file.write_text(str(os.getpid()))
            signal.pause()  # the child would wait for ever
        elif x == 4:
            deadline = time.monotonic() + 60
            while not pid_file.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            raise ValueError("this side fails")
        return x

    with pytest.raises(ValueError, match="this side fails"):
        forked.split_map(func, range(10))
    child = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # killed and reaped: no such process, not even a zombie
