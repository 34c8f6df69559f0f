#!/usr/bin/env bash
# Java (diffusion4j bench) and Python (benchmarks/python/sampling_baseline.py) side by side, DDIM-50, shared noise
# (one generator per batch, as the Python loop draws), at each thread count, the two runtimes alternating run by run
# so that a loaded machine slows both alike. Writes one JSON per run into OUT, then the table of medians.
# Usage: benchmarks/java-vs-python.sh OUT_DIR [ROUNDS=3] [THREADS="1 2"]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:?usage: java-vs-python.sh OUT_DIR [ROUNDS] [THREADS]}"
ROUNDS="${2:-3}"
THREADS="${3:-1 2}"
JAR="$ROOT/examples/target/diffusion4j-cli.jar"
MODELS="$ROOT/test-models/src/main/resources/io/diffusion4j/models"
mkdir -p "$OUT"
# model batch repeats
CONFIGS=("toy2d 1 20" "toy2d 256 10" "digits 1 10" "digits 16 5" "digits 64 3")
for round in $(seq 1 "$ROUNDS"); do
  for t in $THREADS; do
    for cfg in "${CONFIGS[@]}"; do
      read -r model batch repeats <<<"$cfg"
      name="$model-b$batch-t$t-r$round"
      OPENBLAS_NUM_THREADS=1 java -jar "$JAR" bench --model "$model" --scheduler ddim --steps 50 --batch "$batch" \
        --repeats "$repeats" --warmup 2 --threads "$t" --noise shared --json "$OUT/java-$name.json" >/dev/null
      OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$ROOT/benchmarks/python/sampling_baseline.py" "$MODELS/$model" \
        --scheduler ddim --steps 50 --batch "$batch" --repeats "$repeats" --warmup 2 --threads "$t" \
        > "$OUT/python-$name.json"
      echo "round $round: $name done" >&2
    done
  done
done
/usr/bin/python3 "$ROOT/benchmarks/python/summarize_java_vs_python.py" "$OUT"
