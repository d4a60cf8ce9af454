"""gunicorn's settings for welfare-post (gunicorn reads this file from the working directory).

    gunicorn                        # serves app:create_app() on 127.0.0.1:8000
    gunicorn --bind 0.0.0.0:8000 --workers 5

Command-line flags and GUNICORN_CMD_ARGS override these values.
"""

import ctypes
import os
import signal
import sys
from typing import Any

from core.config import Config, is_per_process_storage

# Rate limits are counted once for all workers: in Redis unless told otherwise (core/config.py
# refuses a per-process store in production whatever the server).
os.environ.setdefault("WELFARE_RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379")

wsgi_app = "app:create_app()"
bind = "127.0.0.1:8000"
# Requests are mostly Python work between short database round trips: two processes per core,
# two threads each (bench/carrier_load.py on 2 cores: 4x2 and 5x2 served ~200-260 uploads/s,
# 3x4 ~165-215/s: fewer threads per process contend less for the GIL).
workers = 2 * (os.cpu_count() or 1)
worker_class = "gthread"
threads = 2
# A gthread worker accepts every connection that is waiting: without a cap, the first worker to
# wake takes most of a burst of phones' keep-alive connections and the others stay idle
# (measured with bench/carrier_load.py: one worker at 80 % CPU, two near 0 %). A cap spreads
# them; the rest wait in the listen backlog until a connection is idle for `keepalive` seconds.
worker_connections = 16
keepalive = 5
timeout = 60
graceful_timeout = 30
# Restart each worker now and then, staggered, so slow leaks cannot build up.
max_requests = 20_000
max_requests_jitter = 2_000


# A worker outlives a SIGKILLed master (OOM killer, `kill -9`) and keeps the listening socket,
# so a new gunicorn cannot bind the port: gunicorn's own check notices the new parent within a
# second but then drains keep-alive connections for up to graceful_timeout (measured: 30 s under
# phones' load), and even SIGQUIT's quick shutdown waits for threads reading idle connections
# (7 s). So the kernel kills the worker with its master: requests in progress are cut, as when
# the master kills a stuck worker, and phones send them again (uploads are idempotent). The
# signal follows the thread that forked: gunicorn forks workers from the master's main thread.
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def post_fork(server: Any, worker: Any) -> None:
    """Make the worker die with its master (Linux; elsewhere gunicorn's own check remains)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        server.log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    elif os.getppid() != server.pid:
        sys.exit(0)  # the master died between fork and prctl: no signal will come


def on_starting(server: Any) -> None:
    """Refuse several workers that would each count rate limits in their own memory."""
    uri = os.environ.get("WELFARE_RATELIMIT_STORAGE_URI", Config.RATELIMIT_STORAGE_URI)
    if server.cfg.workers > 1 and is_per_process_storage(uri):
        raise RuntimeError(
            f"WELFARE_RATELIMIT_STORAGE_URI={uri} counts per worker: with {server.cfg.workers} "
            f"workers every limit would be {server.cfg.workers} times higher. Use redis://… "
            "or --workers 1."
        )
