"""The dispatcher's day: due items become a plan, solved by the worker, edited and published.

A plan is a job: starting one stores its stops and carriers and queues an outbox message; the
worker (`flask outbox run`) solves it in a separate process and writes the routes back. Edits
(move, lock) and an urgent visit that fits into the routes as they stand are timed at once
without a search; re-optimising (and an urgent visit that does not fit) goes through the worker
again. Publishing tells the carriers (push through the outbox).
"""
