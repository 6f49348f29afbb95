#!/usr/bin/env bash
# Installs cfn-lint (CloudFormation) and parliament (IAM policies), the linters the aws-policies output is checked
# with, and the AWS CLI, which the AWS setup walk-through (docs/aws-setup.md) is run with against moto, into a
# virtualenv cached outside the repository, keyed by their versions, and prints the path of its bin directory.
#
#   bin="$(bash test/lint-tools/install.sh)"
#
# Output goes to ${ECR_TENANT_WEBHOOK_CACHE:-$HOME/.cache/ecr-tenant-webhook}/lint-tools-<versions>/. Needs python3
# (3.9+) with venv and PyPI. Progress goes to stderr, only the path to stdout.
set -euo pipefail

cfn_lint_version=1.58.0
parliament_version=1.6.4
awscli_version=1.45.11
cache_root="${ECR_TENANT_WEBHOOK_CACHE:-$HOME/.cache/ecr-tenant-webhook}"
venv="$cache_root/lint-tools-cfn-lint-$cfn_lint_version-parliament-$parliament_version-awscli-$awscli_version"
bin="$venv/bin"

if [[ -f "$venv/.complete" && -x "$bin/cfn-lint" && -x "$bin/parliament" && -x "$bin/aws" ]]; then
  echo "[lint-tools] cached: $venv" >&2
  echo "$bin"
  exit 0
fi

command -v python3 >/dev/null 2>&1 || { echo "[lint-tools] python3 is not installed" >&2; exit 1; }
start=$(date +%s)
# Built in place (a virtualenv cannot be moved); .complete is written last, so an interrupted install is redone.
rm -rf "$venv"
python3 -m venv "$venv" >&2
"$bin/pip" install --quiet --disable-pip-version-check "cfn-lint==$cfn_lint_version" "parliament==$parliament_version" "awscli==$awscli_version" >&2
"$bin/python" - "$cfn_lint_version" "$parliament_version" "$awscli_version" <<'PY'
import sys
from importlib.metadata import version
sys.exit(version("cfn-lint") != sys.argv[1] or version("parliament") != sys.argv[2] or version("awscli") != sys.argv[3])
PY
touch "$venv/.complete"
echo "[lint-tools] installed cfn-lint $cfn_lint_version, parliament $parliament_version and awscli $awscli_version in $(($(date +%s) - start)) s: $venv" >&2
echo "$bin"
