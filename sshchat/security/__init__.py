"""Passwords, authorized keys, admission control and the login throttle."""
