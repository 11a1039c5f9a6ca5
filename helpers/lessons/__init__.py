"""The lessons layer: one module per lesson topic, on top of core, servers and load.

simul         01  the chess simul, played for real and scaled down
pools         02  threads and processes: staircase, GIL, mixed pools
costs         02  what a thread and a process worker cost
sync_workers  03  gunicorn sync workers under load: sweeps of workers x clients
aio           04  asyncio from the inside: traced tasks, loop lag, debug mode, many requests
nested_demo   04  nest_asyncio, shown in a child process only
async_server  05  the async server against the sync one: sweeps, models, exercises
greenlets     06  greenlets and gevent in the kernel (unpatched), and the runs of gevent_child
gevent_child  06  the monkey-patched programs, each its own process (patched on its first line)
switching     07  the price of a switch and of a waiter: sweeps, fits, exercises
switch_probe  07  the micro-benchmarks, each in a fresh process

A lesson module imports the layers below it and never another lesson module
(tests/test_layers.py).
"""
