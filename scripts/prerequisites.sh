#!/usr/bin/env bash
# What `make demo`, `make test` and CI need from the machine, checked up front in one line; run as root with
# --install, the missing Debian packages are installed (as .ci/run does on a machine that never saw the project).
set -euo pipefail
missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)  # the native stack's TLS certificates
command -v mvn >/dev/null 2>&1 || missing+=(maven)  # the Kafka jars, from Maven Central
command -v make >/dev/null 2>&1 || missing+=(make)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${1:-}" = "--tests" ] || [ "${2:-}" = "--tests" ]; then  # the tracking page's and the report's browser tests
  command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
fi
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then missing+=(postgresql); fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "${1:-}" = "--install" ] && [ "$(id -u)" = 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  exit 0
fi
echo "missing prerequisites: install the Debian packages ${missing[*]} (as root: bash scripts/prerequisites.sh --install --tests)" >&2
exit 1
