#!/usr/bin/env bash
# `make test` on a third of this machine's CPU (a cgroup quota over the tests, every service and both servers),
# as a host three times slower would run it. Needs root and a cgroup CPU controller (v1 or v2).
# OMS_CPU_SHARE=N: 1/N of the machine (3 by default).
set -euo pipefail
cd "$(dirname "$0")/.."
share=${OMS_CPU_SHARE:-3}
quota=$(( $(nproc) * 100000 / share ))
.venv/bin/python -m devstack.stack down  # the servers must start inside the quota too
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then  # cgroup v2
  group=/sys/fs/cgroup/oms-throttled
  mkdir -p "$group"
  echo "+cpu" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
  echo "$quota 100000" > "$group/cpu.max"
else  # cgroup v1
  group=/sys/fs/cgroup/cpu/oms-throttled
  mkdir -p "$group"
  echo 100000 > "$group/cpu.cfs_period_us"
  echo "$quota" > "$group/cpu.cfs_quota_us"
fi
echo $$ > "$group/cgroup.procs"
echo "make test on $quota µs of CPU every 100 ms ($(nproc) cores / $share)"
exec make test PYTEST_ARGS="${PYTEST_ARGS:-}"
