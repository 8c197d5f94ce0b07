#!/usr/bin/env bash
# Fuzzes a running cloro-gateway from its own OpenAPI document with schemathesis, as one
# caller (one bearer token): every documented operation, with valid and invalid inputs.
#
#   tests/fuzz/run_fuzz.sh BASE_URL TOKEN [extra schemathesis options...]
#   e.g. tests/fuzz/run_fuzz.sh http://127.0.0.1:8080 "$ADMIN" --seed 42
#
# Needs schemathesis 4.32.5 (`pip install schemathesis==4.32.5`) on PATH, or its path in
# $SCHEMATHESIS. $FUZZ_MAX_EXAMPLES (default 25) bounds the generated cases per operation
# and phase; $FUZZ_WORKERS (default 2) is how many requests run at once. schemathesis runs
# in $FUZZ_WORK_DIR (default target/fuzz), where it keeps the cases `st replay ID` re-sends.
#
# It fails on any of:
#   not_a_server_error            a 5xx
#   status_code_conformance       a status the operation does not document
#   content_type_conformance      a Content-Type the operation does not document
#   response_headers_conformance  a documented response header missing or malformed
#   response_schema_conformance   a body that does not match the documented schema
#
# Every operation is fuzzed: nothing is excluded. Point it only at a test gateway (e.g.
# `cloro-gateway dev`): with an admin token it creates and renames teams, suspends them,
# sets and clears quotas, account limits and pricing, mints and revokes tokens and clears
# cloro's async queue; with a team token it makes real (billed) cloro calls.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  sed -n '2,11p' "$0" >&2
  exit 2
fi
base_url="${1%/}"
token="$2"
shift 2

work_dir="${FUZZ_WORK_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/target/fuzz}"
mkdir -p "$work_dir"
cd "$work_dir"

# Phases: examples (the documented examples), coverage (boundary and invalid values of
# every parameter and body field, missing and malformed Authorization, other methods),
# fuzzing (random valid and invalid inputs) and stateful (chains of calls along the links
# schemathesis infers, e.g. POST /admin/teams, then GET/PATCH /admin/teams/{slug}).
exec "${SCHEMATHESIS:-schemathesis}" run "$base_url/openapi.json" \
  --url "$base_url" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "${FUZZ_MAX_EXAMPLES:-25}" \
  --workers "${FUZZ_WORKERS:-2}" \
  --request-timeout 30 \
  --generation-database none \
  --no-color \
  "$@"
