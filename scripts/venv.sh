# Sourced by scripts/demo.sh and scripts/test.sh: make sure .venv exists and matches pyproject.toml
# and the hash-pinned requirements-test.lock (scripts/lock.sh). Needs only python3 (3.11+) with
# its venv module; everything else comes from PyPI, exactly the pinned files.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
stamp="$venv/.installed-from"
want="$(cat "$repo/pyproject.toml" "$repo/requirements-test.lock" | python3 -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setting up $venv (first run takes a minute)..." >&2
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
    "$venv/bin/python" -m pip install --quiet --require-hashes -r "$repo/requirements-test.lock" >&2
    "$venv/bin/python" -m pip install --quiet --no-deps -e "$repo" >&2
    echo "$want" > "$stamp"
fi
