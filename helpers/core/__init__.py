"""The core layer: machinery every other layer uses. It imports nothing above it.

config     quick and full mode
checks     argument checks (loopback URLs, counts, milliseconds, seconds)
system     this machine: cores, GIL, limits (open files, somaxconn), packages, supported Pythons
procs      subprocesses that are always cleaned up; the one child-process runner
loops      asyncio or uvloop by name (uvloop.run, never a policy), for children and servers
executors  thread and process pools that always clean up
workloads  calibrated CPU burn and I/O wait (picklable, for any pool)
timing     Timer, repeat-and-median, the per-request frame, throughput and percentiles
progress   progress bars (tqdm, with a thread lock)
models     the ideal and queueing models drawn beside measurements
plots      timelines and sweeps, one consistent look
results    saving measurements to results/
ledger     verdicts and checks: printed and recorded in results/verdicts.jsonl
course     the notebooks and claims (generated course map)
exercises  self-checks for the exercises
"""
