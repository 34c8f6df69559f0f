"""Table of medians (over rounds) from the JSON files benchmarks/java-vs-python.sh writes. Usage: summarize OUT_DIR"""
import glob
import json
import os
import statistics
import sys
from collections import defaultdict

runs = defaultdict(lambda: defaultdict(list))
for path in glob.glob(os.path.join(sys.argv[1], "*.json")):
    runtime, model, batch, threads, _ = os.path.basename(path)[:-5].split("-")
    with open(path) as f:
        runs[(model, int(batch[1:]), int(threads[1:]))][runtime].append(json.load(f))

print("| model | batch | threads | Java forward ms | Java sampling ms | Python forward ms | Python sampling ms "
      "| Java/Python forward | Java/Python sampling | rounds |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (model, batch, threads) in sorted(runs, key=lambda k: (k[2], k[0] != "toy2d", k[0], k[1])):
    r = runs[(model, batch, threads)]
    if not r["java"] or not r["python"]:
        continue
    for x in r["java"] + r["python"]:
        assert x["threads"] == threads, (model, batch, threads, x["threads"])
    med = lambda rt, key: statistics.median(x[key] for x in r[rt])
    jf, js, pf, ps = med("java", "forward_only_ms"), med("java", "sampling_ms"), med("python", "forward_only_ms"), \
        med("python", "sampling_ms")
    print(f"| {model} | {batch} | {threads} | {jf:.2f} | {js:.2f} | {pf:.2f} | {ps:.2f} | {jf / pf:.3f} | "
          f"{js / ps:.3f} | {min(len(r['java']), len(r['python']))} |")
