"""serve's API worker processes as their supervisor sees them: one that dies is started again,
and ones that keep dying stop it with an error that says how they ended."""

from __future__ import annotations

import pytest

from mailroom.apiworkers import CRASH_LOOP, ApiWorkers, Board, Running
from mailroom.errors import WorkerError


def test_a_dead_worker_is_started_again_until_they_keep_dying() -> None:
    workers = ApiWorkers("os:_exit", [(3,)])  # a worker that exits at once, with code 3
    workers.start()
    seen = set()
    try:
        with pytest.raises(WorkerError, match="keep dying .* exited with code 3"):
            for _ in range(CRASH_LOOP):
                seen.add(workers.processes[0].pid)
                workers.processes[0].join(60)
                workers.replace_dead()
        assert len(seen) == CRASH_LOOP  # each death but the last was replaced
    finally:
        workers.stop()


def test_the_board_gives_back_what_was_published() -> None:
    board = Board(Running("listening", "running", 0))
    assert board.read() == Running("listening", "running", 0)
    board.publish(Running("stopped", "off", 12))
    assert board.read() == Running("stopped", "off", 12)
