#!/usr/bin/env bash
# Installs moto's server (the AWS emulator the STS and ECR tests run against) into a virtualenv cached outside
# the repository, keyed by version, and prints the path of its moto_server executable.
#
#   server="$(bash test/moto/install.sh)"
#
# Output goes to ${ECR_TENANT_WEBHOOK_CACHE:-$HOME/.cache/ecr-tenant-webhook}/moto-<version>/. Needs python3 (3.9+)
# with venv and PyPI. Progress goes to stderr, only the path to stdout.
set -euo pipefail

version=5.2.5
cache_root="${ECR_TENANT_WEBHOOK_CACHE:-$HOME/.cache/ecr-tenant-webhook}"
venv="$cache_root/moto-$version"
server="$venv/bin/moto_server"

if [[ -f "$venv/.complete" && -x "$server" ]]; then
  echo "[moto] cached: $venv" >&2
  echo "$server"
  exit 0
fi

command -v python3 >/dev/null 2>&1 || { echo "[moto] python3 is not installed" >&2; exit 1; }
start=$(date +%s)
# Built in place (a virtualenv cannot be moved); .complete is written last, so an interrupted install is redone.
rm -rf "$venv"
python3 -m venv "$venv" >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$version" >&2
"$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$version')"
touch "$venv/.complete"
echo "[moto] installed moto $version in $(($(date +%s) - start)) s: $venv" >&2
echo "$server"
