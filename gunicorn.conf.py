"""gunicorn's settings for welfare-post (gunicorn reads this file from the working directory).

    gunicorn                        # serves app:create_app() on 127.0.0.1:8000
    gunicorn --bind 0.0.0.0:8000 --workers 5

Command-line flags and GUNICORN_CMD_ARGS override these values.
"""

import os

wsgi_app = "app:create_app()"
bind = "127.0.0.1:8000"
# Requests are mostly Python work between short database round trips: one process per core
# (plus one to cover the waits), a few threads each.
workers = (os.cpu_count() or 1) + 1
worker_class = "gthread"
threads = 4
# A gthread worker accepts every connection that is waiting: without a cap, the first worker to
# wake takes most of a burst of phones' keep-alive connections and the others stay idle
# (measured with bench/carrier_load.py: one worker at 80 % CPU, two near 0 %). A cap of a few
# connections per thread spreads them; the rest wait in the listen backlog.
worker_connections = 4 * threads
keepalive = 5
timeout = 60
graceful_timeout = 30
# Restart each worker now and then, staggered, so slow leaks cannot build up.
max_requests = 20_000
max_requests_jitter = 2_000
