"""The lessons layer: one module per lesson topic, on top of core, servers and load.

simul         01  the chess simul, played for real and scaled down
pools         02  threads and processes: staircase, GIL, mixed pools
costs         02  what a thread and a process worker cost
sync_workers  03  gunicorn sync workers under load: sweeps of workers x clients
aio           04  asyncio from the inside: traced tasks, loop lag, debug mode, many requests
nested_demo   04  nest_asyncio, shown in a child process only

A lesson module imports the layers below it and never another lesson module
(tests/test_layers.py).
"""
