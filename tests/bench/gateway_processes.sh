# Sourced by the shell benchmarks (hot_path.sh, open_calls.sh): release binaries of the
# gateway and the simulator as separate processes, on the local Postgres (a database of the
# bench's own, dropped first) and Redis (a key prefix of its own), killed on exit.
#
#   bench_start NAME SIM_PORT GW_PORT LATENCY   # then: $WORK, $TOKEN, $GW_PID, $COMPANY_KEY
#
# Before sourcing, a bench may export more CLORO_GATEWAY__* settings; GATEWAY=path runs
# another build of the gateway.

TARGET="${CARGO_TARGET_DIR:-target}/release"
GATEWAY="${GATEWAY:-$TARGET/cloro-gateway}"
SIM="$TARGET/cloro-sim"
COMPANY_KEY="sk_live_00000000000000000000000000000000"
BODY='{"prompt": "What do you know about Acme Corp?", "country": "US"}'
WORK="$(mktemp -d)"
PIDS=()

bench_cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap bench_cleanup EXIT

bench_need() {
  for tool in "$@" "$GATEWAY" "$SIM"; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
  done
}

# A simulator with its limits lifted, a gateway with the account's and the team's lifted,
# the team `bench` and its token; returns once the gateway is ready.
bench_start() {
  local name="$1" sim_port="$2" gw_port="$3" latency="$4"
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/cloro_gateway_${name//-/_}"
  export REDIS_URL="redis://127.0.0.1:6379"
  export CLORO_BASE_URL="http://127.0.0.1:$sim_port"
  export CLORO_API_KEY="$COMPANY_KEY"
  export CLORO_GATEWAY__REDIS__KEY_PREFIX="$name-bench:"
  export CLORO_GATEWAY__AUTH__SIGNING_SECRET="$name-bench-signing-secret-0123456789abcdef"
  export CLORO_GATEWAY__LOG__FORMAT=json
  export CLORO_GATEWAY__LIMITS__ACCOUNT_CONCURRENCY=100000
  export CLORO_GATEWAY__LIMITS__ACCOUNT_RPS_PER_ENDPOINT=1000000
  export CLORO_GATEWAY__LIMITS__ACCOUNT_BURST=1000000

  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS cloro_gateway_${name//-/_}" postgres
  redis-cli -h 127.0.0.1 --scan --pattern "$name-bench:*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null

  "$SIM" --listen "127.0.0.1:$sim_port" --api-key "$COMPANY_KEY" --latency "$latency" \
    --rate-limit 10000000 --concurrency-limit 100000 --credits 1000000000000 \
    >"$WORK/sim.log" 2>&1 &
  PIDS+=($!)

  "$GATEWAY" migrate >/dev/null 2>&1
  "$GATEWAY" team create bench >/dev/null
  "$GATEWAY" quota set bench --rps 100000 --burst 100000 --concurrency 10000 >/dev/null
  TOKEN="$("$GATEWAY" token mint --team bench --ttl 1h 2>/dev/null)"
  "$GATEWAY" serve --listen "127.0.0.1:$gw_port" >"$WORK/gateway.log" 2>&1 &
  GW_PID=$!
  PIDS+=("$GW_PID")
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$gw_port/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "the gateway did not become ready; see $WORK/gateway.log" >&2
  exit 1
}
