#!/usr/bin/env bash
# Idempotent set-up shared by the README's two commands.
#   scripts/setup.sh [extras]     e.g. scripts/setup.sh test,bench
# Creates .venv with Python 3.11, installs the package (editable) with the
# given extras, and, when run as root, the Debian plugin packages the host
# tests use. Re-running is fast: each step is skipped when its inputs have not
# changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${1:-}"
venv="$root/.venv"

# 1. Debian packages (real third-party plugins for the host tests).
debs=(lsp-plugins-vst dragonfly-reverb-vst zam-plugins)
missing=()
for p in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = "0" ]; then
        echo "setup: installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
            apt-get update -q >/dev/null
            apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
        }
    else
        echo "setup: not root, so not installing ${missing[*]}; host tests that need them will skip (and fail under CI=1)" >&2
    fi
fi

# 2. Virtual environment.
py="${PYTHON:-python3.11}"
command -v "$py" >/dev/null 2>&1 || py=python3
if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating $venv"
    "$py" -m venv "$venv"
fi

# 3. The package, re-installed only when pyproject.toml or this script change, or
#    when extras are asked for that the last install did not include.
stamp="$venv/.setup-stamp"
hash="$(cat "$root/pyproject.toml" "$root/scripts/setup.sh" | sha256sum | cut -c1-16)"
have_hash="$(sed -n 1p "$stamp" 2>/dev/null || true)"
have_extras="$(sed -n 2p "$stamp" 2>/dev/null || true)"
need=0
[ "$hash" = "$have_hash" ] || need=1
for e in ${extras//,/ }; do
    case ",$have_extras," in *",$e,"*) ;; *) need=1 ;; esac
done
if [ "$need" = 1 ]; then
    # keep extras installed earlier (a demo run after the tests must not drop them)
    if [ "$hash" = "$have_hash" ] && [ -n "$have_extras" ]; then
        extras="$(printf '%s\n' ${extras//,/ } ${have_extras//,/ } | sort -u | paste -sd, -)"
    fi
    spec="$root"
    [ -n "$extras" ] && spec="$root[$extras]"
    echo "setup: installing neuromaster${extras:+[$extras]} into .venv (first run takes a minute)"
    log="$venv/setup.log"
    if ! { "$venv/bin/python" -m pip install --disable-pip-version-check --upgrade pip \
           && "$venv/bin/python" -m pip install --disable-pip-version-check -e "$spec"; } >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        echo "setup: pip install failed (full log: $log)" >&2
        exit 1
    fi
    "$venv/bin/python" -c "import neuromaster" || { echo "setup: neuromaster does not import after install" >&2; exit 1; }
    printf '%s\n%s\n' "$hash" "$extras" > "$stamp"
fi
