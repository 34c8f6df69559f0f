"""A TorchScript denoiser that embeds a FLOAT timestep, and diffusers' own schedulers sampling it.

The model (`FloatTimeDenoiser`) is not one of the built-ins: a small fully-convolutional RGB denoiser whose time
embedding is sin/cos of the timestep as a float (`t.to(float32) * f_k`, f_0 = 1 rad per timestep), the way diffusers'
UNets embed the scheduler's timesteps. Rounding 946.42 to 946 therefore changes its output. It is trained briefly
(400 Adam steps) on smooth random colour fields in [-1, 1] so its predictions are plausible noise estimates.

Its folder holds only `model.pt` + `scheduler_config.json` (an EulerDiscreteScheduler config with diffusers'
defaults, timestep_spacing "linspace"): no diffusion4j.json, so the timestep dtype is not declared anywhere.

Reference runs use diffusers' own scheduler classes (EulerDiscreteScheduler, HeunDiscreteScheduler,
EulerAncestralDiscreteScheduler, DPMSolverMultistepScheduler), built with `from_config` from that config, in the loop
of a diffusers pipeline: x = init_noise * init_noise_sigma; for t in timesteps: eps = model(scale_model_input(x, t),
t); x = step(eps, t, x, generator=generators).prev_sample. The model gets the scheduler's timestep tensor as is
(float32 for the sigma schedulers, int64 for DPM-Solver++). Batch 4, 20 steps, per-sample generators
torch.Generator().manual_seed(1234 + i): the initial noise is drawn first from them, then Euler ancestral's step noise.

Run (diffusers is not installed; its source is put on the path, with the stand-ins in python-stubs/):
  git --git-dir=<a diffusers mirror> archive HEAD src/diffusers | tar -x -C /tmp/diffusers-src
  cd test-models && PYTHONPATH=/tmp/diffusers-src/src:python-stubs /usr/bin/python3 make_float_timestep_refs.py
Writes src/main/resources/io/diffusion4j/reference/float_timestep/{model/,<case>/,cases.json}. A few seconds.
"""
import inspect
import json
import math
import os
import types

import torch

# diffusers' torch_utils names torch.xpu / torch.mps device hooks that torch 1.13 lacks; nothing here calls them.
for _name in ("xpu", "mps"):
    if not hasattr(torch, _name):
        setattr(torch, _name, types.SimpleNamespace(
            empty_cache=lambda: None, device_count=lambda: 0, is_available=lambda: False, manual_seed=lambda s: None,
            reset_peak_memory_stats=lambda: None, max_memory_allocated=lambda: 0, synchronize=lambda: None))

import diffusers  # noqa: E402
from diffusers import (DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,  # noqa: E402
                       EulerDiscreteScheduler, HeunDiscreteScheduler)

OUT = "src/main/resources/io/diffusion4j/reference/float_timestep/"
SEED = 1234
BATCH = 4
STEPS = 20
SHAPE = [3, 8, 8]


class FloatTimeDenoiser(torch.nn.Module):
    """conv 3->24, + per-channel offsets from a float sinusoidal time embedding, SiLU, conv 24->24, SiLU, conv 24->3."""

    def __init__(self, c: int = 24, half: int = 8):
        super().__init__()
        self.register_buffer("freqs", torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32) / half))
        self.time_mlp = torch.nn.Sequential(torch.nn.Linear(2 * half, 32), torch.nn.SiLU(), torch.nn.Linear(32, 2 * c))
        self.conv_in = torch.nn.Conv2d(3, c, 3, padding=1)
        self.conv_mid = torch.nn.Conv2d(c, c, 3, padding=1)
        self.conv_out = torch.nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        t = timestep.to(torch.float32)
        if t.dim() == 0:
            t = t.expand(sample.shape[0])
        arg = t[:, None] * self.freqs[None, :]
        emb = self.time_mlp(torch.cat([torch.sin(arg), torch.cos(arg)], dim=1))
        scale, shift = emb.chunk(2, dim=1)
        h = self.conv_in(sample)
        h = torch.nn.functional.silu(h * (1 + scale[:, :, None, None]) + shift[:, :, None, None])
        h = torch.nn.functional.silu(self.conv_mid(h))
        return self.conv_out(h)


def smooth_fields(n, generator):
    """Random smooth colour fields in [-1, 1]: bilinear upsampling of 2x2 random colours."""
    low = torch.rand((n, 3, 2, 2), generator=generator) * 2 - 1
    return torch.nn.functional.interpolate(low, size=(8, 8), mode="bilinear", align_corners=True)


def train(model, config):
    sched = EulerDiscreteScheduler.from_config(config)
    ab = sched.alphas_cumprod.to(torch.float32)
    g = torch.Generator().manual_seed(7)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(400):
        x0 = smooth_fields(64, g)
        t = torch.randint(0, 1000, (64,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        a = ab[t][:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        loss = torch.nn.functional.mse_loss(model(xt, t), noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss)


def run(model, scheduler, generators, init_noise):
    scheduler.set_timesteps(STEPS)
    x = init_noise * scheduler.init_noise_sigma
    used = []
    with torch.no_grad():
        for t in scheduler.timesteps:
            inp = scheduler.scale_model_input(x, t)
            used.append(float(t))
            eps = model(inp, t)  # the scheduler's 0-d timestep tensor, dtype as diffusers passes it
            extra = {"generator": generators} if "generator" in inspect.signature(scheduler.step).parameters else {}
            x = scheduler.step(eps, t, x, **extra).prev_sample
    return x, used, str(scheduler.timesteps.dtype).replace("torch.", "")


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = dict(EulerDiscreteScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.0001,
                                         beta_end=0.02, prediction_type="epsilon",
                                         timestep_spacing="linspace").config)
    model = FloatTimeDenoiser()
    loss = train(model, config)
    model.eval()
    scripted = torch.jit.script(model)
    os.makedirs(OUT + "model", exist_ok=True)
    torch.jit.save(scripted, OUT + "model/model.pt")
    written = {k: v for k, v in config.items() if not k.startswith("_")}
    written = {"_class_name": "EulerDiscreteScheduler", "_diffusers_version": diffusers.__version__, **written}
    with open(OUT + "model/scheduler_config.json", "w") as f:
        json.dump(written, f, indent=2)
        f.write("\n")
    model = torch.jit.load(OUT + "model/model.pt")

    cases = []
    kinds = [("euler", EulerDiscreteScheduler), ("heun", HeunDiscreteScheduler),
             ("euler-a", EulerAncestralDiscreteScheduler), ("dpmsolver++", DPMSolverMultistepScheduler)]
    for name, cls in kinds:
        generators = [torch.Generator().manual_seed(SEED + i) for i in range(BATCH)]
        init_noise = torch.cat([torch.randn([1] + SHAPE, generator=g) for g in generators])
        result, timesteps, tdtype = run(model, cls.from_config(written), generators, init_noise)
        # what an int64 cast of the same timesteps gives (the old default): how far from the reference it lands
        generators = [torch.Generator().manual_seed(SEED + i) for i in range(BATCH)]
        [torch.randn([1] + SHAPE, generator=g) for g in generators]
        rounded, _, _ = run(RoundingModel(model), cls.from_config(written), generators, init_noise)
        key = name.replace("+", "p").replace("-", "_")
        os.makedirs(OUT + key, exist_ok=True)
        torch.save(init_noise.contiguous(), OUT + key + "/init_noise.pt")
        torch.save(result.contiguous(), OUT + key + "/result.pt")
        cases.append({"name": key, "scheduler": name, "diffusers_class": cls.__name__, "steps": STEPS,
                      "batch_size": BATCH, "seed": SEED, "generator": "per-sample manual_seed(seed + i)",
                      "noisy": name == "euler-a", "timestep_dtype": tdtype, "timesteps": timesteps,
                      "files": {"init_noise": key + "/init_noise.pt", "result": key + "/result.pt"},
                      "result_abs_max": float(result.abs().max()),
                      "max_abs_diff_if_timesteps_were_int64": float((rounded - result).abs().max())})
        print(f"{key}: {cls.__name__} timesteps {tdtype} {timesteps[:3]}..., |result| max {result.abs().max():.3f}, "
              f"int64 timesteps would be {float((rounded - result).abs().max()):.3g} away")
    with open(OUT + "cases.json", "w") as f:
        json.dump({"generated_by": "test-models/make_float_timestep_refs.py", "torch_version": torch.__version__,
                   "diffusers_version": diffusers.__version__, "model": "model/", "training_final_loss": loss,
                   "sample_shape": SHAPE, "cases": cases}, f, indent=1)
        f.write("\n")


class RoundingModel:
    """The model with its timesteps cast to int64 first (what a caller that rounds them would pass)."""

    def __init__(self, model):
        self.model = model

    def __call__(self, x, t):
        return self.model(x, torch.round(t).to(torch.int64))


if __name__ == "__main__":
    main()
