"""PyTorch reference runs for the sigma-based solvers (Euler), from the committed models.

Written from Karras et al. 2022 ("Elucidating the design space...", Euler = Algorithm 1 with no churn) in the
discrete-time epsilon parameterisation used by diffusers' EulerDiscreteScheduler: sigma_t = sqrt((1-ab_t)/ab_t),
the model sees x / sqrt(sigma^2 + 1) and timestep t, x0 = x - sigma * eps (epsilon) or
x0 = v * (-sigma / sqrt(sigma^2+1)) + x / (sigma^2 + 1) (v_prediction), x_next = x + (x - x0) / sigma * (sigma_next - sigma),
final sigma 0. Timesteps: diffusers' leading spacing; sigmas interpolated linearly over the train timesteps.

Run: cd test-models && /usr/bin/python3 make_solver_refs.py   (Debian's python3-torch; about 10 s)
Writes src/main/resources/io/diffusion4j/reference/solvers.json and reference/solvers/<case>/*.pt.
"""
import json
import math
import os

import numpy as np
import torch

ROOT = "src/main/resources/io/diffusion4j/"
OUT = ROOT + "reference/solvers/"


def alphas_cumprod(cfg):
    t = cfg["num_train_timesteps"]
    if cfg["beta_schedule"] == "linear":
        betas = torch.linspace(cfg["beta_start"], cfg["beta_end"], t, dtype=torch.float64)
    elif cfg["beta_schedule"] == "squaredcos_cap_v2":
        f = lambda s: math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = torch.tensor([min(1 - f((i + 1) / t) / f(i / t), 0.999) for i in range(t)], dtype=torch.float64)
    else:
        raise SystemExit("unsupported schedule")
    return torch.cumprod(1 - betas, 0).numpy()


def euler(model, cfg, spec, steps, seed, batch, labels):
    t_train = cfg["num_train_timesteps"]
    ab = alphas_cumprod(cfg)
    all_sigmas = ((1 - ab) / ab) ** 0.5
    ratio = t_train // steps
    timesteps = (np.arange(0, steps) * ratio).round()[::-1].astype(np.float64)
    sigmas = np.interp(timesteps, np.arange(0, len(all_sigmas)), all_sigmas)
    sigmas = np.concatenate([sigmas, [0.0]])
    init_sigma = math.sqrt(sigmas.max() ** 2 + 1)  # leading spacing
    shape = [1] + spec["sample_shape"]
    noise = torch.cat([torch.randn(shape, generator=torch.Generator().manual_seed(seed + i)) for i in range(batch)])
    x = noise * init_sigma
    v = cfg["prediction_type"] == "v_prediction"
    with torch.no_grad():
        for i, t in enumerate(timesteps):
            s, s_next = float(sigmas[i]), float(sigmas[i + 1])
            inp = x / math.sqrt(s * s + 1)
            ts = torch.full((batch,), int(t), dtype=torch.int64)
            out = model(inp, ts, labels) if labels is not None else model(inp, ts)
            if v:
                x0 = out * (-s / math.sqrt(s * s + 1)) + x / (s * s + 1)
            else:
                x0 = x - s * out
            d = (x - x0) / s
            x = x + d * (s_next - s)
    return noise, x, timesteps, sigmas


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    cases = []
    for model_name, steps, labels in [("toy2d", 20, None), ("digits", 20, [0, 3, 7, 9]), ("digits-v", 20, [1, 2, 5, 8])]:
        d = ROOT + "models/" + model_name + "/"
        cfg = json.load(open(d + "scheduler_config.json"))
        spec = json.load(open(d + "diffusion4j.json"))
        model = torch.jit.load(d + "model.pt").eval()
        lab = torch.tensor(labels, dtype=torch.int64) if labels else None
        noise, result, timesteps, sigmas = euler(model, cfg, spec, steps, 1234, 4, lab)
        name = "%s_euler%d" % (model_name.replace("-", "_"), steps)
        os.makedirs(OUT + name, exist_ok=True)
        torch.save(noise, OUT + name + "/init_noise.pt")
        torch.save(result, OUT + name + "/result.pt")
        cases.append({"name": name, "kind": "euler", "model": model_name, "scheduler_config": dict(cfg, _class_name="EulerDiscreteScheduler"),
                      "params": {"num_inference_steps": steps, "batch_size": 4, "seed": 1234, "class_labels": labels},
                      "timesteps": [int(t) for t in timesteps], "sigmas": [float(s) for s in sigmas],
                      "files": {"init_noise": "solvers/" + name + "/init_noise.pt", "result": "solvers/" + name + "/result.pt"}})
        print(name, "done")
    json.dump({"format_version": 1, "generated_by": "test-models/make_solver_refs.py", "torch_version": torch.__version__,
               "cases": cases}, open(ROOT + "reference/solvers.json", "w"), indent=1)


if __name__ == "__main__":
    main()
