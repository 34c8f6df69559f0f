"""Runs only a diffusion4j model folder's TorchScript forward, in a loop, for a profiler (perf record) to sample:
the Python side of benchmarks/forward-profile.sh. Same inputs and guard as sampling_baseline.py (torch.no_grad,
zeros, timestep 500, class 3 for conditional models). Prints the forwards run and the time per forward.

Usage: /usr/bin/python3 forward_loop.py MODEL_DIR --batch 1 --threads 1 --seconds 15 [--inference-mode]
"""
import argparse
import json
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--inference-mode", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    spec = json.load(open(a.model_dir + "/diffusion4j.json"))
    model = torch.jit.load(a.model_dir + "/model.pt").eval()
    x = torch.randn([a.batch] + spec["sample_shape"], generator=torch.Generator().manual_seed(0))
    t = torch.full((a.batch,), 500, dtype=torch.int64)
    args = (x, t, torch.full((a.batch,), 3, dtype=torch.int64)) if len(spec["forward_signature"]) == 3 else (x, t)
    guard = torch.inference_mode if a.inference_mode else torch.no_grad
    with guard():
        for _ in range(a.warmup):
            model(*args)
        n = 0
        end = time.perf_counter() + a.seconds
        start = time.perf_counter()
        cpu_start = time.thread_time()
        while time.perf_counter() < end:
            for _ in range(100):
                model(*args)
            n += 100
        took = time.perf_counter() - start
        cpu_took = time.thread_time() - cpu_start
    # the calling thread's CPU time (see ForwardFloor's loop): at one intra-op thread the forward runs on it
    print("python: %d forwards in %.1f s (%.1f us each) [thread cpu %.1f us each]" % (n, took, took * 1e6 / n,
                                                                                   cpu_took * 1e6 / n))


if __name__ == "__main__":
    main()
