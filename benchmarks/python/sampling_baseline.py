"""Python baseline for diffusion4j's sampling-overhead benchmark.

Runs a diffusion4j model folder's TorchScript model.pt through a plain eager PyTorch DDIM/DDPM loop (its own few
lines, torch.no_grad) and reports the same figures as `diffusion4j bench`, as JSON on stdout:
forward_only_ms, sampling_ms (medians over repeats), overhead_ratio, overhead_us_per_step.

Needs Debian's python3-torch (apt-get install -y python3-torch). Usage:
  /usr/bin/python3 sampling_baseline.py MODEL_DIR --scheduler ddim --steps 50 --batch 16 --repeats 10 --threads 1
"""
import argparse
import json
import math
import statistics
import time

import torch


def alphas_cumprod(cfg):
    t = cfg["num_train_timesteps"]
    if cfg.get("beta_schedule", "linear") == "linear":
        betas = torch.linspace(cfg["beta_start"], cfg["beta_end"], t, dtype=torch.float64)
    elif cfg["beta_schedule"] == "squaredcos_cap_v2":
        f = lambda s: math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = torch.tensor([min(1 - f((i + 1) / t) / f(i / t), 0.999) for i in range(t)], dtype=torch.float64)
    else:
        raise SystemExit("unsupported beta_schedule " + cfg["beta_schedule"])
    return torch.cumprod(1 - betas, 0).tolist()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--scheduler", default="ddim", choices=["ddim", "ddpm"])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = json.load(open(a.model_dir + "/scheduler_config.json"))
    spec = json.load(open(a.model_dir + "/diffusion4j.json"))
    model = torch.jit.load(a.model_dir + "/model.pt").eval()
    ab = alphas_cumprod(cfg)
    t_train = cfg["num_train_timesteps"]
    ratio = t_train // a.steps
    timesteps = [i * ratio for i in range(a.steps)][::-1]
    shape = [a.batch] + spec["sample_shape"]
    conditional = len(spec["forward_signature"]) == 3
    labels = torch.zeros(a.batch, dtype=torch.int64) if conditional else None
    clip = cfg.get("clip_sample", True)
    ts = [torch.full((a.batch,), t, dtype=torch.int64) for t in timesteps]

    def forward(x, i):
        return model(x, ts[i], labels) if conditional else model(x, ts[i])

    def forward_only():
        x = torch.zeros(shape)
        t0 = time.perf_counter()
        for i in range(a.steps):
            forward(x, i)
        return (time.perf_counter() - t0) * 1000

    def sample():
        g = torch.Generator().manual_seed(0)
        t0 = time.perf_counter()
        x = torch.randn(shape, generator=g)
        for i, t in enumerate(timesteps):
            eps = forward(x, i)
            a_t = ab[t]
            prev = t - ratio
            a_p = ab[prev] if prev >= 0 else 1.0
            x0 = (x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
            if clip:
                x0 = x0.clamp(-1, 1)
            if a.scheduler == "ddim":
                x = math.sqrt(a_p) * x0 + math.sqrt(1 - a_p) * eps
            else:
                beta = 1 - a_t / a_p
                x = (math.sqrt(a_p) * beta / (1 - a_t)) * x0 + (math.sqrt(a_t / a_p) * (1 - a_p) / (1 - a_t)) * x
                if t > 0:
                    var = max((1 - a_p) / (1 - a_t) * beta, 1e-20)
                    x = x + math.sqrt(var) * torch.randn(shape, generator=g)
        return (time.perf_counter() - t0) * 1000

    floors, fulls = [], []
    with torch.no_grad():
        for r in range(-a.warmup, a.repeats):
            f = forward_only()
            s = sample()
            if r >= 0:
                floors.append(f)
                fulls.append(s)
    fm, sm = statistics.median(floors), statistics.median(fulls)
    print(json.dumps({
        "runtime": "python", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "scheduler": a.scheduler, "steps": a.steps, "batch": a.batch, "repeats": a.repeats,
        "forward_only_ms": fm, "forward_only_min_ms": min(floors), "forward_only_max_ms": max(floors),
        "sampling_ms": sm, "sampling_min_ms": min(fulls), "sampling_max_ms": max(fulls),
        "overhead_ratio": sm / fm, "overhead_us_per_step": (sm - fm) * 1000 / a.steps,
    }))


if __name__ == "__main__":
    main()
