#!/usr/bin/env bash
# 10,000 calls open at once through one gateway replica (issue 13): release binaries as
# separate processes, a cloro simulator answering every call after 30 s, the account's and the
# team's concurrency lifted, the upstream spoken over HTTP/2 (`upstream.http2_prior_knowledge`,
# so the calls are streams on one connection: this machine allows 20,000 open files a
# process, and 10,000 inbound plus 10,000 upstream connections would not fit). hey opens the
# 10,000 connections at once. Prints the gateway's memory before and at the peak, per open
# call, its CPU, and how the calls ended.
#
#   cargo build --release -p cloro-gateway -p cloro-sim
#   bash tests/bench/open_calls.sh [CALLS] [LATENCY]   # default 10000 fixed:30s; needs hey
set -euo pipefail
cd "$(dirname "$0")/../.."

CALLS="${1:-10000}"
LATENCY="${2:-fixed:30s}"
SIM_PORT=18711 GW_PORT=18712
# hey starts every call within about a second: 10,000 admissions at once, ten times what the
# account's per-endpoint rate allows. With the default 250 ms Redis deadline most would be
# refused 503 LIMITER_UNAVAILABLE (fail-closed, as designed); this run measures open calls,
# so admissions may queue for Redis up to 10 s.
export CLORO_GATEWAY__REDIS__TIMEOUT_MS="${CLORO_GATEWAY__REDIS__TIMEOUT_MS:-10000}"
export CLORO_GATEWAY__UPSTREAM__HTTP2_PRIOR_KNOWLEDGE=true
source tests/bench/gateway_processes.sh
bench_need hey ss
bench_start open-calls "$SIM_PORT" "$GW_PORT" "$LATENCY"

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$GW_PID/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$GW_PID/stat"; }
open_inbound() { ss -Htn state established "( sport = :$GW_PORT )" | wc -l; }
open_upstream() { ss -Htn state established "( dport = :$SIM_PORT )" | wc -l; }

# One call first, so the pools and the budget are warm; then measure the idle replica.
curl -s -o /dev/null -X POST "http://127.0.0.1:$GW_PORT/v1/monitor/chatgpt" \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$BODY" --max-time 120
sleep 1
IDLE_KB="$(rss_kb)"
CPU_BEFORE="$(cpu_ticks)"
STARTED="$(date +%s.%N)"

hey -n "$CALLS" -c "$CALLS" -t 300 -m POST -T application/json \
  -H "Authorization: Bearer $TOKEN" -d "$BODY" \
  "http://127.0.0.1:$GW_PORT/v1/monitor/chatgpt" >"$WORK/hey.txt" 2>&1 &
HEY_PID=$!

PEAK_KB=0 PEAK_OPEN=0 PEAK_UP=0
while kill -0 "$HEY_PID" 2>/dev/null; do
  open="$(open_inbound)" up="$(open_upstream)" kb="$(rss_kb)"
  (( open > PEAK_OPEN )) && PEAK_OPEN=$open
  (( up > PEAK_UP )) && PEAK_UP=$up
  (( kb > PEAK_KB )) && PEAK_KB=$kb
  printf '%6.1f s  open calls %5d  upstream connections %3d  RSS %6d KiB\n' \
    "$(echo "$(date +%s.%N) - $STARTED" | bc -l)" "$open" "$up" "$kb"
  sleep 2
done
wait "$HEY_PID" || true
CPU_AFTER="$(cpu_ticks)"
TICK="$(getconf CLK_TCK)"

echo
grep -E "Total:|Requests/sec|Slowest|Fastest|Average|\[[0-9]+\]|Error" "$WORK/hey.txt" || true
printf '\ncalls %d, latency %s\n' "$CALLS" "$LATENCY"
printf 'most open at once: %d inbound connections, %d upstream connections\n' "$PEAK_OPEN" "$PEAK_UP"
printf 'gateway RSS: idle %d KiB, peak %d KiB, %.1f KiB per open call\n' \
  "$IDLE_KB" "$PEAK_KB" "$(echo "($PEAK_KB - $IDLE_KB) / $PEAK_OPEN" | bc -l)"
printf 'gateway CPU over the run: %.1f s\n' "$(echo "($CPU_AFTER - $CPU_BEFORE) / $TICK" | bc -l)"
printf 'gateway error lines: %s\n' "$(grep -c '"level":"ERROR"' "$WORK/gateway.log" || true)"
