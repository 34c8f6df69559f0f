#!/usr/bin/env bash
# The memory row of BENCHMARKS.md "Serving": `diffusion4j serve --model digits` with batching on, 16 closed-loop
# clients (io.diffusion4j.benchmarks.ServingLoad: digits, DDIM-20, guidance 3, batch 1 per request) for DURATION
# seconds, while the server's resident set (VmRSS from /proc) and the server's own native-resident gauge are sampled
# every INTERVAL seconds. Prints one line per sample and the spread after the warm-up (the first WARMUP seconds).
# Bounded in time (the load generator stops after DURATION s); 127.0.0.1 only; stops its server by pid.
# Usage: benchmarks/serving-memory.sh [DURATION] [INTERVAL] [WARMUP]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${1:-600}"
INTERVAL="${2:-10}"
WARMUP="${3:-60}"
./mvnw -B -q -DskipTests -pl examples -am package
JAR=examples/target/diffusion4j-cli.jar
PORT=18432
mkdir -p target
java -jar "$JAR" serve --model digits --host 127.0.0.1 --port "$PORT" --max-batch 64 --max-queue 256 --threads 2 \
  > "target/serve-memory.log" 2>&1 &
SERVER=$!
LOAD=""
cleanup() {
  [[ -n "$LOAD" ]] && kill "$LOAD" 2>/dev/null || true
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 240); do
  curl -sf "http://127.0.0.1:$PORT/health" > /dev/null 2>&1 && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/health" > /dev/null || { echo "server did not start; see target/serve-memory.log" >&2; exit 1; }
echo "# $(date -u +%FT%TZ), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg), ${DURATION} s at 16 clients"
java -cp "$JAR" io.diffusion4j.benchmarks.ServingLoad --url "http://127.0.0.1:$PORT" --concurrency 16 \
  --requests 100000 --seconds "$DURATION" --label memory \
  --body '{"steps":20,"scheduler":"ddim","guidance":3,"class":3,"format":"pt"}' > target/serve-memory-load.txt 2>&1 &
LOAD=$!
START=$(date +%s)
SAMPLES=target/serve-memory-samples.tsv
printf 'seconds\trss_mb\tnative_resident_mb\tcompleted\n' > "$SAMPLES"
while kill -0 "$LOAD" 2>/dev/null; do
  NOW=$(( $(date +%s) - START ))
  RSS=$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$SERVER/status")
  METRICS=$(curl -sf "http://127.0.0.1:$PORT/metrics" || true)
  NATIVE=$(awk '/^diffusion4j_native_resident_bytes/ {printf "%.1f", $2 / 1048576}' <<< "$METRICS")
  DONE=$(awk '/^diffusion4j_requests_completed_total/ {s += $2} END {printf "%d", s}' <<< "$METRICS")
  printf '%s\t%s\t%s\t%s\n' "$NOW" "$RSS" "$NATIVE" "$DONE" | tee -a "$SAMPLES"
  sleep "$INTERVAL"
done
wait "$LOAD" || true
cat target/serve-memory-load.txt
awk -v w="$WARMUP" 'NR > 1 && $1 >= w {n++; if (min == "" || $2 < min) min = $2; if ($2 > max) max = $2; last = $2}
  NR > 1 && $1 >= w && first == "" {first = $2}
  END {printf "# after %d s warm-up: %d samples, RSS first %.1f MB, last %.1f MB, min %.1f MB, max %.1f MB, spread %.1f MB\n", w, n, first, last, min, max, max - min}' "$SAMPLES"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
