#!/usr/bin/env bash
# The "Serving" rows of BENCHMARKS.md: starts `diffusion4j serve` on 127.0.0.1 with batching on, then off, and runs
# the load generator (io.diffusion4j.benchmarks.ServingLoad) against each: digits, DDIM-20, guidance 3, batch 1 per
# request, 1/4/16/64 concurrent clients; then a small queue to time the 429 answers. Bounded: each level sends at most
# REQUESTS requests (at least 2 per client) or runs SECONDS seconds. Stops its servers by pid.
# Usage: benchmarks/serving-load.sh [REQUESTS] [SECONDS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REQUESTS="${1:-64}"
SECONDS_PER_LEVEL="${2:-20}"
./mvnw -B -q -DskipTests -pl examples -am package
JAR=examples/target/diffusion4j-cli.jar
BODY='{"steps":20,"scheduler":"ddim","guidance":3,"class":3,"format":"pt"}'
PORT=18431
SERVER=""
stop_server() { if [[ -n "$SERVER" ]]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; SERVER=""; fi; }
trap stop_server EXIT
start_server() {
  java -jar "$JAR" serve --model digits --host 127.0.0.1 --port "$PORT" "$@" > "target/serve-$PORT.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 120); do
    if curl -sf "http://127.0.0.1:$PORT/health" > /dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "server did not start; see target/serve-$PORT.log" >&2
  exit 1
}
mkdir -p target
run_load() {
  java -cp examples/target/diffusion4j-cli.jar io.diffusion4j.benchmarks.ServingLoad --url "http://127.0.0.1:$PORT" \
    --requests "$REQUESTS" --seconds "$SECONDS_PER_LEVEL" --body "$BODY" "$@"
}
echo "# $(date -u +%FT%TZ), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
start_server --max-batch 64 --max-queue 256 --threads 2
run_load --label on --concurrency 1,4,16,64
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^diffusion4j_(engine_steps_total|engine_row_steps_total|native_resident_bytes)' || true
stop_server
start_server --max-batch 64 --max-queue 256 --threads 1 --no-batching
run_load --label off-t1 --concurrency 1,4,16,64
stop_server
start_server --max-batch 64 --max-queue 256 --threads 2 --no-batching
run_load --label off-t2 --concurrency 1,4,16,64
stop_server
# 429: one row at a time, a queue of 2, 16 clients
start_server --max-batch 1 --max-queue 2 --threads 2
run_load --label full --concurrency 16 --warmup 2
stop_server
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
