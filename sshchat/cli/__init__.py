"""The `sshchat` command line (entry point: :func:`sshchat.cli.main.main`)."""
