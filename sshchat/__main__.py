"""Allow ``python -m sshchat``."""

from sshchat.cli import main

raise SystemExit(main())
