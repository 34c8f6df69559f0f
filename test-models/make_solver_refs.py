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


def dpmpp_2m(model, cfg, spec, steps, seed, batch, labels):
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2), data prediction, midpoint form, as diffusers'
    DPMSolverMultistepScheduler(solver_order=2, lower_order_final=True, final_sigmas_type="zero"): leading spacing
    over N + 1 points (the last dropped), x_t = alpha_t x0 + sigma_t eps with alpha_t = 1/sqrt(s^2+1)."""
    t_train = cfg["num_train_timesteps"]
    ab = alphas_cumprod(cfg)
    all_sigmas = ((1 - ab) / ab) ** 0.5
    ratio = t_train // (steps + 1)
    timesteps = (np.arange(0, steps + 1) * ratio).round()[::-1][:-1].astype(np.int64)
    sigmas = np.interp(timesteps, np.arange(0, len(all_sigmas)), all_sigmas)
    sigmas = np.concatenate([sigmas, [0.0]])
    shape = [1] + spec["sample_shape"]
    noise = torch.cat([torch.randn(shape, generator=torch.Generator().manual_seed(seed + i)) for i in range(batch)])
    x = noise.clone()
    v = cfg["prediction_type"] == "v_prediction"

    def alpha_sigma(s):
        a = 1.0 / math.sqrt(s * s + 1)
        return a, s * a

    def lam(s):
        a, sg = alpha_sigma(s)
        return math.log(a) - math.log(sg) if sg > 0 else math.inf

    prev_x0 = None
    with torch.no_grad():
        for i, t in enumerate(timesteps):
            ts = torch.full((batch,), int(t), dtype=torch.int64)
            out = model(x, ts, labels) if labels is not None else model(x, ts)
            a_s, s_s = alpha_sigma(sigmas[i])
            x0 = a_s * x - s_s * out if v else (x - s_s * out) / a_s
            a_t, s_t = alpha_sigma(sigmas[i + 1])
            last = i == len(timesteps) - 1
            if s_t == 0:
                x_next = x0  # sigma_t = 0: exp(-h) = 0, sigma_t / sigma_s = 0
            else:
                h = lam(sigmas[i + 1]) - lam(sigmas[i])
                if prev_x0 is None or last:
                    x_next = (s_t / s_s) * x - (a_t * (math.exp(-h) - 1.0)) * x0
                else:
                    h0 = lam(sigmas[i]) - lam(sigmas[i - 1])
                    r0 = h0 / h
                    d1 = (1.0 / r0) * (x0 - prev_x0)
                    x_next = (s_t / s_s) * x - (a_t * (math.exp(-h) - 1.0)) * x0 - 0.5 * (a_t * (math.exp(-h) - 1.0)) * d1
            prev_x0 = x0
            x = x_next
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
        for kind, fn, cls in [("euler", euler, "EulerDiscreteScheduler"), ("dpmpp2m", dpmpp_2m, "DPMSolverMultistepScheduler")]:
            noise, result, timesteps, sigmas = fn(model, cfg, spec, steps, 1234, 4, lab)
            name = "%s_%s%d" % (model_name.replace("-", "_"), kind, steps)
            os.makedirs(OUT + name, exist_ok=True)
            torch.save(noise, OUT + name + "/init_noise.pt")
            torch.save(result, OUT + name + "/result.pt")
            extra = {} if kind == "euler" else {"solver_order": 2, "algorithm_type": "dpmsolver++", "solver_type": "midpoint",
                                                "lower_order_final": True, "final_sigmas_type": "zero"}
            cases.append({"name": name, "kind": kind, "model": model_name, "scheduler_config": dict(cfg, _class_name=cls, **extra),
                          "params": {"num_inference_steps": steps, "batch_size": 4, "seed": 1234, "class_labels": labels},
                          "timesteps": [int(t) for t in timesteps], "sigmas": [float(s) for s in sigmas],
                          "files": {"init_noise": "solvers/" + name + "/init_noise.pt", "result": "solvers/" + name + "/result.pt"}})
            print(name, "done")
    json.dump({"format_version": 1, "generated_by": "test-models/make_solver_refs.py", "torch_version": torch.__version__,
               "cases": cases}, open(ROOT + "reference/solvers.json", "w"), indent=1)


if __name__ == "__main__":
    main()
