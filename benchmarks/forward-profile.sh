#!/usr/bin/env bash
# Where one forward's time goes, Java (LibTorch 2.10 through diffusion4j) against Python (torch 1.13): for each
# configuration, perf record samples a process that only runs the model's forward in a loop after its warm-up (Java:
# ForwardFloor's "loop" mode on the frozen module, the inference default; Python: python/forward_loop.py, no_grad as
# in the sampling baseline), then prints the top self-time symbols of each side. Needs Linux perf (kernel.perf_event_
# paranoid <= 2 is enough: user space only) and Debian's python3-torch. Builds the CLI jar and the benchmarks first.
# Usage: benchmarks/forward-profile.sh OUT_DIR [SECONDS=15] [CONFIGS="toy2d:1 digits:1 digits:16 digits:64"] [THREADS=1]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:?usage: forward-profile.sh OUT_DIR [SECONDS] [CONFIGS] [THREADS]}"
SECONDS_EACH="${2:-15}"
CONFIGS="${3:-toy2d:1 digits:1 digits:16 digits:64}"
THREADS="${4:-1}"
MODELS="$ROOT/test-models/src/main/resources/io/diffusion4j/models"
cd "$ROOT"
[[ -n "${SKIP_BUILD:-}" ]] || ./mvnw -B -q -DskipTests -pl examples,benchmarks -am package
CP="bindings/target/classes:java-api/target/classes:benchmarks/target/classes:examples/target/diffusion4j-cli.jar"
mkdir -p "$OUT"
top() { # perf.data -> self time by library, then the top 10 symbols ([JIT]: run-time generated code, e.g. oneDNN's)
  perf report -i "$1" --no-children --sort dso -q 2>/dev/null | grep -v '^$' | head -6
  perf report -i "$1" --no-children --sort sym -q 2>/dev/null | grep -v '^$' | head -10 | cut -c1-160
}
for cfg in $CONFIGS; do
  model="${cfg%%:*}"; batch="${cfg##*:}"; name="$model-b$batch-t$THREADS"
  # Java: load, freeze and warm up (about 5-10 s), then forwards only; perf starts after the delay
  OPENBLAS_NUM_THREADS=1 perf record -q -F 999 -D 12000 -o "$OUT/java-$name.data" -- java -XX:+PreserveFramePointer \
    -cp "$CP" io.diffusion4j.benchmarks.ForwardFloor "$model" "$batch" "$THREADS" 1 auto loop frozen \
    "$((SECONDS_EACH + 12))" > "$OUT/java-$name.txt" 2>&1
  OPENBLAS_NUM_THREADS=1 perf record -q -F 999 -D 4000 -o "$OUT/python-$name.data" -- /usr/bin/python3 \
    "$ROOT/benchmarks/python/forward_loop.py" "$MODELS/$model" --batch "$batch" --threads "$THREADS" \
    --seconds "$((SECONDS_EACH + 3))" > "$OUT/python-$name.txt" 2>&1
  { echo "== $name"; cat "$OUT/java-$name.txt" "$OUT/python-$name.txt"
    echo "-- Java, top self time"; top "$OUT/java-$name.data"
    echo "-- Python, top self time"; top "$OUT/python-$name.data"; } | tee -a "$OUT/summary.txt"
done
