"""Reference runs of diffusers' OWN LCMScheduler loop over the committed TorchScript models, for LcmParityTest.

Each case is diffusers' LatentConsistencyModelPipeline loop with per-sample generators (seed + i):
  scheduler = LCMScheduler.from_config(config); scheduler.set_timesteps(N)
  x = randn_tensor(shape, generator=gens) * init_noise_sigma
  for t in scheduler.timesteps: x, denoised = scheduler.step(model(x, t), t, x, generator=gens, return_dict=False)
and the result is the last `denoised`. A committed model stands in for a consistency model: the parity of the
sampler loop (timesteps, boundary condition, re-noising order) does not need a distilled one.

diffusers is not vendored: check its source out anywhere and point DIFFUSERS_SRC at its src/ folder, e.g.
  git --git-dir=<mirror of huggingface/diffusers> archive HEAD src | tar -x -C /tmp/diffusers
  cd test-models && DIFFUSERS_SRC=/tmp/diffusers/src DIFFUSERS_REVISION=<its commit> /usr/bin/python3 make_lcm_refs.py
Runs on Debian's python3-torch 1.13 with the offline huggingface_hub stand-in in python-stubs/ (a few seconds).
Writes src/main/resources/io/diffusion4j/reference/lcm.json and reference/lcm/<case>/*.pt.
"""
import json
import os
import shutil
import subprocess
import sys
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DIFFUSERS_SRC = os.environ.get("DIFFUSERS_SRC", "/tmp/diffusers/src")
sys.path.insert(0, DIFFUSERS_SRC)
sys.path.insert(1, os.path.join(HERE, "python-stubs"))
# diffusers' utils build per-backend tables from torch.xpu / torch.mps, which torch 1.13 lacks; the schedulers never
# touch them, so inert namespaces let the package import.
for _backend in ("xpu", "mps"):
    if not hasattr(torch, _backend):
        setattr(torch, _backend, types.SimpleNamespace(
            empty_cache=lambda: None, device_count=lambda: 0, manual_seed=lambda seed: None,
            is_available=lambda: False, synchronize=lambda: None))

import diffusers  # noqa: E402
from diffusers import LCMScheduler  # noqa: E402
from diffusers.utils.torch_utils import randn_tensor  # noqa: E402

ROOT = os.path.join(HERE, "src/main/resources/io/diffusion4j/")
OUT = ROOT + "reference/lcm/"
SEED = 4321
BATCH = 4
LABELS = {"toy2d": None, "digits": [0, 3, 7, 9], "digits-v": [1, 2, 5, 8]}

# name, model, scheduler_config changes, steps
CASES = [
    ("digits_lcm1", "digits", {}, 1),  # toy2d at 1 step: eps -> x0 at t=999 multiplies the model's rounding by 158
    ("toy2d_lcm2", "toy2d", {}, 2),
    ("toy2d_lcm4", "toy2d", {}, 4),
    ("toy2d_lcm8_orig100_scale5", "toy2d", {"original_inference_steps": 100, "timestep_scaling": 5.0}, 8),
    ("toy2d_lcm3_orig7", "toy2d", {"original_inference_steps": 7}, 3),
    ("toy2d_lcm4_sample", "toy2d", {"prediction_type": "sample"}, 4),
    ("digits_lcm4", "digits", {}, 4),
    ("digits_lcm6_thresholding", "digits", {"thresholding": True, "dynamic_thresholding_ratio": 0.9,
                                            "sample_max_value": 1.5}, 6),
    ("digits_v_lcm4", "digits-v", {}, 4),
    ("digits_v_lcm8_scale1", "digits-v", {"timestep_scaling": 1.0, "clip_sample": False}, 8),
]


def git_revision():
    if os.environ.get("DIFFUSERS_REVISION"):
        return os.environ["DIFFUSERS_REVISION"]
    try:
        return subprocess.run(["git", "-C", DIFFUSERS_SRC, "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def run(name, model_name, changes, steps):
    model_dir = ROOT + "models/" + model_name + "/"
    model = torch.jit.load(model_dir + "model.pt").eval()
    spec = json.load(open(model_dir + "diffusion4j.json"))
    config = json.load(open(model_dir + "scheduler_config.json"))
    config = {k: v for k, v in config.items() if k not in ("variance_type",)}  # not an LCMScheduler key
    config.update(changes)
    config["_class_name"] = "LCMScheduler"
    scheduler = LCMScheduler.from_config(config)
    scheduler.set_timesteps(steps)
    gens = [torch.Generator().manual_seed(SEED + i) for i in range(BATCH)]
    shape = tuple([BATCH] + spec["sample_shape"])
    labels = LABELS[model_name]
    lab = torch.tensor(labels, dtype=torch.int64) if labels is not None else None
    x = randn_tensor(shape, generator=gens) * scheduler.init_noise_sigma
    denoised = None
    with torch.no_grad():
        for t in scheduler.timesteps:
            ts = torch.full((BATCH,), int(t), dtype=torch.int64)
            out = model(x, ts, lab) if lab is not None else model(x, ts)
            x, denoised = scheduler.step(out, t, x, generator=gens, return_dict=False)
    os.makedirs(OUT + name, exist_ok=True)
    torch.save(denoised.contiguous(), OUT + name + "/result.pt")
    written = dict(scheduler.config)
    written["_class_name"] = "LCMScheduler"
    written = {k: v for k, v in written.items() if not k.startswith("_") or k == "_class_name"}
    return {"name": name, "model": model_name, "scheduler_config": written,
            "params": {"num_inference_steps": steps, "batch_size": BATCH, "seed": SEED, "class_labels": labels},
            "timesteps": [int(t) for t in scheduler.timesteps],
            "files": {"result": "lcm/" + name + "/result.pt"}}


def main():
    torch.set_num_threads(1)
    shutil.rmtree(OUT, ignore_errors=True)
    cases = [run(*c) for c in CASES]
    with open(ROOT + "reference/lcm.json", "w") as f:
        json.dump({"format_version": 1, "generated_by": "test-models/make_lcm_refs.py",
                   "diffusers_version": diffusers.__version__, "diffusers_revision": git_revision(),
                   "torch_version": torch.__version__, "cases": cases}, f, indent=1)
        f.write("\n")
    for c in cases:
        print(c["name"], c["timesteps"])


if __name__ == "__main__":
    main()
