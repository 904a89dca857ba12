# Sourced by scripts/run and scripts/test: make sure .venv exists and holds the given requirements.
#
# A stock Debian 12 / Ubuntu 24.04 refuses `pip install` into the system Python (PEP 668,
# "externally-managed-environment"), so everything goes into a virtual environment in .venv
# (git-ignored). It is made once; pip runs again only when the requirements files change.
# Usage: ensure_venv requirements.txt   (then use .venv/bin/python)

ensure_venv() {
  local requirements=$1 python=${PYTHON:-python3}
  if ! command -v "$python" >/dev/null; then
    echo "error: $python not found; install Python 3.11 or newer (Debian/Ubuntu: apt-get install python3 python3-venv)" >&2
    exit 1
  fi
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "error: $python is $("$python" -V 2>&1); the shop needs Python 3.11 or newer" >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
      # Debian and Ubuntu ship venv's pip bootstrap in a separate package.
      local pkg
      pkg="python3-venv $("$python" -c 'import sys; print(f"python3.{sys.version_info.minor}-venv")')"
      local sudo=""
      if [ "$(id -u)" != "0" ]; then sudo="sudo"; fi
      if command -v apt-get >/dev/null && { [ -z "$sudo" ] || command -v sudo >/dev/null; }; then
        echo "==> installing the Debian packages that make virtual environments: $pkg"
        $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $pkg >/dev/null
      else
        echo "error: $python cannot make a virtual environment; install $pkg (or your system's equivalent)" >&2
        exit 1
      fi
    fi
    echo "==> making a virtual environment in .venv"
    rm -rf .venv
    "$python" -m venv .venv
  fi
  # Install again only when a requirements file changed since the last install.
  local stamp=".venv/.installed-${requirements%.txt}" want
  want=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing Python packages ($requirements) into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
  fi
}
