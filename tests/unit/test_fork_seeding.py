"""What a forked point inherits from its task runner (superbatch/taskrunner/script.py and
supervise.py): numpy's global generator seeded afresh before each fork, as an interpreter's
import of numpy seeds it, and the parent-death signal armed in the child."""

from __future__ import annotations

import ctypes
import os
import sys

import numpy as np
import numpy.random
import pytest

from superbatch.taskrunner import supervise
from superbatch.taskrunner.script import MT19937_KEY_WORDS, Reseeder

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl")


@pytest.fixture
def saved_generator():
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def test_each_seeding_writes_a_new_whole_key_as_numpys_own_import_does(saved_generator):
    reseed = Reseeder()
    assert reseed.address  # this numpy: straight into the generator's state
    keys = []
    for _ in range(3):
        reseed()
        name, key, pos, has_gauss, _ = np.random.get_state(legacy=True)
        assert (name, pos, has_gauss) == ("MT19937", MT19937_KEY_WORDS, 0)
        assert key[0] == 0x80000000  # numpy's MT19937.__init__ sets it so: never all zero
        keys.append(key.tobytes())
    assert len(set(keys)) == 3
    draws = set()
    for _ in range(4):
        reseed()
        draws.add(float(np.random.uniform()))
    assert len(draws) == 4


def _in_a_child(run) -> str:
    """What ``run`` returns in a forked child, as text."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write, str(run()).encode())
        finally:
            os._exit(0)
    os.close(write)
    got = os.read(read, 64)
    os.close(read)
    os.waitpid(pid, 0)
    return got.decode()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks")
def test_a_normal_the_task_runner_drew_is_not_handed_to_every_point(saved_generator):
    # The legacy generator caches the second normal of each pair: a module preloaded by the
    # task runner may have drawn one; no point may start with it.
    np.random.standard_normal()
    assert np.random.get_state(legacy=True)[3] == 1
    reseed = Reseeder()
    firsts = set()
    for _ in range(3):
        reseed()  # before each fork, as Forked.run does
        assert np.random.get_state(legacy=True)[3] == 0
        firsts.add(_in_a_child(lambda: float(np.random.standard_normal())))
    assert len(firsts) == 3


def test_a_generator_whose_state_is_not_where_it_should_be_is_seeded_instead(
    saved_generator, monkeypatch
):
    monkeypatch.setattr(ctypes, "string_at", lambda *args: b"elsewhere")  # not numpy's key
    reseed = Reseeder()
    assert reseed.address == 0
    states = set()
    for _ in range(3):
        reseed()
        states.add(np.random.get_state(legacy=True)[1].tobytes())
    assert len(states) == 3


@linux_only
def test_a_forked_child_arms_its_parent_death_signal():
    arm = supervise.parent_death()

    def armed() -> int:
        arm(os.getppid())
        found = ctypes.c_int(-1)
        ctypes.CDLL(None).prctl(2, ctypes.byref(found), 0, 0, 0)  # PR_GET_PDEATHSIG
        return found.value

    assert _in_a_child(armed) == str(int(supervise.signal.SIGKILL))


@linux_only
def test_a_child_whose_parent_is_gone_already_exits_at_once():
    arm = supervise.parent_death()
    pid = os.fork()
    if pid == 0:
        try:
            arm(os.getppid() + 1_000_000)  # not its parent: as if the parent had exited
            os._exit(0)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 1
