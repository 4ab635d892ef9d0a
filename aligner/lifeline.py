"""Worker processes that die with their parent.

A `ProcessPoolExecutor` shuts its workers down when the parent exits normally, but a parent
killed with SIGKILL runs no cleanup: its spawn workers are reparented to init and sit idle
forever. `die_with_parent(pid)`, run as the pool's initializer, ends a worker when `pid` goes:
  - on Linux, `prctl(PR_SET_PDEATHSIG, SIGKILL)` asks the kernel to kill the worker the moment
    its parent exits (no polling);
  - everywhere (and as a fallback when prctl is unavailable), a daemon thread polls the parent
    pid and exits the worker once the parent is gone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WATCH_INTERVAL_S = 0.5  # how often the fallback watchdog looks at the parent pid
ORPHAN_EXIT_CODE = 70  # a worker that exits because its parent died (EX_SOFTWARE)


def die_with_parent(parent_pid: int) -> None:
    """Make this process exit when `parent_pid` exits; call it first thing in a child."""
    _set_parent_death_signal()
    if not _parent_alive(parent_pid):  # the parent died before the signal was armed
        os._exit(ORPHAN_EXIT_CODE)
    watchdog = threading.Thread(
        target=_watch, args=(parent_pid,), name="parent-watchdog", daemon=True
    )
    watchdog.start()


def _set_parent_death_signal() -> bool:
    """Arm PR_SET_PDEATHSIG on Linux; False where it does not exist."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _parent_alive(parent_pid: int) -> bool:
    # reparenting (to init or a subreaper) is the portable sign that the parent is gone; the
    # pid check covers platforms where getppid keeps answering the old pid
    if os.getppid() != parent_pid:
        return False
    try:
        os.kill(parent_pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _watch(parent_pid: int) -> None:
    while _parent_alive(parent_pid):
        time.sleep(WATCH_INTERVAL_S)
    os._exit(ORPHAN_EXIT_CODE)
