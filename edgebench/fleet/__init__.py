"""The fleet: one benchmark matrix over many devices, on Dask distributed.

Each device runs one Dask worker (`edgebench fleet worker`) with one thread, so it runs one
benchmark at a time. The worker advertises its device as Dask resources (`device:NAME` = 1,
plus one capability resource per kind of target it can run: `cpu`, `cuda`, `edgetpu`, ...) and
publishes what it is (fingerprint, hardware, available targets) as worker metadata when it
registers. A client (`edgebench fleet run`) expands models x devices x targets into one job per
(model, device), pins each with `resources={"device:NAME": 1}`, follows their progress through
Dask's event topics, and stores each RunResult as it comes back.

Modules: `names` (device names, resources, topics: no Dask import), `security` (addresses, the
loopback rule, TLS certificates), `device` (what a worker publishes), `matrix` (the pure
expansion into jobs), `job` (what runs on the worker; the benchmark itself runs in a child
process, `child`), `worker` (the worker and scheduler processes), `client` (connecting, status),
`orchestrate` (a fleet run: submit, follow, fail by name, store).
"""
