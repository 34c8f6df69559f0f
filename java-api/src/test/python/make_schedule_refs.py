#!/usr/bin/python3
"""Reference noise schedules and timesteps for diffusion4j's NoiseScheduleTest and TimestepsTest.

Run from the repository root (needs numpy and torch; Debian's python3-numpy and python3-torch work):

    /usr/bin/python3 java-api/src/test/python/make_schedule_refs.py

It writes java-api/src/test/resources/reference/schedules.json and timesteps.json.

The code mirrors Hugging Face diffusers (schedulers/scheduling_ddim.py and scheduling_ddpm.py:
betas_for_alpha_bar, rescale_zero_terminal_snr, __init__ and set_timesteps), except that betas are
computed in torch float64 rather than float32, so that the Java doubles can be checked to 1e-12.
diffusers itself is not imported: these are independent copies of its expressions.
"""
import json
import math
import os
import sys

import numpy as np
import torch

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "reference")


# ---- betas, as diffusers' DDPMScheduler.__init__ (dtype float32 -> float64) ----

def betas_for_alpha_bar(num_diffusion_timesteps, max_beta=0.999):
    def alpha_bar_fn(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = []
    for i in range(num_diffusion_timesteps):
        t1 = i / num_diffusion_timesteps
        t2 = (i + 1) / num_diffusion_timesteps
        betas.append(min(1 - alpha_bar_fn(t2) / alpha_bar_fn(t1), max_beta))
    return torch.tensor(betas, dtype=torch.float64)


def make_betas(beta_schedule, num_train_timesteps, beta_start, beta_end):
    if beta_schedule == "linear":
        return torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float64)
    if beta_schedule == "scaled_linear":
        return torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float64) ** 2
    if beta_schedule == "squaredcos_cap_v2":
        return betas_for_alpha_bar(num_train_timesteps)
    if beta_schedule == "sigmoid":
        betas = torch.linspace(-6, 6, num_train_timesteps, dtype=torch.float64)
        return torch.sigmoid(betas) * (beta_end - beta_start) + beta_start
    raise NotImplementedError(beta_schedule)


def rescale_zero_terminal_snr(betas):
    alphas = 1.0 - betas
    alphas_cumprod = torch.cumprod(alphas, dim=0)
    alphas_bar_sqrt = alphas_cumprod.sqrt()
    alphas_bar_sqrt_0 = alphas_bar_sqrt[0].clone()
    alphas_bar_sqrt_T = alphas_bar_sqrt[-1].clone()
    alphas_bar_sqrt -= alphas_bar_sqrt_T
    alphas_bar_sqrt *= alphas_bar_sqrt_0 / (alphas_bar_sqrt_0 - alphas_bar_sqrt_T)
    alphas_bar = alphas_bar_sqrt**2
    alphas = alphas_bar[1:] / alphas_bar[:-1]
    alphas = torch.cat([alphas_bar[0:1], alphas])
    betas = 1 - alphas
    return betas


def schedule_case(beta_schedule, num_train_timesteps, beta_start, beta_end, rescale):
    betas = make_betas(beta_schedule, num_train_timesteps, beta_start, beta_end)
    if rescale:
        betas = rescale_zero_terminal_snr(betas)
    alphas = 1.0 - betas
    alphas_cumprod = torch.cumprod(alphas, dim=0)
    return {
        "beta_schedule": beta_schedule,
        "num_train_timesteps": num_train_timesteps,
        "beta_start": beta_start,
        "beta_end": beta_end,
        "rescale_betas_zero_snr": rescale,
        "betas": [float(v) for v in betas.tolist()],
        "alphas_cumprod": [float(v) for v in alphas_cumprod.tolist()],
    }


# ---- timesteps, as diffusers' DDIMScheduler.set_timesteps ----

def timesteps(spacing, num_train_timesteps, num_inference_steps, steps_offset):
    if spacing == "linspace":
        ts = np.linspace(0, num_train_timesteps - 1, num_inference_steps).round()[::-1].copy().astype(np.int64)
    elif spacing == "leading":
        step_ratio = num_train_timesteps // num_inference_steps
        ts = (np.arange(0, num_inference_steps) * step_ratio).round()[::-1].copy().astype(np.int64)
        ts += steps_offset
    elif spacing == "trailing":
        step_ratio = num_train_timesteps / num_inference_steps
        ts = np.round(np.arange(num_train_timesteps, 0, -step_ratio)).astype(np.int64)
        ts -= 1
    else:
        raise NotImplementedError(spacing)
    return [int(v) for v in ts]


def main():
    schedules = []
    for rescale in (False, True):
        schedules.append(schedule_case("linear", 1000, 1e-4, 0.02, rescale))
        schedules.append(schedule_case("scaled_linear", 1000, 0.00085, 0.012, rescale))
        schedules.append(schedule_case("squaredcos_cap_v2", 1000, 1e-4, 0.02, rescale))
        schedules.append(schedule_case("sigmoid", 1000, 1e-4, 0.02, rescale))
    # small T, including the torch.linspace midpoint handling and a single step
    schedules.append(schedule_case("linear", 7, 1e-4, 0.02, False))
    schedules.append(schedule_case("scaled_linear", 1, 0.00085, 0.012, False))

    cases = []
    for spacing in ("leading", "trailing", "linspace"):
        for steps_offset in (0, 1):
            for n in (1, 2, 3, 7, 10, 50, 999, 1000):
                cases.append((spacing, 1000, n, steps_offset))
            for n in (1, 3, 7, 30, 33, 99, 100):
                cases.append((spacing, 100, n, steps_offset))
    ts_json = [
        {"timestep_spacing": s, "num_train_timesteps": t, "num_inference_steps": n, "steps_offset": o,
         "timesteps": timesteps(s, t, n, o)}
        for (s, t, n, o) in cases
    ]

    os.makedirs(OUT_DIR, exist_ok=True)
    meta = {"generator": "java-api/src/test/python/make_schedule_refs.py",
            "numpy": np.__version__, "torch": torch.__version__, "python": sys.version.split()[0]}
    with open(os.path.join(OUT_DIR, "schedules.json"), "w") as f:
        # json writes floats with repr(): the shortest string that round-trips to the same double
        json.dump({"meta": meta, "schedules": schedules}, f, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(OUT_DIR, "timesteps.json"), "w") as f:
        json.dump({"meta": meta, "cases": ts_json}, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
