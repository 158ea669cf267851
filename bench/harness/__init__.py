"""The sshchat benchmark harness; ``bench/run.py`` is its command line.

* ``settings``: scenario names, sizes (full, smoke), limits and targets;
* ``measure``: /proc readings (RSS, CPU) and statistics;
* ``servers``: the servers under test (sshchat, the floor), their configs and code;
* ``pool``: the Python load generator (``bench/loadgen.py`` workers) driving code;
* ``gogen``: the Go load generator (``../shared/loadgen-go``): build, run, read its figures;
* ``profiling``: py-spy during measured windows;
* ``bench``: what scenarios share (a server with its load generator, the fan-out window);
* ``scenarios``: one module per scenario family;
* ``report``: the table, the targets and the plot;
* ``cli``: options and the run.
"""
