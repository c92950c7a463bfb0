"""pool: a backlog processed on every core.

Judging and storing one mail costs a few milliseconds of pure Python, and one
interpreter runs on one core. A holiday backlog or a mail storm is therefore split
over forked processes that inherit the loaded classifier (copy-on-write: no second
load, little extra memory). Each child runs the same ``Processor.process_one`` as a
single process would: one transaction per mail, the status check under the write
lock, quarantine on failure. The parent keeps fetching and sending.

Mail of one conversation must be seen in arrival order (a reply must find the
ticket its original opened, an alarm's recovery must find the alarm), so the
backlog is cut into groups that share a sender, a Message-ID they refer to, an
Outlook conversation or a ticket tag; a group never spans two children.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import re
import signal
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from multiprocessing.pool import AsyncResult, Pool
from typing import TYPE_CHECKING

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mailbot.mail.headers import HEADER_END, MESSAGE_ID, TICKET_TAG
from mailbot.mail.threadindex import root_of
from mailbot.store import Inbound, InboundStatus

if TYPE_CHECKING:
    from mailbot.process import Outcome, Processor

__all__ = ["PoolBroken", "ProcessPool", "Schedule", "conversation_groups", "tasks"]

log = logging.getLogger(__name__)

#: mails handed to a child at a time: small enough that acknowledgements leave early
#: and a stop takes effect soon, large enough that the hand-over costs little
TASK_SIZE = 25
_HEAD_LIMIT = 64 * 1024
_ADDRESS = re.compile(r"[^\s<>\"',;:@]+@[^\s<>\"',;:@]+")

#: how much lower the children's CPU priority is than the parent's. The parent does
#: the work somebody waits for (fetching, sending acknowledgements over SMTP round
#: trips); at equal priority it queued behind the children, acknowledgements piled up
#: and were sent after the backlog was judged, with cores idle (0.3-0.5 s of a
#: 1,000-mail drain; at this value 0.01-0.07 s).
CHILD_NICENESS = 10

#: the child's processor, set once by the initializer (each child has its own copy)
_child: tuple[Processor, Callable[[], datetime]] | None = None


def _die_with_parent() -> None:
    """A child whose parent was killed must not live on with claimed work."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the pool's pipes end them instead
        return


def _adopt(processor: Processor, clock: Callable[[], datetime], parent: int) -> None:
    global _child
    _die_with_parent()
    if os.getppid() != parent:
        os._exit(1)
    # The parent's pooled connections must not be shared across fork.
    processor.engine.dispose(close=False)
    # Ctrl-C goes to the whole process group; the parent decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError):  # a sandbox may refuse; the work is the same
        os.nice(CHILD_NICENESS)
    _child = (processor, clock)


def _run(ids: list[int]) -> list[Outcome]:
    assert _child is not None, "pool task outside a pool child"
    processor, clock = _child
    return list(processor.process_each(ids, now=clock))


def _tokens(raw: bytes) -> frozenset[str]:
    """What ties a mail to others in the same backlog: its sender, the Message-IDs it
    carries or refers to, its Outlook conversation and its ticket tag."""
    head = raw[:_HEAD_LIMIT]
    end = HEADER_END.search(head)
    if end:
        head = head[: end.end()]
    msg = BytesHeaderParser(policy=compat32).parsebytes(head)
    found: set[str] = set()
    for name in ("Message-ID", "In-Reply-To", "References"):
        for value in msg.get_all(name, []):
            found.update(m.lower() for m in MESSAGE_ID.findall(str(value)))
    sender = _ADDRESS.search(str(msg.get("From", "")))
    if sender:
        found.add("from:" + sender.group(0).lower())
    # The conversation's header block: the same for every reply of the thread, however
    # long after its start (a prefix of the base64 text would take in child bits).
    root = root_of(str(msg.get("Thread-Index", "")).strip())
    if root:
        found.add("ti:" + root)
    tag = TICKET_TAG.search(str(msg.get("Subject", "")))
    if tag:
        found.add("tag:" + tag.group(1))
    return frozenset(found)


def _mail_tokens(inbound_id: int, raw: bytes) -> frozenset[str]:
    """The grouping tokens of a stored mail; none for unreadable headers (the mail is
    then processed on its own)."""
    try:
        return _tokens(raw)
    except Exception:
        log.debug("inbound %s: no grouping tokens", inbound_id, exc_info=True)
        return frozenset()


def _grouped(mails: Sequence[tuple[int, frozenset[str]]]) -> list[list[int]]:
    """Ids grouped by shared tokens (union-find), each group in id order, groups
    ordered by their first id."""
    parent: dict[int, int] = {}
    owner: dict[str, int] = {}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for inbound_id, tokens in mails:
        parent[inbound_id] = inbound_id
        for token in tokens:
            other = owner.setdefault(token, inbound_id)
            a, b = root(other), root(inbound_id)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for inbound_id in sorted(parent):
        groups.setdefault(root(inbound_id), []).append(inbound_id)
    return sorted(groups.values(), key=lambda g: g[0])


def conversation_groups(mails: Iterable[tuple[int, bytes]]) -> list[list[int]]:
    """Inbound ids grouped by conversation, each group in id order, groups ordered by
    their first id."""
    return _grouped([(i, _mail_tokens(i, raw)) for i, raw in mails])


def tasks(groups: Sequence[list[int]], size: int = TASK_SIZE) -> list[list[int]]:
    """Whole groups packed into tasks of about ``size`` mails; a larger group (a
    monitoring storm from one sender) is one task of its own."""
    out: list[list[int]] = []
    current: list[int] = []
    for group in groups:
        if current and len(current) + len(group) > size:
            out.append(current)
            current = []
        current.extend(group)
    if current:
        out.append(current)
    return out


class Schedule:
    """Which mail may go to a child now, while more mail keeps arriving.

    A task holds whole conversations. Mail that shares a token with a task not yet
    finished waits until that task is done, so a conversation's mail is still seen in
    arrival order although the pool takes new mail while it runs (no pause between
    one stored batch and the next). Waiting mail is grouped again with what arrives
    later, so a conversation is never split between a waiting group and a new one.
    """

    def __init__(self, size: int = TASK_SIZE) -> None:
        self.size = size
        self._waiting: list[tuple[int, frozenset[str]]] = []
        self._tokens: dict[int, frozenset[str]] = {}
        #: tokens of the mail handed out (in ready tasks or in a child), with counts
        self._busy: Counter[str] = Counter()
        self._ready: deque[list[int]] = deque()

    def add(self, mails: Iterable[tuple[int, frozenset[str]]]) -> None:
        """Newly stored mail, in id order, with its grouping tokens."""
        self._waiting.extend(mails)

    @property
    def waiting(self) -> int:
        """Mail not yet handed out."""
        return len(self._waiting) + sum(len(t) for t in self._ready)

    def next_task(self) -> list[int] | None:
        """A task no unfinished task shares a conversation with; marked as handed out
        until :meth:`done`. None when all waiting mail is held back or there is none."""
        if not self._ready and self._waiting:
            self._release()
        return self._ready.popleft() if self._ready else None

    def done(self, task: Sequence[int]) -> None:
        """The task's mail is committed: its conversations are free again."""
        for inbound_id in task:
            for token in self._tokens.pop(inbound_id):
                left = self._busy[token] - 1
                if left:
                    self._busy[token] = left
                else:
                    del self._busy[token]

    def _release(self) -> None:
        tokens = dict(self._waiting)
        free: list[list[int]] = []
        held: list[tuple[int, frozenset[str]]] = []
        for group in _grouped(self._waiting):
            if any(t in self._busy for i in group for t in tokens[i]):
                held.extend((i, tokens[i]) for i in group)
            else:
                free.append(group)
                for i in group:
                    self._tokens[i] = tokens[i]
                    self._busy.update(tokens[i])
        self._waiting = held
        self._ready.extend(tasks(free, self.size))


class PoolBroken(RuntimeError):
    """A forked child stopped answering; its mail is still "new" (its transaction
    never committed) and is processed again."""


class ProcessPool:
    """Forked children that process inbound mail; the parent hands out tasks."""

    def __init__(
        self,
        processor: Processor,
        clock: Callable[[], datetime],
        processes: int,
        seconds_per_mail: float = 2.0,
        grace: float = 30.0,
    ) -> None:
        self.processes = processes
        self.grace = grace
        #: how long a task may take before its child counts as lost; generous, since a
        #: mail normally takes milliseconds and the tasks ahead of it count too
        self.seconds_per_mail = seconds_per_mail
        processor.warm()
        # Everything loaded so far (the classifier above all) is moved out of the
        # collector's sight: a child's full collection would otherwise walk, and
        # by touching every object copy, all the memory it shares with the parent.
        gc.collect()
        gc.freeze()
        context = multiprocessing.get_context("fork")
        self._pool: Pool = context.Pool(
            processes, initializer=_adopt, initargs=(processor, clock, os.getpid())
        )

    def run(
        self, engine: Engine, ids: Sequence[int], stop: Callable[[], bool] | None = None
    ) -> Iterator[list[Outcome]]:
        """Process ``ids``, and mail stored after them while this runs, and yield each
        task's outcomes as it completes, in the order the tasks were handed out.

        New mail is looked for whenever the schedule has nothing to hand out, so a
        fetch that stores batch after batch keeps the children busy without a pause
        between batches. At most two tasks per child are in flight, so a stop leaves
        the rest untouched (still "new") for the next run."""
        schedule = Schedule()
        seen = _load(engine, schedule, ids=ids)
        in_flight: list[tuple[list[int], AsyncResult[list[Outcome]]]] = []
        while True:
            while len(in_flight) < 2 * self.processes and not (stop and stop()):
                task = schedule.next_task()
                if task is None and seen is not None:
                    # Mail stored since: what shares a conversation with a task in
                    # flight waits for it; the rest can go now.
                    seen = _load(engine, schedule, after=seen) or seen
                    task = schedule.next_task()
                if task is None:
                    break
                in_flight.append((task, self._pool.apply_async(_run, (task,))))
            if not in_flight:
                return
            task, result = in_flight.pop(0)
            try:
                # A child killed in the middle of a task (out of memory, a crash in
                # C code) never answers: the pool would wait for ever.
                outcomes = result.get(timeout=self.task_timeout(len(task)))
            except multiprocessing.TimeoutError as exc:
                # Tasks the other children finished are committed: report them.
                for _, other in in_flight:
                    if other.ready() and other.successful():
                        yield other.get()
                raise PoolBroken(f"no answer for a task of {len(task)} mails") from exc
            schedule.done(task)
            yield outcomes

    def task_timeout(self, size: int) -> float:
        return self.grace + self.seconds_per_mail * size * 2 * self.processes

    def close(self) -> None:
        self._pool.close()
        self._pool.join()

    def abandon(self) -> None:
        """Kill the children and let the pool's own clean-up run in the background.

        ``Pool.terminate`` first takes the lock the children read tasks under; a child
        that died (or was forked beside a busy thread) may leave it taken, and the
        caller would wait for ever. The children are killed here; the pool's handler
        threads are daemons and end with the process if they cannot end sooner.
        """
        for worker in list(getattr(self._pool, "_pool", [])):
            if worker.is_alive():
                worker.kill()
        threading.Thread(target=self._pool.terminate, name="pool-end", daemon=True).start()


#: how many newly stored mails one look at the store adds to a running schedule
_LOAD_AT_MOST = 500


def _load(
    engine: Engine,
    schedule: Schedule,
    *,
    ids: Sequence[int] | None = None,
    after: int | None = None,
) -> int | None:
    """Add mail to ``schedule``: the given ``ids``, or mail still "new" with an id above
    ``after``. Returns the highest id added (None if nothing was)."""
    # The head is enough for grouping; a 25 MB mail is not read whole here.
    head = func.substr(Inbound.raw, 1, _HEAD_LIMIT)
    query = select(Inbound.id, head).order_by(col(Inbound.id))
    if ids is not None:
        query = query.where(col(Inbound.id).in_(list(ids)))
    else:
        query = query.where(Inbound.status == InboundStatus.NEW, col(Inbound.id) > after)
        query = query.limit(_LOAD_AT_MOST)
    with Session(engine) as session:
        mails = [
            (i, _mail_tokens(i, bytes(raw))) for i, raw in session.exec(query) if i is not None
        ]
    schedule.add(mails)
    return mails[-1][0] if mails else None


#: more processes than this only queue up for the store's write turn
_MOST = 8


def processes_for(setting: int) -> int:
    """``[limits] processes``: 0 means one per core this process may run on (a
    container's CPU set, not the host's count), at most eight."""
    if setting:
        return setting
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return min(cores, _MOST)
