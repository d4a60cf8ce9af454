"""The pure VRP engine: VROOM-format problems in, VROOM-format answers out, solved with OR-Tools.

One model: problem (types) -> parse -> screen -> model (OR-Tools) -> schedule -> answers, driven
by solve; when a search stops before its limit, and why: stopping. Large problems: decompose
(solve_large) over whole_problem, partition, subproblem and merged_plan. Travel matrices:
matrix. The `flask routing solve` command: cli.
"""
