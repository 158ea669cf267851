"""Allow ``python -m sshchat``."""

from sshchat.cli.main import main

raise SystemExit(main())
