"""Cluster mode: several sshchat nodes, one chat, through a replicated log in Redis."""
