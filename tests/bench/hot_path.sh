#!/usr/bin/env bash
# The hot path measured from outside, as issue 13 asks: release binaries as separate
# processes, a zero-latency cloro simulator, a plain nginx reverse proxy in front of the same
# simulator (the physical floor of one more HTTP hop), and the gateway with the account's and
# the team's limits lifted, all loaded with wrk (saturation, 32 connections) and steady-rate (a
# fixed 1,000 requests a second, open loop: evenly spaced, whatever the answers do). Then the refusal path (a team over its rate) and a bad token.
# Prints one table and the gateway's per-stage breakdown at 1,000 requests a second.
#
#   cargo build --release -p cloro-gateway -p cloro-sim && cargo build --release -p e2e-tests --bin steady-rate
#   bash tests/bench/hot_path.sh [SECONDS]      # needs wrk and nginx (Debian packages)
#
# Processes, database and Redis prefix: tests/bench/gateway_processes.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_RUN="${1:-10}"
SIM_PORT=18701 NGINX_PORT=18702 GW_PORT=18703
source tests/bench/gateway_processes.sh
STEADY="$TARGET/steady-rate"
bench_need wrk nginx "$STEADY"

mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx;
  upstream sim { server 127.0.0.1:$SIM_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://sim;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
nginx -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
PIDS+=($!)

bench_start hot-path "$SIM_PORT" "$GW_PORT" 0

LUA="$WORK/post.lua"
cat >"$LUA" <<EOF
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BEARER")
EOF

# wrk at saturation: prints "req/s non_2xx".
saturate() {
  BEARER="$2" wrk -t2 -c32 -d"${SECONDS_PER_RUN}s" -s "$LUA" "$1" 2>&1 | awk '
    /Requests\/sec/ {rps=$2} /Non-2xx/ {bad=$5} END {printf "%.0f %d\n", rps, bad}'
}
# 1,000 requests a second, each sent at its own instant (tests/bench/steady_rate.rs): prints
# "p50_ms p99_ms non_2xx achieved_req_s".
fixed_rate() {
  "$STEADY" "$1" --bearer "$2" --body "$BODY" --rate 1000 --seconds "$SECONDS_PER_RUN"
}
metrics() { curl -s "http://127.0.0.1:$GW_PORT/metrics"; }

url_sim="http://127.0.0.1:$SIM_PORT/v1/monitor/chatgpt"
url_nginx="http://127.0.0.1:$NGINX_PORT/v1/monitor/chatgpt"
url_gw="http://127.0.0.1:$GW_PORT/v1/monitor/chatgpt"

# The gateway at the fixed rate first, before anything is saturated (a fresh database, an idle
# machine), after a 2 s warm-up of its connections.
"$STEADY" "$url_gw" --bearer "$TOKEN" --body "$BODY" --rate 1000 --seconds 2 >/dev/null
read -r fresh_p50 fresh_p99 fresh_bad fresh_rate < <(fixed_rate "$url_gw" "$TOKEN")

# Warm-up: connections, the directory, the budget seed.
saturate "$url_gw" "$TOKEN" >/dev/null

read -r sim_rps sim_bad < <(saturate "$url_sim" "$COMPANY_KEY")
read -r nginx_rps nginx_bad < <(saturate "$url_nginx" "$COMPANY_KEY")
read -r gw_rps gw_bad < <(saturate "$url_gw" "$TOKEN")
read -r sim_p50 sim_p99 sim_fbad sim_rate < <(fixed_rate "$url_sim" "$COMPANY_KEY")
read -r nginx_p50 nginx_p99 nginx_fbad nginx_rate < <(fixed_rate "$url_nginx" "$COMPANY_KEY")
metrics >"$WORK/before.txt"
read -r gw_p50 gw_p99 gw_fbad gw_rate < <(fixed_rate "$url_gw" "$TOKEN")
metrics >"$WORK/after.txt"
GW_CPU_TICKS="$(awk '{print $14 + $15}' "/proc/$GW_PID/stat")"
GW_RSS_KB="$(awk '/VmRSS/ {print $2}' "/proc/$GW_PID/status")"

"$GATEWAY" quota set bench --rps 1 --burst 1 --concurrency 10000 >/dev/null
sleep 1
read -r refusal_rps refusal_bad < <(saturate "$url_gw" "$TOKEN")
read -r badtoken_rps badtoken_bad < <(saturate "$url_gw" "not-a-token")

printf '\n%s s per run, wrk -t2 -c32 (saturation), steady-rate 1,000 req/s (open loop)\n\n' "$SECONDS_PER_RUN"
printf '| path | saturation req/s | non-2xx | at 1,000 req/s: p50 / p99 ms | added p50 / p99 ms |\n'
printf '|---|---|---|---|---|\n'
printf '| simulator directly | %s | %s | %s / %s | |\n' "$sim_rps" "$sim_bad" "$sim_p50" "$sim_p99"
printf '| nginx reverse proxy | %s (%.1f%% of direct) | %s | %s / %s | %.2f / %.2f |\n' \
  "$nginx_rps" "$(echo "100*$nginx_rps/$sim_rps" | bc -l)" "$nginx_bad" "$nginx_p50" "$nginx_p99" \
  "$(echo "$nginx_p50-$sim_p50" | bc -l)" "$(echo "$nginx_p99-$sim_p99" | bc -l)"
printf '| gateway, full path | %s (%.1f%% of nginx) | %s | %s / %s | %.2f / %.2f |\n' \
  "$gw_rps" "$(echo "100*$gw_rps/$nginx_rps" | bc -l)" "$gw_bad" "$gw_p50" "$gw_p99" \
  "$(echo "$gw_p50-$sim_p50" | bc -l)" "$(echo "$gw_p99-$sim_p99" | bc -l)"
printf '| gateway, refusal path (team over its rate) | %s | %s (expected: all but ~%s) | | |\n' \
  "$refusal_rps" "$refusal_bad" "$SECONDS_PER_RUN"
printf '| gateway, bad token | %s | %s | | |\n' "$badtoken_rps" "$badtoken_bad"
printf '| gateway at 1,000 req/s before any saturation run | | %s | %s / %s | %.2f / %.2f |\n' \
  "$fresh_bad" "$fresh_p50" "$fresh_p99" \
  "$(echo "$fresh_p50-$sim_p50" | bc -l)" "$(echo "$fresh_p99-$sim_p99" | bc -l)"
printf '\nnon-2xx at 1,000 req/s: simulator %s, nginx %s, gateway %s\n' "$sim_fbad" "$nginx_fbad" "$gw_fbad"
printf 'rate achieved at 1,000 req/s: simulator %s, nginx %s, gateway %s (before any saturation %s) req/s\n' \
  "$sim_rate" "$nginx_rate" "$gw_rate" "$fresh_rate"
printf 'gateway process after the full-path runs: RSS %s MiB, CPU %s s\n' \
  "$((GW_RSS_KB / 1024))" "$(echo "$GW_CPU_TICKS/$(getconf CLK_TCK)" | bc -l | xargs printf '%.1f')"

python3 - "$WORK/before.txt" "$WORK/after.txt" <<'EOF'
import re, sys
def read(path):
    sums, counts = {}, {}
    for line in open(path):
        m = re.match(r'cloro_gateway_stage_seconds_(sum|count)\{stage="(\w+)"\} (\S+)', line)
        if m:
            (sums if m[1] == 'sum' else counts)[m[2]] = float(m[3])
    return sums, counts
(s0, c0), (s1, c1) = read(sys.argv[1]), read(sys.argv[2])
print('\nper-stage mean at 1,000 req/s (from /metrics):')
print('| stage | calls | mean ms |\n|---|---|---|')
for stage in ['auth', 'admission', 'idempotency_claim', 'pending_commit', 'upstream',
              'settlement', 'release', 'call']:
    n = c1.get(stage, 0) - c0.get(stage, 0)
    if n:
        print(f'| {stage} | {n:.0f} | {1000 * (s1[stage] - s0[stage]) / n:.2f} |')
def counter(path, name):
    for line in open(path):
        if line.startswith(name + ' '):
            return float(line.split()[1])
    return 0.0
def delta(name):
    return counter(sys.argv[2], name) - counter(sys.argv[1], name)
commits = delta('cloro_gateway_ledger_batches_total')
recorded = delta('cloro_gateway_ledger_pending_entries_total')
settled = delta('cloro_gateway_ledger_settled_entries_total')
if commits:
    print(f'ledger writer: {commits:.0f} commits for {recorded:.0f} PENDING entries and '
          f'{settled:.0f} settlements, {(recorded + settled) / commits:.2f} entries each')
EOF
