"""A backlog spread over forked processes: grouping by conversation, exactly-once
processing, replies that find the ticket their original opened, and the write turn."""

from __future__ import annotations

import base64
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from mailbot.process import Arrival, Outcome, OutcomeStatus
from mailbot.service.pool import (
    CHILD_NICENESS,
    Schedule,
    conversation_groups,
    processes_for,
    tasks,
)
from mailbot.service.runtime import Runtime
from mailbot.store import Inbound, Message, Outbox, Setting, session_scope
from tests.helpers import (
    BERLIN,
    STORE_BACKENDS,
    RuntimeFactory,
    make_mail,
    outbox,
    tickets,
    write_config,
)

NOW = datetime(2026, 11, 24, 9, 35, tzinfo=BERLIN)


def test_mail_of_one_conversation_stays_in_one_group() -> None:
    original = make_mail("a@kanzlei-berg.example", "Drucker", "druckt nicht", msgid="<o1@berg>")
    reply = make_mail(
        "b@kanzlei-berg.example", "AW: Drucker", "immer noch nicht", msgid="<r1@berg>",
        headers={"In-Reply-To": "<o1@berg>", "References": "<o1@berg>"},
    )
    stranger = make_mail("c@praxis-kim.example", "Frage", "Wie geht VPN?", msgid="<s1@kim>")
    outlook_1 = make_mail(
        "d@autohaus-lenz.example", "Scanner", "geht nicht", msgid="<t1@lenz>",
        headers={"Thread-Index": "AdtBq2cFm9XkPZ0fQwq7mN1a2b3c4d=="},
    )
    outlook_2 = make_mail(
        "e@autohaus-lenz.example", "AW: Scanner", "noch da", msgid="<t2@lenz>",
        # The same conversation header and one reply block, as Outlook writes a reply.
        headers={"Thread-Index": base64.b64encode(
            base64.b64decode("AdtBq2cFm9XkPZ0fQwq7mN1a2b3c4d==") + b"\x00\x00\x5b\x8d\x10"
        ).decode()},
    )
    tagged_1 = make_mail("f@spedition-ott.example", "[#1007] Lager", "x", msgid="<g1@ott>")
    tagged_2 = make_mail("g@spedition-ott.example", "Re: [#1007] Lager", "y", msgid="<g2@ott>")
    same_sender = make_mail("c@praxis-kim.example", "Noch was", "Drucker", msgid="<s2@kim>")
    groups = conversation_groups(
        enumerate(
            [original, stranger, outlook_1, reply, tagged_1, outlook_2, tagged_2, same_sender],
            start=1,
        )
    )
    assert groups == [[1, 4], [2, 8], [3, 6], [5, 7]]


def test_unreadable_headers_make_a_group_of_their_own() -> None:
    groups = conversation_groups([(1, b"\xff\xfe\x00garbage"), (2, b"")])
    assert groups == [[1], [2]]


def test_tasks_keep_groups_whole_and_in_order() -> None:
    groups = [[1], [2, 9], [3], [4, 5, 6, 7, 8], [10]]
    assert tasks(groups, size=3) == [[1, 2, 9], [3], [4, 5, 6, 7, 8], [10]]
    assert [i for t in tasks(groups, size=3) for i in t] == [1, 2, 9, 3, 4, 5, 6, 7, 8, 10]


def _mail(i: int, *tokens: str) -> tuple[int, frozenset[str]]:
    return i, frozenset(tokens)


def test_the_schedule_holds_back_mail_of_a_conversation_in_flight() -> None:
    schedule = Schedule(size=2)
    schedule.add([_mail(1, "from:a"), _mail(2, "from:b"), _mail(3, "from:c")])
    first, second = schedule.next_task(), schedule.next_task()
    assert (first, second, schedule.next_task()) == ([1, 2], [3], None)
    # Arriving while both tasks are out: a's reply waits, d goes at once.
    schedule.add([_mail(4, "from:x", "<m1>"), _mail(5, "from:a"), _mail(6, "from:d")])
    assert schedule.next_task() == [4, 6]
    assert schedule.next_task() is None and schedule.waiting == 1
    schedule.done([3])  # c's task says nothing about a
    assert schedule.next_task() is None
    schedule.done([1, 2])
    assert schedule.next_task() == [5]
    assert schedule.waiting == 0 and schedule.next_task() is None


def test_held_back_mail_and_later_mail_of_its_conversation_go_together_in_order() -> None:
    schedule = Schedule(size=10)
    schedule.add([_mail(1, "from:a", "<o1>"), _mail(2, "from:a", "<o2>")])
    assert schedule.next_task() == [1, 2]
    # 3 refers to 1 (in flight); 4 shares only 3's sender; 5 refers to 4.
    schedule.add([_mail(3, "from:b", "<o1>"), _mail(4, "from:b", "<o4>")])
    assert schedule.next_task() is None
    schedule.add([_mail(5, "from:c", "<o4>"), _mail(6, "from:e")])
    assert schedule.next_task() == [6]
    schedule.done([1, 2])
    assert schedule.next_task() == [3, 4, 5]


def test_a_finished_task_frees_a_token_its_mails_shared() -> None:
    schedule = Schedule(size=10)
    schedule.add([_mail(1, "from:a"), _mail(2, "from:a"), _mail(3, "from:a")])
    assert schedule.next_task() == [1, 2, 3]
    schedule.add([_mail(4, "from:a")])
    assert schedule.next_task() is None
    schedule.done([1, 2, 3])
    assert schedule.next_task() == [4]


def _held_elsewhere(lock_file: Path) -> bool:
    """Whether another process holds the write turn (asked from a fresh process: a
    record lock never blocks its own process)."""
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n"
        "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except OSError:\n"
        "    sys.exit(3)\n"
    )
    return subprocess.run([sys.executable, "-c", probe, str(lock_file)]).returncode == 3


@pytest.fixture(params=STORE_BACKENDS)
def two_process_desk(request: pytest.FixtureRequest, runtime: RuntimeFactory) -> Runtime:
    return runtime(store=request.param, processes=2, clock=lambda: NOW)


def _original(i: int, subject: str, text: str) -> bytes:
    return make_mail(
        f"user{i}@kunde{i}.example", f"{subject} {i}", text, msgid=f"<orig{i}@kunde{i}.example>"
    )


def _reply(i: int, subject: str, text: str) -> bytes:
    """A colleague's reply to :func:`_original` ``i``, from another address."""
    return make_mail(
        f"chef{i}@kunde{i}.example", f"AW: {subject} {i}", text,
        msgid=f"<reply{i}@kunde{i}.example>",
        headers={
            "In-Reply-To": f"<orig{i}@kunde{i}.example>",
            "References": f"<orig{i}@kunde{i}.example>",
        },
    )


def test_a_backlog_on_two_processes_is_handled_once_and_threads_stay_whole(
    two_process_desk: Runtime,
) -> None:
    rt = two_process_desk
    originals = [_original(i, "Monitor flackert", "Der Monitor flackert.") for i in range(90)]
    # Each reply lands after other customers' mail, so only the grouping keeps it
    # behind its original.
    replies = [_reply(i, "Monitor flackert", "Bei mir auch.") for i in range(0, 90, 3)]
    assert rt.ingest(originals + replies) == 120
    summary = rt.drain()
    assert rt._pool is not None, "a backlog of 120 should have been spread over processes"
    assert (summary.processed, summary.quarantined) == (120, 0)
    with Session(rt.engine) as s:
        assert {r.status for r in s.exec(select(Inbound)).all()} == {"processed"}
        assert len(tickets(s)) == 90
        by_msgid = {m.message_id: m.ticket_id for m in s.exec(select(Message)).all()}
        for i in range(0, 90, 3):
            assert by_msgid[f"<reply{i}@kunde{i}.example>"] == by_msgid[
                f"<orig{i}@kunde{i}.example>"
            ]
        acks = outbox(s, "ack")
        queued = s.exec(select(Outbox)).all()
    # Every customer heard once for the new ticket; the colleagues' replies added
    # nothing new, so they were not answered again. Everything queued went out.
    assert len(acks) == 90
    assert len({a.to[0] for a in acks}) == 90
    assert {o.status for o in queued} == {"sent"}
    assert summary.sent == len(queued)


def test_mail_stored_while_the_pool_runs_is_taken_in_the_same_run(
    two_process_desk: Runtime,
) -> None:
    rt = two_process_desk
    rt.ingest([_original(i, "Drucker", "Der Drucker druckt nicht.") for i in range(60)])
    replies = [_reply(i, "Drucker", "Immer noch nicht.") for i in range(0, 60, 2)]
    newcomers = [
        make_mail(f"neu{i}@praxis{i}.example", f"VPN {i}", "Wie geht das?") for i in range(20)
    ]
    pool = rt._start_pool()
    assert pool is not None
    ids = rt.processor.pending()
    reported: list[Outcome] = []
    for number, outcomes in enumerate(pool.run(rt.engine, ids)):
        if number == 0:  # as a fetch would store its next batch
            assert rt.ingest(replies + newcomers) == 50
        reported.extend(outcomes)
    assert len(reported) == 110
    assert {o.status for o in reported} == {"processed"}
    with Session(rt.engine) as s:
        stored = s.exec(select(Inbound)).all()
        assert sorted(o.inbound_id for o in reported) == sorted(r.id for r in stored)
        assert {r.status for r in stored} == {"processed"}
        assert len(tickets(s)) == 80
        by_msgid = {m.message_id: m.ticket_id for m in s.exec(select(Message)).all()}
    for i in range(0, 60, 2):
        assert by_msgid[f"<reply{i}@kunde{i}.example>"] == by_msgid[f"<orig{i}@kunde{i}.example>"]


def test_writers_take_turns(tmp_path: Path) -> None:
    """Two threads writing at once: the second starts only after the first committed."""
    rt = Runtime.open(write_config(tmp_path), clock=lambda: NOW)
    order: list[str] = []
    first_in = threading.Event()

    lock_file = tmp_path / "mailbot.db.lock"
    held_in_kernel: list[bool] = []

    def writer(name: str, hold: float) -> None:
        with session_scope(rt.engine) as s:
            order.append(f"{name} in")
            if name == "a":
                # The turn is the lock beside the database, not only SQLite's own lock.
                held_in_kernel.append(_held_elsewhere(lock_file))
            first_in.set()
            s.add(Setting(key=name, value="x"))
            time.sleep(hold)
            order.append(f"{name} out")

    a = threading.Thread(target=writer, args=("a", 0.3))
    a.start()
    first_in.wait(5)
    b = threading.Thread(target=writer, args=("b", 0.0))
    b.start()
    a.join()
    b.join()
    rt.close()
    assert order == ["a in", "a out", "b in", "b out"]
    assert held_in_kernel == [True]


def test_a_child_that_dies_mid_task_costs_no_mail(runtime: RuntimeFactory) -> None:
    """A forked process killed in the middle of a mail (out of memory, say): its mail
    was never committed, so this process carries on alone and handles it once."""
    rt = runtime(processes=2, clock=lambda: NOW)
    raws = [
        make_mail(f"kunde{i}@firma{i}.example", f"Drucker {i}", "Der Drucker streikt.")
        for i in range(80)
    ]
    rt.ingest(raws)
    parent = os.getpid()
    processor = rt.processor
    original = processor.process_one
    with Session(rt.engine) as s:
        victim = sorted(i for i in s.exec(select(Inbound.id)).all() if i is not None)[30]

    def dying(
        inbound_id: int, now: datetime | None = None, *, arrival: Arrival | None = None
    ) -> Outcome:
        if inbound_id == victim and os.getpid() != parent:
            os._exit(1)
        return original(inbound_id, now, arrival=arrival)

    processor.process_one = dying  # type: ignore[method-assign]
    pool = rt._start_pool()
    assert pool is not None
    pool.grace, pool.seconds_per_mail = 1.0, 0.05
    summary = rt.drain()
    rt.close()
    assert rt._pool is None and rt._pool_disabled
    # The lost child's task is not reported, though the mails it committed before
    # dying count in the store: the store is the truth.
    assert 80 - 25 <= summary.processed <= 80 and summary.quarantined == 0
    with Session(rt.engine) as s:
        assert {r.status for r in s.exec(select(Inbound)).all()} == {"processed"}
        assert len(tickets(s)) == 80


def test_the_children_yield_the_cpu_to_the_fetching_and_sending_parent(
    runtime: RuntimeFactory,
) -> None:
    rt = runtime(processes=2, clock=lambda: NOW)
    rt.ingest([make_mail(f"k{i}@firma{i}.example", f"Frage {i}", "Hallo") for i in range(6)])

    def priority(
        inbound_id: int, now: datetime | None = None, *, arrival: Arrival | None = None
    ) -> Outcome:
        niceness = os.getpriority(os.PRIO_PROCESS, 0)
        return Outcome(inbound_id, OutcomeStatus.SKIPPED, detail=str(niceness))

    rt.processor.process_one = priority  # type: ignore[method-assign]
    pool = rt._start_pool()
    assert pool is not None
    try:
        with Session(rt.engine) as s:
            ids = [i for i in s.exec(select(Inbound.id)).all() if i is not None]
        seen = {o.detail for task in pool.run(rt.engine, ids) for o in task}
    finally:
        rt.close()
    parent = os.getpriority(os.PRIO_PROCESS, 0)
    assert seen == {str(min(19, parent + CHILD_NICENESS))}
    assert parent < 19


def test_process_count_follows_the_setting_or_the_usable_cores() -> None:
    assert processes_for(3) == 3
    assert processes_for(1) == 1
    assert 1 <= processes_for(0) <= min(8, len(os.sched_getaffinity(0)))


def test_a_fork_while_writing_does_not_keep_the_turn(tmp_path: Path) -> None:
    """A child forked while a thread holds the write turn (the pool's replacement of a
    dead child, say) must not hold it after the parent's transaction ends."""
    rt = Runtime.open(write_config(tmp_path), clock=lambda: NOW)
    lock_file = tmp_path / "mailbot.db.lock"
    child: multiprocessing.process.BaseProcess | None = None
    with session_scope(rt.engine) as s:
        s.add(Setting(key="during-fork", value="x"))
        child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(5,))
        child.start()
        assert _held_elsewhere(lock_file)
    try:
        assert child.is_alive()
        assert not _held_elsewhere(lock_file)
        with session_scope(rt.engine) as s:  # and this process writes again at once
            s.add(Setting(key="after-fork", value="y"))
    finally:
        child.kill()
        child.join()
        rt.close()
