"""The SSH edge: asyncssh server callbacks and sessions (the only place asyncssh is imported)."""
