"""gunicorn's settings for welfare-post (gunicorn reads this file from the working directory).

    gunicorn                        # serves app:create_app() on 127.0.0.1:8000
    gunicorn --bind 0.0.0.0:8000 --workers 5

Command-line flags and GUNICORN_CMD_ARGS override these values.
"""

import os

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
