# Installs what Terrace's scripts need when it is missing, from the package registries
# only (crates.io, PyPI, Debian's packages). Sourced by scripts/quickstart and scripts/test.

ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is not installed: install Rust (stable) with rustup first" >&2
    exit 2
  fi
}
