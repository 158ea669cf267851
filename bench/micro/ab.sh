#!/bin/sh
# Before/after, back to back and interleaved: bench/micro/ab.sh REV_BEFORE [ROUNDS] -- fanout.py args
# Runs bench/micro/fanout.py on sshchat/ as committed at REV_BEFORE and on the working tree,
# alternating ROUNDS times (default 3), so that both see the same machine load.
set -e
rev=$1; shift
rounds=3
if [ "$1" != "--" ]; then rounds=$1; shift; fi
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
py=${PYTHON:-$root/.venv/bin/python}
before=$(mktemp -d)
git -C "$root" archive "$rev" sshchat | tar -x -C "$before"
i=0
while [ $i -lt "$rounds" ]; do
    printf 'before %s: ' "$rev"; SSHCHAT_CODE=$before "$py" "$root/bench/micro/fanout.py" "$@"
    printf 'after:      '; SSHCHAT_CODE=$root "$py" "$root/bench/micro/fanout.py" "$@"
    i=$((i + 1))
done
rm -rf "$before"
