#!/usr/bin/env bash
# Runs the benchmark suite behind BENCHMARKS.md: builds, then writes benchmarks/results/<date>-cpu.json.
# The Python columns need Debian's python3-torch (apt-get install -y python3-torch); without it they are skipped.
# Usage: benchmarks/run.sh [--quick]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
./mvnw -B -q -DskipTests install
./mvnw -B -q dependency:build-classpath -pl benchmarks -Dmdep.outputFile=target/benchmarks.classpath
OUT="benchmarks/results/$(date +%F)-cpu.json"
java -cp "benchmarks/target/classes:$(cat target/benchmarks.classpath)" io.diffusion4j.benchmarks.BenchmarkSuite "$OUT" "$@"
