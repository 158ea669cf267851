#!/usr/bin/env python3
"""sshchat benchmark: one command runs every scenario and writes the results.

    python bench/run.py                      # everything (< 10 minutes)
    python bench/run.py --smoke              # tiny load, a few seconds per scenario
    python bench/run.py --only fanout,floor  # some scenarios
    python bench/run.py --profile            # also py-spy the server in each measured window

Writes ``bench/results.json`` (``--output``), prints a table and draws
``bench/plot.png`` (``--plot``; needs matplotlib, ``pip install -e '.[bench]'``).

Each scenario starts its own server, ``python -m sshchat serve --config <temp>``
on 127.0.0.1 port 0 (the port is read from its log), with users bench0..benchN-1
who all log in with one ed25519 key, plus ``benchpw`` who logs in with a
password (argon2id, library-default cost). The load comes from a few
``bench/loadgen.py`` worker processes; the driver only coordinates them and
reads the server's RSS and CPU time from ``/proc``. See ``bench/README.md`` for
what each scenario does and ``bench/RESULTS.md`` for measured figures.

The code is in the ``bench/harness`` package (its ``__init__`` lists the
modules); this file is only the entry point, so that the commands in the README
keep working.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness.cli import main

if __name__ == "__main__":
    sys.exit(main())
