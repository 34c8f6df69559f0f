#!/usr/bin/env bash
# The bare forward, Java against Python, alternating process by process so that both see the same machine: Java's
# ForwardFloor "loop" mode on the frozen module (the inference default, inference mode) against
# python/forward_loop.py (torch.jit.load, no_grad, as the sampling baseline), each SECONDS of forwards after warm-up.
# Prints one line per run (µs per forward: wall time, and the calling thread's CPU time, which a loaded machine inflates
# far less: at one thread the forward runs on that thread) and the medians of both. Build first (see
# forward-profile.sh) or set SKIP_BUILD=1. Extra environment for the Java side only (e.g. a malloc setting to compare):
# JAVA_ENV="NAME=value ...".
# Usage: benchmarks/forward-vs-python.sh [ROUNDS=4] [SECONDS=5] [CONFIGS="toy2d:1 digits:1 digits:16 digits:64"] [THREADS=1]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${1:-4}"; SECS="${2:-5}"; CONFIGS="${3:-toy2d:1 digits:1 digits:16 digits:64}"; THREADS="${4:-1}"
MODELS="$ROOT/test-models/src/main/resources/io/diffusion4j/models"
cd "$ROOT"
[[ -n "${SKIP_BUILD:-}" ]] || ./mvnw -B -q -DskipTests -pl examples,benchmarks -am package
CP="bindings/target/classes:java-api/target/classes:benchmarks/target/classes:examples/target/diffusion4j-cli.jar"
for cfg in $CONFIGS; do
  model="${cfg%%:*}"; batch="${cfg##*:}"
  java_us=(); py_us=(); java_cpu=(); py_cpu=()
  for r in $(seq 1 "$ROUNDS"); do
    # shellcheck disable=SC2086
    jl=$(env OPENBLAS_NUM_THREADS=1 ${JAVA_ENV:-} java -cp "$CP" io.diffusion4j.benchmarks.ForwardFloor "$model" "$batch" \
      "$THREADS" 1 auto loop frozen "$SECS")
    pl=$(OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$ROOT/benchmarks/python/forward_loop.py" "$MODELS/$model" \
      --batch "$batch" --threads "$THREADS" --seconds "$SECS")
    j=$(sed -n 's/.*(\([0-9.]*\) us each).*/\1/p' <<<"$jl"); jc=$(sed -n 's/.*thread cpu \([0-9.]*\) us each.*/\1/p' <<<"$jl")
    p=$(sed -n 's/.*(\([0-9.]*\) us each).*/\1/p' <<<"$pl"); pc=$(sed -n 's/.*thread cpu \([0-9.]*\) us each.*/\1/p' <<<"$pl")
    echo "$model b$batch t$THREADS round $r: java $j us (cpu $jc), python $p us (cpu $pc) per forward"
    java_us+=("$j"); py_us+=("$p"); java_cpu+=("$jc"); py_cpu+=("$pc")
  done
  /usr/bin/python3 -c "import statistics as s,sys; j=[float(x) for x in sys.argv[1].split()]; p=[float(x) for x in sys.argv[2].split()]; \
print('%s b%s t%s medians: java %.1f us, python %.1f us, java/python %.3f (per-round ratios %s)' % (sys.argv[3], sys.argv[4], sys.argv[5], \
s.median(j), s.median(p), s.median(j)/s.median(p), ' '.join('%.2f' % (a/b) for a,b in zip(j,p)))); \
j=[float(x) for x in sys.argv[6].split()]; p=[float(x) for x in sys.argv[7].split()]; \
print('%s b%s t%s thread cpu medians: java %.1f us, python %.1f us, java/python %.3f (per-round ratios %s)' % (sys.argv[3], \
sys.argv[4], sys.argv[5], s.median(j), s.median(p), s.median(j)/s.median(p), ' '.join('%.2f' % (a/b) for a,b in zip(j,p))))" \
    "${java_us[*]}" "${py_us[*]}" "$model" "$batch" "$THREADS" "${java_cpu[*]}" "${py_cpu[*]}"
done
