#!/usr/bin/env bash
# Runs the benchmark suite behind BENCHMARKS.md: builds, then writes benchmarks/results/<date>-cpu.json.
# The Python columns need Debian's python3-torch (apt-get install -y python3-torch); without it they are skipped.
# Usage: benchmarks/run.sh [--quick]      (or --quality: the quality-per-step table, ~10 min, to <date>-quality.json)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
./mvnw -B -q -DskipTests install
./mvnw -B -q dependency:build-classpath -pl benchmarks -Dmdep.outputFile="$ROOT/target/benchmarks.classpath"
CP="benchmarks/target/classes:$(cat target/benchmarks.classpath)"
if [[ "${1:-}" == "--quality" ]]; then
  exec java -cp "$CP" io.diffusion4j.benchmarks.QualityPerStep "benchmarks/results/$(date +%F)-quality.json"
fi
OUT="benchmarks/results/$(date +%F)-cpu.json"
java -cp "$CP" io.diffusion4j.benchmarks.BenchmarkSuite "$OUT" "$@"
