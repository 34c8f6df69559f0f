"""Reference runs of diffusers' OWN scheduler classes (UniPC, PNDM, LMS, DPM-Solver++ with thresholding and Lu
lambdas, ...) over the committed TorchScript models, from saved initial noise.

Each case is diffusers' pipeline loop: scheduler = <Class>.from_config(config); set_timesteps(N);
x = noise * init_noise_sigma; for t in timesteps: x = step(model(scale_model_input(x, t), t), t, x).prev_sample.
Also writes the model and sample of diffusers' tests/schedulers full-loop tests (dummy_model: sample * t / (t + 1),
dummy_sample_deter) so that our tests can replay them.

diffusers is not vendored: check its source out anywhere and point DIFFUSERS_SRC at its src/ folder, e.g.
  git --git-dir=<mirror of huggingface/diffusers> archive HEAD src | tar -x -C /tmp/diffusers
  cd test-models && DIFFUSERS_SRC=/tmp/diffusers/src /usr/bin/python3 make_scheduler_refs.py
It runs on Debian's python3-torch 1.13 with python3-scipy, python3-filelock, python3-tqdm, python3-regex and the
offline huggingface_hub stand-in in python-stubs/. Writes src/main/resources/io/diffusion4j/reference/schedulers.json
and reference/schedulers/<case>/*.pt.
"""
import json
import os
import subprocess
import sys
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("DIFFUSERS_SRC", "/tmp/diffusers/src"))
sys.path.insert(1, os.path.join(HERE, "python-stubs"))
# diffusers' utils build per-backend tables from torch.xpu / torch.mps, which torch 1.13 lacks; the schedulers never
# touch them, so inert namespaces let the package import.
for _backend in ("xpu", "mps"):
    if not hasattr(torch, _backend):
        setattr(torch, _backend, types.SimpleNamespace(
            empty_cache=lambda: None, device_count=lambda: 0, manual_seed=lambda seed: None,
            is_available=lambda: False, synchronize=lambda: None))

import diffusers  # noqa: E402

ROOT = os.path.join(HERE, "src/main/resources/io/diffusion4j/")
OUT = ROOT + "reference/schedulers/"
SEED = 1234
BATCH = 4
LABELS = {"toy2d": None, "digits": [0, 3, 7, 9], "digits-v": [1, 2, 5, 8], "float-t": None}
# a model folder without diffusion4j.json (make_float_timestep_refs.py): model.pt + scheduler_config.json only; it
# embeds its timestep as a float and gets the scheduler's timesteps unchanged, as a diffusers pipeline passes them
FOREIGN = {"float-t": ("reference/float_timestep/model/", [3, 8, 8])}

# name, model, diffusers class, config changes, steps
CASES = [
    # DPM-Solver++ options that used to be refused
    ("digits_dpmpp2m_thres10", "digits", "DPMSolverMultistepScheduler",
     {"thresholding": True, "dynamic_thresholding_ratio": 0.87, "sample_max_value": 0.5, "lower_order_final": False,
      "final_sigmas_type": "sigma_min"}, 10),
    ("digits_dpmpp2m_thres20", "digits", "DPMSolverMultistepScheduler",
     {"thresholding": True, "dynamic_thresholding_ratio": 0.9, "sample_max_value": 1.5}, 20),
    # Lu lambdas span the whole train range; on digits-v's cosine schedule that starts at alpha-bar ~1e-9, where
    # diffusers' float32 cumprod and our doubles part by more than 1e-4, so the v-prediction case runs on the full
    # loop of diffusers' own test instead (FullLoopReplayTest)
    ("digits_dpmpp2m_lu10", "digits", "DPMSolverMultistepScheduler", {"use_lu_lambdas": True}, 10),
    ("toy2d_dpmpp3m_lu20", "toy2d", "DPMSolverMultistepScheduler", {"use_lu_lambdas": True, "solver_order": 3}, 20),
    ("toy2d_dpmpp2m_heun_clipped15", "toy2d", "DPMSolverMultistepScheduler",
     {"solver_type": "heun", "lambda_min_clipped": -5.1, "timestep_spacing": "linspace"}, 15),
    # UniPC
    ("toy2d_unipc_bh2_10", "toy2d", "UniPCMultistepScheduler", {}, 10),
    ("toy2d_unipc_bh2_20", "toy2d", "UniPCMultistepScheduler", {}, 20),
    ("digits_unipc_bh1_o3_10", "digits", "UniPCMultistepScheduler", {"solver_type": "bh1", "solver_order": 3, "final_sigmas_type": "sigma_min"}, 10),
    ("digits_unipc_bh2_o3_20", "digits", "UniPCMultistepScheduler", {"solver_order": 3}, 20),
    ("digits_v_unipc_bh2_10", "digits-v", "UniPCMultistepScheduler", {}, 10),
    ("digits_unipc_karras10", "digits", "UniPCMultistepScheduler",
     {"use_karras_sigmas": True, "timestep_spacing": "linspace"}, 10),
    ("toy2d_unipc_noise_pred_o3_12", "toy2d", "UniPCMultistepScheduler",
     {"predict_x0": False, "solver_order": 3, "disable_corrector": [0, 4], "timestep_spacing": "trailing",
      "final_sigmas_type": "sigma_min"}, 12),
    ("digits_unipc_o1_no_lower_final8", "digits", "UniPCMultistepScheduler",
     {"solver_order": 1, "lower_order_final": False, "final_sigmas_type": "sigma_min"}, 8),
    # PNDM
    ("toy2d_pndm_plms20", "toy2d", "PNDMScheduler", {"skip_prk_steps": True, "set_alpha_to_one": False}, 20),
    ("digits_pndm_plms10", "digits", "PNDMScheduler", {"skip_prk_steps": True, "set_alpha_to_one": False}, 10),
    ("digits_pndm_prk20", "digits", "PNDMScheduler", {"skip_prk_steps": False, "set_alpha_to_one": False}, 20),
    ("digits_v_pndm_prk10", "digits-v", "PNDMScheduler", {"skip_prk_steps": False, "set_alpha_to_one": True}, 10),
    ("digits_v_pndm_plms20", "digits-v", "PNDMScheduler",
     {"skip_prk_steps": True, "set_alpha_to_one": False, "steps_offset": 1}, 20),
    # LMS
    ("toy2d_lms20", "toy2d", "LMSDiscreteScheduler", {}, 20),
    ("toy2d_lms10", "toy2d", "LMSDiscreteScheduler", {}, 10),
    ("digits_lms20", "digits", "LMSDiscreteScheduler", {}, 20),
    ("toy2d_lms10_karras", "toy2d", "LMSDiscreteScheduler", {"use_karras_sigmas": True}, 10),
    ("digits_lms15_linspace", "digits", "LMSDiscreteScheduler", {"timestep_spacing": "linspace"}, 15),
    # sigma_min / sigma_max / final_sigmas_type on classes without those __init__ arguments: from_config keeps them
    # in the config as keys of compatible classes, where Heun's and KDPM2's Karras conversion (hasattr(self.config,
    # "sigma_min")) reads them and LMS's does not; all three end at sigma 0 whatever final_sigmas_type says
    ("toy2d_heun8_karras_sigma_keys", "toy2d", "HeunDiscreteScheduler",
     {"use_karras_sigmas": True, "sigma_min": 0.1, "sigma_max": 10.0, "final_sigmas_type": "sigma_min"}, 8),
    ("toy2d_heun8_final_sigma_min", "toy2d", "HeunDiscreteScheduler",
     {"sigma_min": 0.1, "sigma_max": 10.0, "final_sigmas_type": "sigma_min"}, 8),
    ("toy2d_lms8_karras_sigma_keys", "toy2d", "LMSDiscreteScheduler",
     {"use_karras_sigmas": True, "sigma_min": 0.1, "sigma_max": 10.0, "final_sigmas_type": "sigma_min"}, 8),
    ("toy2d_kdpm2_8_karras_sigma_keys", "toy2d", "KDPM2DiscreteScheduler",
     {"use_karras_sigmas": True, "sigma_min": 0.1, "sigma_max": 10.0, "final_sigmas_type": "sigma_min"}, 8),
    # DEIS
    ("toy2d_deis10", "toy2d", "DEISMultistepScheduler", {}, 10),
    ("digits_deis20", "digits", "DEISMultistepScheduler", {}, 20),
    ("digits_v_deis_o3_12", "digits-v", "DEISMultistepScheduler", {"solver_order": 3}, 12),
    ("digits_deis_o3_karras10", "digits", "DEISMultistepScheduler",
     {"solver_order": 3, "use_karras_sigmas": True, "timestep_spacing": "linspace"}, 10),
    ("digits_deis_thres16", "digits", "DEISMultistepScheduler",
     {"thresholding": True, "dynamic_thresholding_ratio": 0.9, "sample_max_value": 1.2, "timestep_spacing": "trailing"}, 16),
    # KDPM2 (2N - 1 model evaluations; the midpoints get fractional timesteps)
    ("toy2d_kdpm2_10", "toy2d", "KDPM2DiscreteScheduler", {}, 10),
    ("toy2d_kdpm2_karras20", "toy2d", "KDPM2DiscreteScheduler",
     {"use_karras_sigmas": True, "timestep_spacing": "linspace"}, 20),
    ("digits_kdpm2_linspace10", "digits", "KDPM2DiscreteScheduler", {"timestep_spacing": "linspace"}, 10),
    ("digits_kdpm2_trailing15", "digits", "KDPM2DiscreteScheduler", {"timestep_spacing": "trailing"}, 15),
    ("digits_v_kdpm2_10", "digits-v", "KDPM2DiscreteScheduler", {}, 10),
    # (not Karras sigmas on digits-v: diffusers' float32 alphas_cumprod moves a rounded timestep across .5, 177 vs
    # 178; nor trailing/linspace spacing there: they start at t = 999, where the cosine schedule's float32 alpha-bar
    # (~1e-9) and our doubles give sigmas far enough apart to move the result by 5e-2)
    ("digits_v_kdpm2_offset16", "digits-v", "KDPM2DiscreteScheduler", {"steps_offset": 1}, 16),
    ("float_t_kdpm2_10", "float-t", "KDPM2DiscreteScheduler", {}, 10),
    ("float_t_kdpm2_leading20", "float-t", "KDPM2DiscreteScheduler",
     {"timestep_spacing": "leading", "steps_offset": 1}, 20),
    # single-step DPM-Solver
    ("toy2d_dpmsingle_o2_10", "toy2d", "DPMSolverSinglestepScheduler", {}, 10),
    ("toy2d_dpmsingle_o3_heun20", "toy2d", "DPMSolverSinglestepScheduler",
     {"solver_order": 3, "solver_type": "heun"}, 20),
    ("toy2d_dpmsingle_sde_o2_12", "toy2d", "DPMSolverSinglestepScheduler",
     {"algorithm_type": "sde-dpmsolver++", "solver_type": "heun"}, 12),
    ("digits_dpmsingle_o3_sigma_min12", "digits", "DPMSolverSinglestepScheduler",
     {"solver_order": 3, "final_sigmas_type": "sigma_min"}, 12),
    ("digits_dpmsingle_noise_pred_heun15", "digits", "DPMSolverSinglestepScheduler",
     {"algorithm_type": "dpmsolver", "solver_type": "heun", "final_sigmas_type": "sigma_min"}, 15),
    ("digits_dpmsingle_thres_karras10", "digits", "DPMSolverSinglestepScheduler",
     {"thresholding": True, "dynamic_thresholding_ratio": 0.9, "sample_max_value": 1.2, "use_karras_sigmas": True}, 10),
    ("digits_v_dpmsingle_o2_10", "digits-v", "DPMSolverSinglestepScheduler", {}, 10),
    # (noise prediction ends at sigma_min, which diffusers' float32 1 - alphas_cumprod holds to ~1e-3 on the cosine
    # schedule: 4e-4 apart at the end; it runs on digits' linear schedule above)
    ("digits_v_dpmsingle_o3_heun_clipped20", "digits-v", "DPMSolverSinglestepScheduler",
     {"solver_order": 3, "solver_type": "heun", "lambda_min_clipped": -5.1}, 20),
    ("float_t_dpmsingle_o2_10", "float-t", "DPMSolverSinglestepScheduler", {}, 10),
    ("float_t_dpmsingle_o3_karras20", "float-t", "DPMSolverSinglestepScheduler",
     {"solver_order": 3, "use_karras_sigmas": True, "lower_order_final": True}, 20),
]


def call(model, x, t, labels):
    """The int64 models get round-half-to-even of a fractional timestep (LMS, Karras sigmas), as our pipeline does."""
    ts = torch.full((x.shape[0],), int(round(float(t))), dtype=torch.int64)
    return model(x, ts, labels) if labels is not None else model(x, ts)


def run_case(name, model_name, cls_name, changes, steps):
    foreign = model_name in FOREIGN
    d = ROOT + (FOREIGN[model_name][0] if foreign else "models/" + model_name + "/")
    base = json.load(open(d + "scheduler_config.json"))
    spec = {"sample_shape": FOREIGN[model_name][1]} if foreign else json.load(open(d + "diffusion4j.json"))
    model = torch.jit.load(d + "model.pt").eval()
    labels = LABELS[model_name]
    lab = torch.tensor(labels, dtype=torch.int64) if labels else None
    config = dict(base)
    config.pop("_class_name", None)
    config.pop("_diffusers_version", None)
    config.update(changes)
    cls = getattr(diffusers, cls_name)
    scheduler = cls.from_config(config)
    scheduler.set_timesteps(steps)
    shape = [1] + spec["sample_shape"]
    # per-sample generators: the initial noise first, then (SDE variants) each step's noise, as our seeded runs draw
    generators = [torch.Generator().manual_seed(SEED + i) for i in range(BATCH)]
    noise = torch.cat([torch.randn(shape, generator=g) for g in generators])
    noisy = changes.get("algorithm_type", "").startswith("sde-")
    x = noise * scheduler.init_noise_sigma
    with torch.no_grad():
        for t in scheduler.timesteps:
            inp = scheduler.scale_model_input(x, t)
            out = model(inp, t.reshape(1).expand(BATCH)) if foreign else call(model, inp, t, lab)
            extra = {"generator": generators} if noisy else {}
            x = scheduler.step(out, t, x, **extra).prev_sample
    if not torch.isfinite(x).all():
        raise SystemExit(name + ": non-finite result")
    os.makedirs(OUT + name, exist_ok=True)
    torch.save(noise, OUT + name + "/init_noise.pt")
    torch.save(x, OUT + name + "/result.pt")
    # the config exactly as diffusers holds it (every key, its defaults included), so Java reads what Python used
    full = {k: v for k, v in dict(scheduler.config).items() if not k.startswith("_")}
    full = json.loads(json.dumps(full, default=lambda o: list(o)))
    return {"name": name, "kind": cls_name, "model": model_name, "model_folder": d[len(ROOT):] if foreign else None,
            "noisy": noisy, "timestep_dtype": str(scheduler.timesteps.dtype).replace("torch.", ""),
            "scheduler_config": dict({"_class_name": cls_name}, **full),
            "params": {"num_inference_steps": steps, "batch_size": BATCH, "seed": SEED, "class_labels": labels},
            "timesteps": [float(t) for t in scheduler.timesteps],
            "init_noise_sigma": float(scheduler.init_noise_sigma),
            "files": {"init_noise": "schedulers/" + name + "/init_noise.pt",
                      "result": "schedulers/" + name + "/result.pt"},
            "mean_abs": float(x.abs().mean())}


# tests/schedulers/test_scheduler_dpm_multi.py's get_scheduler_config
DPM_TEST = {"num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear",
            "solver_order": 2, "prediction_type": "epsilon", "thresholding": False, "sample_max_value": 1.0,
            "algorithm_type": "dpmsolver++", "solver_type": "midpoint", "lower_order_final": False,
            "euler_at_final": False, "lambda_min_clipped": -float("inf"), "variance_type": None,
            "final_sigmas_type": "sigma_min"}


class DummyModel(torch.nn.Module):
    """diffusers' SchedulerCommonTest.dummy_model: sample * t / (t + 1), t broadcast per sample."""

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        t = timestep.to(sample.dtype).reshape(-1, 1, 1, 1)
        return sample * t / (t + 1)


def full_loop_model():
    """The dummy model and deterministic sample of diffusers' scheduler tests, as a model folder."""
    d = OUT + "full_loop/"
    os.makedirs(d, exist_ok=True)
    torch.jit.script(DummyModel()).save(d + "model.pt")
    batch, channels, height, width = 4, 3, 8, 8
    n = batch * channels * height * width
    sample = (torch.arange(n).reshape(channels, height, width, batch) / n).permute(3, 0, 1, 2)
    torch.save(sample.contiguous().float(), d + "sample_deter.pt")
    # what diffusers' own full-loop tests would give through this model (their asserted means are in
    # FullLoopReplayTest); printed as a check that the model and sample are the tests' own
    model = torch.jit.load(d + "model.pt")
    for cls_name, config, expected in [
            ("DPMSolverMultistepScheduler", dict(DPM_TEST, thresholding=True, dynamic_thresholding_ratio=0.87,
                                                 sample_max_value=0.5), 1.1364),
            ("DPMSolverMultistepScheduler", dict(DPM_TEST, prediction_type="v_prediction", use_lu_lambdas=True), 0.1554)]:
        scheduler = getattr(diffusers, cls_name)(**config)
        scheduler.set_timesteps(10)
        x = sample.float()
        for t in scheduler.timesteps:
            x = scheduler.step(model(x, t.reshape(1).expand(4).float()), t, x).prev_sample
        print("full loop %s %s: mean |x| %.4f (diffusers' test asserts %.4f)" % (cls_name, config, float(x.abs().mean()),
                                                                                 expected))


def main():
    """ONLY=name,name runs just those cases and merges them into the existing schedulers.json (others untouched)."""
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    only = [n for n in os.environ.get("ONLY", "").split(",") if n]
    cases = []
    for name, model_name, cls_name, changes, steps in CASES:
        if only and name not in only:
            continue
        cases.append(run_case(name, model_name, cls_name, changes, steps))
        print("%-34s mean|x| %.4f" % (name, cases[-1]["mean_abs"]))
    if only:
        path = ROOT + "reference/schedulers.json"
        existing = json.load(open(path))
        fresh = {c["name"]: c for c in cases}
        order = [c[0] for c in CASES]
        kept = {c["name"]: c for c in existing["cases"] if c["name"] in order}
        kept.update(fresh)
        existing["cases"] = [kept[n] for n in order if n in kept]
        json.dump(existing, open(path, "w"), indent=1)
        return
    full_loop_model()
    head = subprocess.run(["git", "-C", os.environ.get("DIFFUSERS_SRC", "/tmp/diffusers/src"), "rev-parse", "HEAD"],
                          capture_output=True, text=True).stdout.strip() or None
    json.dump({"format_version": 1, "generated_by": "test-models/make_scheduler_refs.py",
               "torch_version": torch.__version__, "diffusers_version": diffusers.__version__,
               "diffusers_commit": head, "cases": cases},
              open(ROOT + "reference/schedulers.json", "w"), indent=1)


if __name__ == "__main__":
    main()
