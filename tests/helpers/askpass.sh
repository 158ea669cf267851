#!/bin/sh
# SSH_ASKPASS for the tests that run the real ssh without a terminal
# (helpers/openssh.py, open_ssh): the password of that one ssh process.
printf "%s\n" "$SSHCHAT_TEST_PASSWORD"
