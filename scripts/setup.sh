#!/usr/bin/env bash
# Idempotent set-up shared by the README's two commands.
#   scripts/setup.sh [extras]     e.g. scripts/setup.sh test,bench
# Creates .venv with Python 3.11 (required: set PYTHON to its path if it is
# not `python3.11` on PATH), installs the package (editable) with the given
# extras, and, when run as root, the Debian packages the host tests use (the
# plugin packages, gcc when no C compiler is there, python3.11-venv when
# python3.11 cannot create a venv). Re-running is fast: each step is skipped
# when its inputs have not changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${1:-}"
venv="$root/.venv"

is_root=0
[ "$(id -u)" = "0" ] && is_root=1

apt_install() {   # apt_install PACKAGE...: as root, quietly (apt-get update only when the lists are stale)
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends "$@" >/dev/null
    }
}

# 1. Debian packages: real third-party plugins for the host tests, and a C compiler (the
#    plugin-scan test builds plugins that crash and hang; it fails under CI=1 without one).
debs=(lsp-plugins-vst dragonfly-reverb-vst zam-plugins)
missing=()
for p in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then
    missing+=(gcc)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$is_root" = 1 ]; then
        echo "setup: installing Debian packages: ${missing[*]}"
        apt_install "${missing[@]}"
    else
        echo "setup: not root, so not installing ${missing[*]}; host tests that need them will skip (and fail under CI=1)" >&2
    fi
fi

# 2. Virtual environment: Python 3.11 is required (no fallback to another python3).
if [ ! -x "$venv/bin/python" ]; then
    py="${PYTHON:-python3.11}"
    if ! command -v "$py" >/dev/null 2>&1; then
        echo "setup: Python 3.11 is required but '$py' was not found." >&2
        echo "       Install it (Debian/Ubuntu: apt-get install python3.11 python3.11-venv) or set PYTHON=/path/to/python3.11." >&2
        exit 1
    fi
    version="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
    if [ "$version" != "3.11" ]; then
        echo "setup: Python 3.11 is required; '$py' is Python ${version:-of unknown version}." >&2
        echo "       Set PYTHON=/path/to/python3.11." >&2
        exit 1
    fi
    # Debian ships the venv module in the standard library but ensurepip (which venv needs to
    # create one with pip) in python3.11-venv: check both
    if ! "$py" -m venv --help >/dev/null 2>&1 || ! "$py" -c "import ensurepip" >/dev/null 2>&1; then
        if [ "$is_root" = 1 ] && command -v apt-get >/dev/null 2>&1; then
            echo "setup: $py cannot create virtual environments; installing python3.11-venv"
            apt_install python3.11 python3.11-venv
        else
            echo "setup: $py cannot create virtual environments: install the Debian package python3.11-venv" >&2
            echo "       (as root: apt-get install python3.11 python3.11-venv)." >&2
            exit 1
        fi
    fi
    echo "setup: creating $venv with $py"
    "$py" -m venv "$venv" || { rm -rf "$venv"; echo "setup: creating the virtual environment failed" >&2; exit 1; }
fi
have_py="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$have_py" != "3.11" ]; then
    echo "setup: $venv runs Python $have_py; Python 3.11 is required: remove $venv and run setup again" >&2
    exit 1
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
