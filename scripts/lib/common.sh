# shellcheck shell=bash
# Shared by scripts/test and scripts/demo: install what lifeboat needs on
# Debian 12 and build it. Source it; it defines functions and LB_ROOT only.

LB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Build tools and libraries, the PostgreSQL server the sandbox runs, and the
# sqlite3 shell for looking into the results store. The report tests open
# the HTML report in headless Chromium and validate JUnit with xmllint
# (libxml2-utils); chromium adds about 120 MB to download and 20 s to install.
# `lifeboat schedule` reads time zones from the tz database (tzdata). The
# sandbox's pgBackRest layers (a hot and a cold repository) need pgbackrest.
LB_DEPS=(build-essential cmake pkg-config liblua5.4-dev libpq-dev libsqlite3-dev
         libcurl4-openssl-dev libcjson-dev libcmocka-dev postgresql-15
         postgresql-client-15 sqlite3 chromium libxml2-utils tzdata pgbackrest)

lb_log() {
    printf 'lifeboat: %s\n' "$*" >&2
}

# Run a command as root: directly when we are root, else through sudo.
lb_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        lb_log "this needs root: $* (run as root, or install sudo)"
        return 1
    fi
}

# Install the Debian packages that are missing; nothing at all when every
# one is there (no apt-get update either).
lb_install_deps() {
    local missing=() pkg
    for pkg in "${LB_DEPS[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        lb_log "no apt-get here: install these yourself: ${missing[*]}"
        return 1
    fi
    lb_log "installing ${missing[*]}"
    lb_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    lb_as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# lb_build DIR [CMAKE ARGS...]: configure and build into DIR (relative to
# the repository root unless absolute).
lb_build() {
    local dir="$1"
    shift
    case "$dir" in
        /*) ;;
        *) dir="$LB_ROOT/$dir" ;;
    esac
    cmake -S "$LB_ROOT" -B "$dir" "$@"
    cmake --build "$dir" -j "$(nproc)"
}
