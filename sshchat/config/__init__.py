"""The TOML configuration: schema and loading, and the `sshchat user` editor."""
