#!/usr/bin/env bash
# Fault run by hand (not CI): live monitoring while the broker is killed with SIGKILL (kill -9) for
# 30 s and restarted; the live verdicts must equal a replay of the same topic, with no late events.
# Same test as CI's 10 s SIGTERM outage (test/integration/liveBrokerOutage.test.ts), longer and harder.
#   bash scripts/fault-broker-outage.sh [outage-ms=30000]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export RUNWATCH_OUTAGE_MS="${1:-30000}" RUNWATCH_OUTAGE_KILL=1
exec npx vitest run test/integration/liveBrokerOutage.test.ts
