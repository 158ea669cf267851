#!/bin/sh
# Before/after, back to back and interleaved: bench/micro/ab.sh REV_BEFORE [ROUNDS] -- fanout.py args
# Runs bench/micro/fanout.py on sshchat/ as committed at REV_BEFORE and on the working tree,
# alternating ROUNDS times (default 3), so that both see the same machine load.
# AB_SCRIPT=typed.py runs bench/micro/typed.py instead (CPU per typed line).
set -e
rev=$1; shift
rounds=3
if [ "$1" != "--" ]; then rounds=$1; shift; fi
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
py=${PYTHON:-$root/.venv/bin/python}
script=$root/bench/micro/${AB_SCRIPT:-fanout.py}
before=$(mktemp -d)
git -C "$root" archive "$rev" sshchat | tar -x -C "$before"
i=0
while [ $i -lt "$rounds" ]; do
    printf 'before %s: ' "$rev"; SSHCHAT_CODE=$before "$py" "$script" "$@"
    printf 'after:      '; SSHCHAT_CODE=$root "$py" "$script" "$@"
    i=$((i + 1))
done
rm -rf "$before"
