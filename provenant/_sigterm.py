"""
Flush recorded events to local disk when the process is told to terminate (SIGTERM).

A ``multiprocessing`` pool ends its workers with SIGTERM when its ``with`` block exits,
a container runtime stops a process with it, a prefork server recycles a worker with
it: the default action ends the process at once, and events still in the in-memory
queue (the last ~50 ms of recording) would be lost. :func:`watch` installs a handler,
only when the host left SIGTERM at its default action and only from the main thread,
that writes what is queued to the destination's local file (the spool, or the
embedded store: never the network) within :data:`FLUSH_BOUND_S`, then restores the
default action and raises the signal again, so the process ends as it would have.

A worker that multiprocessing forked and that ends on its own (a pool's worker told to
stop, ``maxtasksperchild``) leaves through ``os._exit()``, which skips ``atexit``: a
multiprocessing finalizer registered in each such worker flushes the same way.

A host that installs its own SIGTERM handler, before or after, keeps it (ours is not
installed, or is replaced). ``flush_on_sigterm=False`` or ``PROVENANT_FLUSH_ON_SIGTERM=
false`` opts out.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import weakref
from typing import Any, Optional, Tuple

__all__ = ["FLUSH_BOUND_S", "keep_off_this_thread", "watch"]

#: The longest a terminating process waits for its events to reach the local disk.
FLUSH_BOUND_S = 5.0

_flushers: weakref.WeakSet[Any] = weakref.WeakSet()
_installed = False


def keep_off_this_thread() -> None:
    """
    Block SIGTERM in the calling thread (one of ours: an exporter worker, the forwarder).

    The kernel hands a process's signal to any thread that does not block it; Python
    runs its handler only on the main thread, and a main thread waiting in a lock
    (a pool's worker waiting for a task) is woken only when the signal reaches it. Our
    threads never take it, so it does, and the process ends as it should.
    """
    with contextlib.suppress(AttributeError, ValueError, OSError):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def watch(processor: Any) -> None:
    """
    Flush ``processor`` (its ``flush(timeout, to_destination=False)``) on SIGTERM, once
    the handler is installed (see the module's docstring).
    """
    _flushers.add(processor)
    _install()
    # A worker a multiprocessing pool forked ends with os._exit() when it is told to
    # stop (no atexit): a multiprocessing finalizer flushes then, registered here (a
    # client built in the worker) and after each fork (one built before it).
    import multiprocessing.util as mp_util

    _finalize_here(processor)
    mp_util.register_after_fork(processor, _finalize_here)


def _finalize_here(processor: Any) -> None:
    """Flush ``processor`` to local disk when multiprocessing ends this process."""
    import multiprocessing.util as mp_util

    ref = weakref.ref(processor)

    def flush_locally() -> None:
        alive = ref()
        if alive is not None:
            with contextlib.suppress(Exception):
                alive.flush(FLUSH_BOUND_S, to_destination=False)

    mp_util.Finalize(processor, flush_locally, exitpriority=100)


def _install() -> None:
    global _installed
    if _installed or not hasattr(signal, "SIGTERM"):
        return
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may; a later client built there installs it
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # the host handles SIGTERM itself: leave it alone
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # not the main interpreter, say
        return
    _installed = True
    _start_nudger()
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_start_nudger)


# The nudger: a signal that reaches the main thread just before it blocks in a lock
# (between a pool worker's try of its queue's lock and its wait for it) interrupts
# nothing, and Python's handler would wait for the main thread's next step, for ever.
# The signal module writes each signal's number to the wakeup file descriptor; a
# thread of ours reads it and, while the handler has not begun, signals the main
# thread again (a wait there is interrupted, and the handler runs).
_handling = False
_nudge_pipe: Optional[Tuple[int, int]] = None


def _start_nudger() -> None:
    """Set up the wakeup pipe and its reader thread (in this process, or a forked child:
    each process its own, so a child's signal never nudges its parent)."""
    global _nudge_pipe, _handling
    _handling = False
    if threading.current_thread() is not threading.main_thread():
        return
    old_pipe, _nudge_pipe = _nudge_pipe, None
    try:
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        if (old_pipe is None and previous != -1) or (
            old_pipe is not None
            and previous
            not in (
                -1,
                old_pipe[1],
            )
        ):
            signal.set_wakeup_fd(previous)  # someone else's (asyncio's): leave it
            os.close(read_fd)
            os.close(write_fd)
            return
        _nudge_pipe = (read_fd, write_fd)
        threading.Thread(
            target=_nudge, args=(read_fd,), name="provenant-sigterm", daemon=True
        ).start()
    except (ValueError, OSError, RuntimeError):
        return
    if old_pipe is not None:  # the parent's pipe, inherited by a fork: not ours
        for fd in old_pipe:
            with contextlib.suppress(OSError):
                os.close(fd)


def _nudge(read_fd: int) -> None:
    keep_off_this_thread()
    while True:
        try:
            data = os.read(read_fd, 64)
        except OSError:
            return
        if not data:
            return
        if signal.SIGTERM not in data:
            continue
        main = threading.main_thread().ident
        for _ in range(20):
            time.sleep(0.1)
            if _handling or main is None:
                break
            with contextlib.suppress(OSError, ValueError):
                signal.pthread_kill(main, signal.SIGTERM)


def _on_sigterm(signum: int, frame: Optional[Any]) -> None:
    """
    Let the exporter threads write what is queued to local disk (bounded), then end as
    SIGTERM's default does.

    A handler runs between two steps of the main thread, which may hold any lock then
    (an event's, say): it takes none, and only watches the queues empty (the workers
    poll them) while it sleeps.
    """
    global _handling
    _handling = True
    deadline = time.monotonic() + FLUSH_BOUND_S
    processors = list(_flushers)
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # never keep a process from ending
            if all(processor._idle() for processor in processors):
                break
        time.sleep(0.005)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
