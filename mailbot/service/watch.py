"""The service's fetching side: one thread per mailbox that, while this worker holds
the mailbox's lease (:mod:`mailbot.inbound.leader`), keeps the IDLE connection,
fetches and wakes the processing loop.

Several workers may serve the same mailboxes and store; the lease makes one of them
fetch per mailbox, and a worker that died is replaced once its lease ran out.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence

from sqlalchemy.engine import Engine

from mailbot.config import ImapConfig
from mailbot.inbound.imap import ClientFactory, connect
from mailbot.inbound.leader import LeaderLease

log = logging.getLogger(__name__)

#: a fetching worker that died is replaced after this long
LEASE_SECONDS = 30.0


def worker_name() -> str:
    """Who holds a lease: readable for operators, unique across restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def start_watching(
    boxes: Sequence[ImapConfig],
    engine: Engine,
    worker: str,
    stop: threading.Event,
    wake: threading.Event,
    client_factory: ClientFactory = connect,
) -> list[threading.Thread]:
    """One started :func:`follow` thread per mailbox."""
    threads = [
        threading.Thread(
            target=follow,
            args=(box, engine, worker, stop, wake, client_factory),
            name=f"fetch-{box.name}",
            daemon=True,
        )
        for box in boxes
    ]
    for thread in threads:
        thread.start()
    return threads


def follow(
    box: ImapConfig,
    engine: Engine,
    worker: str,
    stop: threading.Event,
    wake: threading.Event,
    client_factory: ClientFactory = connect,
) -> None:
    """Until ``stop``: wait for the mailbox's lease, then IDLE and fetch while it holds."""
    lease = LeaderLease(engine, box.name, worker, ttl=LEASE_SECONDS)
    while not stop.is_set():
        if _lead(lease, box.name):
            log.info("%s: this worker fetches (%s)", box.name, worker)
            _fetch_while_leading(box, engine, lease, stop, wake, client_factory)
        else:
            stop.wait(LEASE_SECONDS / 3)
    try:
        lease.release()
    except Exception:
        log.warning("%s: could not release the lease; it runs out by itself", box.name)


def _lead(lease: LeaderLease, name: str) -> bool:
    try:
        return lease.acquire()
    except Exception:
        log.exception("%s: lease check failed", name)
        return False


def _fetch_while_leading(
    box: ImapConfig,
    engine: Engine,
    lease: LeaderLease,
    stop: threading.Event,
    wake: threading.Event,
    client_factory: ClientFactory,
) -> None:
    from mailbot.inbound.idle import watch

    box_stop = threading.Event()
    renewer = threading.Thread(
        target=_renew, args=(lease, stop, box_stop), daemon=True, name=f"lease-{box.name}"
    )
    renewer.start()
    for report in watch(box, engine, box_stop, client_factory=client_factory):
        if report.stored or report.too_large:
            wake.set()
    box_stop.set()
    renewer.join(timeout=5)


def _renew(lease: LeaderLease, stop: threading.Event, box_stop: threading.Event) -> None:
    """Renew the lease until the fetch ends; end the fetch when the lease is lost."""
    while not box_stop.is_set():
        if stop.wait(LEASE_SECONDS / 6):
            box_stop.set()
            return
        try:
            still = lease.acquire()
        except Exception:
            # The store is away: nobody else can take the lease either; keep going.
            log.warning("lease renewal failed; retrying")
            continue
        if not still:
            log.warning("lease lost to another worker; stopping the fetch here")
            box_stop.set()
