#!/usr/bin/env bash
# Validates docs/deploy/ offline: renders the kustomize overlays, checks every
# object against the Kubernetes 1.33 schemas and the deployment's security
# properties (scripts/e2e/validate_manifests.py). Installs kubernetes-validate
# from PyPI into a venv in the cache dir on first run.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"

VENV="${XDG_CACHE_HOME:-$HOME/.cache}/falco-rs/manifest-venv"
if [ ! -x "$VENV/bin/kubernetes-validate" ]; then
  if ! python3 -m venv --help >/dev/null 2>&1; then
    install_packages python3-venv
  fi
  log "creating $VENV with kubernetes-validate"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==1.37.0" \
    || die "pip install kubernetes-validate failed (PyPI reachable?)"
fi
"$VENV/bin/python" "$REPO_ROOT/scripts/e2e/validate_manifests.py" "$REPO_ROOT/docs/deploy"
