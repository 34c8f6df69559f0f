#!/usr/bin/env bash
# Process-level settings (environment variables: malloc, OpenMP, ATen/oneDNN dispatch) for the Java forward, compared
# process by process: each round runs ForwardFloor's "loop" mode on the frozen module (the inference default) once per
# variant, in turn, so that all variants see the same machine. A variant is a ';'-separated list of NAME=value ("-" for
# none); T=n in it sets the intra-op thread count for that variant. Prints each run (wall, the calling thread's CPU
# time, the process's CPU time, µs per forward) and per variant the medians and the median of its per-round ratios to
# the first variant. Build first (see forward-profile.sh).
# Usage: benchmarks/forward-env-ab.sh ROUNDS SECONDS MODEL BATCH THREADS VARIANT... e.g.
#   benchmarks/forward-env-ab.sh 8 3 digits 16 1 - "MALLOC_ARENA_MAX=1" "GLIBC_TUNABLES=glibc.malloc.mxfast=0"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="$1"; SECS="$2"; MODEL="$3"; BATCH="$4"; THREADS="$5"; shift 5
cd "$ROOT"
CP="bindings/target/classes:java-api/target/classes:benchmarks/target/classes:examples/target/diffusion4j-cli.jar"
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
for r in $(seq 1 "$ROUNDS"); do
  for v in "$@"; do
    envs=()
    [[ "$v" != "-" ]] && IFS=';' read -ra envs <<<"$v"
    th="$THREADS"
    for e in "${envs[@]}"; do [[ "$e" == T=* ]] && th="${e#T=}"; done
    line=$(env OPENBLAS_NUM_THREADS=1 "${envs[@]}" java -cp "$CP" io.diffusion4j.benchmarks.ForwardFloor "$MODEL" "$BATCH" \
      "$th" 1 auto loop frozen "$SECS")
    vals=$(sed -n 's/.*(\([0-9.]*\) us each) \[thread cpu \([0-9.]*\) us each\] \[process cpu \([0-9.]*\) us each\].*/\1 \2 \3/p' <<<"$line")
    echo "round $r [$v] wall/thread-cpu/process-cpu us: $vals" | tee -a "$LOG"
  done
done
/usr/bin/python3 - "$LOG" <<'PY'
import collections, re, statistics as st, sys
runs = collections.OrderedDict()
for line in open(sys.argv[1]):
    m = re.match(r'round (\d+) \[(.*)\] wall/thread-cpu/process-cpu us: ([\d.]+) ([\d.]+) ([\d.]+)', line)
    if m:
        runs.setdefault(m.group(2), {})[int(m.group(1))] = [float(m.group(i)) for i in (3, 4, 5)]
base = next(iter(runs.values()))
for name, v in runs.items():
    ratio = [v[r][1] / base[r][1] for r in v if r in base]
    print('%-50s medians: wall %8.1f  thread cpu %8.1f  process cpu %8.1f | thread cpu / first, median of rounds %.3f (%s)'
          % (name, st.median(x[0] for x in v.values()), st.median(x[1] for x in v.values()),
             st.median(x[2] for x in v.values()), st.median(ratio), ' '.join('%.2f' % x for x in ratio)))
PY
