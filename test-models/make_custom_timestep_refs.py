"""Reference runs of diffusers' OWN schedulers on an explicit timestep list (set_timesteps(timesteps=[...]), the
`timesteps` key diffusion4j reads from scheduler_config.json), over the committed toy2d model, for
CustomTimestepsParityTest.

Each case is a diffusers pipeline loop with per-sample generators (seed + i):
  scheduler = <Class>.from_config(config); scheduler.set_timesteps(timesteps=LIST)
  x = randn_tensor(shape, generator=gens) * init_noise_sigma
  for t in scheduler.timesteps: x = scheduler.step(model(scale_model_input(x, t), t), t, x, generator=gens).prev_sample
(for LCM the result is the last `denoised`). The lists are deliberately uneven, as a tuned schedule is.

diffusers is not vendored: check its source out anywhere and point DIFFUSERS_SRC at its src/ folder, e.g.
  git --git-dir=<mirror of huggingface/diffusers> archive HEAD src | tar -x -C /tmp/diffusers
  cd test-models && DIFFUSERS_SRC=/tmp/diffusers/src DIFFUSERS_REVISION=<its commit> /usr/bin/python3 make_custom_timestep_refs.py
Runs on Debian's python3-torch 1.13 with the stand-ins in python-stubs/ (a few seconds).
Writes src/main/resources/io/diffusion4j/reference/custom_timesteps.json and reference/custom_timesteps/<case>/*.pt.
"""
import json
import math
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
for _backend in ("xpu", "mps"):  # torch 1.13 lacks them; the schedulers never touch them
    if not hasattr(torch, _backend):
        setattr(torch, _backend, types.SimpleNamespace(
            empty_cache=lambda: None, device_count=lambda: 0, manual_seed=lambda seed: None,
            is_available=lambda: False, synchronize=lambda: None))

import diffusers  # noqa: E402
from diffusers import (DDPMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler,  # noqa: E402
                       LCMScheduler)
from diffusers.utils.torch_utils import randn_tensor  # noqa: E402

ROOT = os.path.join(HERE, "src/main/resources/io/diffusion4j/")
OUT = ROOT + "reference/custom_timesteps/"
SEED = 2468
BATCH = 4
UNEVEN = [999, 905, 760, 541, 330, 161, 48]

# name, scheduler class, config changes, timesteps
CASES = [
    ("toy2d_ddpm_list", DDPMScheduler, {}, UNEVEN),
    ("toy2d_euler_list", EulerDiscreteScheduler, {}, UNEVEN),
    ("toy2d_euler_list_trailing", EulerDiscreteScheduler, {"timestep_spacing": "trailing"}, [999, 700, 420, 90]),
    ("toy2d_dpmsolver_list", DPMSolverMultistepScheduler, {}, UNEVEN),
    ("toy2d_dpmsolver3_list", DPMSolverMultistepScheduler, {"solver_order": 3}, UNEVEN),
    ("toy2d_lcm_list", LCMScheduler, {}, [999, 759, 499, 259]),
]


def git_revision():
    if os.environ.get("DIFFUSERS_REVISION"):
        return os.environ["DIFFUSERS_REVISION"]
    try:
        return subprocess.run(["git", "-C", DIFFUSERS_SRC, "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def run(name, cls, changes, timesteps):
    model_dir = ROOT + "models/toy2d/"
    model = torch.jit.load(model_dir + "model.pt").eval()
    config = json.load(open(model_dir + "scheduler_config.json"))
    if cls is not DDPMScheduler:
        config.pop("variance_type", None)
    config.update(changes)
    config["_class_name"] = cls.__name__
    scheduler = cls.from_config(config)
    scheduler.set_timesteps(timesteps=timesteps)
    gens = [torch.Generator().manual_seed(SEED + i) for i in range(BATCH)]
    x = randn_tensor((BATCH, 2), generator=gens) * scheduler.init_noise_sigma
    result = None
    with torch.no_grad():
        for t in scheduler.timesteps:
            inp = scheduler.scale_model_input(x, t)
            ts = torch.full((BATCH,), int(t), dtype=torch.int64)
            out = model(inp, ts)
            step = scheduler.step(out, t, x, generator=gens, return_dict=False)
            x = step[0]
            result = step[1] if cls is LCMScheduler else x
    os.makedirs(OUT + name, exist_ok=True)
    torch.save(result.contiguous(), OUT + name + "/result.pt")
    written = {k: v for k, v in dict(scheduler.config).items()
               if not k.startswith("_") and not (isinstance(v, float) and not math.isfinite(v))}  # JSON has no inf
    written["_class_name"] = cls.__name__
    written["timesteps"] = timesteps
    return {"name": name, "model": "toy2d", "scheduler_config": written,
            "params": {"batch_size": BATCH, "seed": SEED},
            "timesteps": [int(t) for t in scheduler.timesteps],
            "files": {"result": "custom_timesteps/" + name + "/result.pt"}}


def main():
    torch.set_num_threads(1)
    shutil.rmtree(OUT, ignore_errors=True)
    cases = [run(*c) for c in CASES]
    with open(ROOT + "reference/custom_timesteps.json", "w") as f:
        json.dump({"format_version": 1, "generated_by": "test-models/make_custom_timestep_refs.py",
                   "diffusers_version": diffusers.__version__, "diffusers_revision": git_revision(),
                   "torch_version": torch.__version__, "cases": cases}, f, indent=1)
        f.write("\n")
    for c in cases:
        print(c["name"], c["timesteps"])


if __name__ == "__main__":
    main()
