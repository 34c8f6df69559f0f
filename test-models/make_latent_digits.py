#!/usr/bin/env python3
"""The latent built-in model `digits-latent`, trained with diffusers' own classes (issue 14, item 4), and its references.

A diffusers `AutoencoderKL` (1x32x32 pixels <-> 4x8x8 latent) and a class-conditional diffusers `UNet2DModel` on its
latent, trained on scikit-learn's digits upscaled to 32x32, saved with diffusers' `save_pretrained` into
src/main/resources/io/diffusion4j/models/digits-latent/, plus parity references written by diffusers' classes into
src/main/resources/io/diffusion4j/reference/latent-builtin/. See README.md, "The latent built-in model".

Run (diffusers is not installed here: put its source on PYTHONPATH, with the stand-ins of python-stubs/):
    git --git-dir=<mirror of huggingface/diffusers> archive v0.30.3 src | tar -x -C /tmp/d
    cd test-models && PYTHONPATH=/tmp/d/src:python-stubs /usr/bin/python3 make_latent_digits.py [STAGE ...]
STAGE: vae, unet, evaluate, refs (default: all four, in that order). Each stage reads what the previous ones saved,
so `evaluate refs` re-measures and rewrites the references from the committed model without training.

Environment: D4J_OUT / D4J_REF redirect the model folder / the references (trial runs); D4J_VAE_STEPS / D4J_UNET_STEPS override the step counts (trial runs only; never commit their output);
the UNet stage exports the folder every 250 steps (with a constant learning rate after the warm-up, the export at
step K equals a run with D4J_UNET_STEPS=K, so a run stopped after an export leaves a complete, reproducible folder).

One torch thread (measured on this 2-core machine under a load average of 8-13: a diffusers UNet training step took
0.65-2.3 s with one thread and 5.9-15.8 s with two, the threads waiting on each other). Deterministic: every random
draw comes from a seeded generator; the models' initial weights from torch.manual_seed.
"""
import copy
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

import diffusers
from diffusers import (AutoencoderKL, DDIMScheduler, DDPMScheduler, DiffusionPipeline, DPMSolverMultistepScheduler,
                       UNet2DModel)
from diffusers.utils.torch_utils import randn_tensor

torch.set_num_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "src", "main", "resources", "io", "diffusion4j")
OUT = os.environ.get("D4J_OUT", os.path.join(ROOT, "models", "digits-latent"))
REF = os.environ.get("D4J_REF", os.path.join(ROOT, "reference", "latent-builtin"))
CLASSIFIER = os.path.join(ROOT, "models", "digits-classifier", "model.pt")
PIXEL_DIGITS = os.path.join(ROOT, "models", "digits", "model.pt")
DIFFUSERS_REVISION = "v0.30.3 (c9ff360966327ace3faad3807dc871a4e5447501)"

NULL_CLASS = 10
P_UNCOND = 0.15
IMAGE = 32
VAE_STEPS = int(os.environ.get("D4J_VAE_STEPS", "500"))
UNET_STEPS = int(os.environ.get("D4J_UNET_STEPS", "1500"))

VAE_CONFIG = dict(in_channels=1, out_channels=1, latent_channels=4, sample_size=IMAGE,
                  down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
                  block_out_channels=(16, 32, 32), layers_per_block=1, norm_num_groups=8, act_fn="silu")
UNET_CONFIG = dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
                   down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
                   norm_num_groups=8, attention_head_dim=32, num_class_embeds=NULL_CLASS + 1)
SCHEDULER_CONFIG = dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="epsilon",
                        variance_type="fixed_small", clip_sample=False, timestep_spacing="leading", steps_offset=0)
KL_WEIGHT = 1e-4          # times KL(posterior || N(0, I)) per latent element (diffusers' kl() summed, / 256)


class LatentDiffusionPipeline(DiffusionPipeline):
    """diffusion4j's own name for the folder's model_index.json `_class_name` (not a diffusers class: diffusers has no
    pipeline for a class-conditional UNet2DModel on an AutoencoderKL latent; LDMPipeline is unconditional on a
    VQModel, DiTPipeline takes a transformer). It only holds the components so that save_pretrained writes diffusers'
    layout; the sampling loops are below (`sample_latents`)."""

    def __init__(self, vae: AutoencoderKL, unet: UNet2DModel, scheduler: DDPMScheduler):
        super().__init__()
        self.register_modules(vae=vae, unet=unet, scheduler=scheduler)


def log(*a):
    print("[%7.1fs]" % (time.time() - T0), *a, flush=True)


T0 = time.time()


def save_tensor(t, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(t.detach().contiguous().clone(), path)


def write_json(obj, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# ----------------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------------

def digits8():
    """sklearn load_digits: 1797 images 8x8, values 0..16 -> x/16*2-1 in [-1, 1] (as make_models.py)."""
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0 * 2.0 - 1.0
    return x, torch.tensor(d.target, dtype=torch.int64)


def upscale(x8):
    """8x8 -> 32x32, bilinear (align_corners=False, no antialias); stays in [-1, 1]."""
    return F.interpolate(x8, size=(IMAGE, IMAGE), mode="bilinear", align_corners=False)


def to_classifier(x32):
    """A decoded 32x32 image -> what digits-classifier takes: clamp to [-1, 1], then 4x4 average pooling to 8x8."""
    return F.avg_pool2d(x32.clamp(-1.0, 1.0), 4)


def split(n):
    """The digits classifier's split (make_models.py digits_split): randperm(n, manual_seed(0)), 80% train."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    k = int(round(n * 0.8))
    return perm[:k], perm[k:]


def psnr(mse, peak_to_peak=2.0):
    return 10.0 * math.log10(peak_to_peak ** 2 / mse)


# ----------------------------------------------------------------------------------------------------------------------
# Stage vae
# ----------------------------------------------------------------------------------------------------------------------

def shift(x, g, max_shift=2):
    """Random translation by up to +-max_shift pixels per image (padding with the background value -1)."""
    b = x.shape[0]
    p = F.pad(x, (max_shift,) * 4, value=-1.0)
    dx = torch.randint(0, 2 * max_shift + 1, (b,), generator=g)
    dy = torch.randint(0, 2 * max_shift + 1, (b,), generator=g)
    return torch.stack([p[i, :, dy[i]:dy[i] + IMAGE, dx[i]:dx[i] + IMAGE] for i in range(b)])


def recon_mse(vae, x):
    with torch.no_grad():
        return float(F.mse_loss(vae.decode(vae.encode(x).latent_dist.mean).sample, x))


def stage_vae():
    x8, _ = digits8()
    x = upscale(x8)
    tr, te = split(x.shape[0])
    torch.manual_seed(41)
    vae = AutoencoderKL(**VAE_CONFIG)
    g = torch.Generator().manual_seed(42)
    opt = torch.optim.Adam(vae.parameters(), lr=2e-3)
    batch, warmup = 32, 50
    losses, t0 = [], time.time()
    vae.train()
    for step in range(VAE_STEPS):
        for pg in opt.param_groups:
            pg["lr"] = 2e-3 * min(1.0, (step + 1) / warmup)
        xb = shift(x[tr[torch.randint(0, len(tr), (batch,), generator=g)]], g)
        post = vae.encode(xb).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=g)
        rec = vae.decode(z).sample
        mse = F.mse_loss(rec, xb)
        kl = post.kl().mean() / post.mean[0].numel()
        loss = mse + KL_WEIGHT * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append((float(mse), float(kl)))
        if (step + 1) % 50 == 0 or step == VAE_STEPS - 1:
            m = np.mean(losses[-50:], axis=0)
            log("vae step %d/%d mse %.5f kl/elem %.3f" % (step + 1, VAE_STEPS, m[0], m[1]))
    seconds = time.time() - t0
    vae.eval()
    with torch.no_grad():
        mean = torch.cat([vae.encode(x[i:i + 256]).latent_dist.mean for i in range(0, x.shape[0], 256)])
    std = float(mean.std())
    vae.register_to_config(scaling_factor=1.0 / std)
    shutil.rmtree(OUT, ignore_errors=True)
    vae.save_pretrained(os.path.join(OUT, "vae"))
    info = {"steps": VAE_STEPS, "batch_size": batch, "seconds": round(seconds, 1),
            "train_images": len(tr), "held_out_images": len(te),
            "final_mse": round(float(np.mean([l[0] for l in losses[-50:]])), 6),
            "final_kl_per_element": round(float(np.mean([l[1] for l in losses[-50:]])), 4),
            "loss": "MSE(decode(z), x) + %g * KL(posterior || N(0, I)) / 256, z a posterior sample" % KL_WEIGHT,
            "optimizer": "Adam lr 0.002 (50 warm-up steps, then constant)",
            "augmentation": "random shifts up to +-2 pixels at 32x32, padded with -1",
            "latent_mean_std": std, "latent_mean_mean": float(mean.mean()),
            "held_out_mse": recon_mse(vae, x[te]), "train_mse": recon_mse(vae, x[tr])}
    info["held_out_psnr_db"] = psnr(info["held_out_mse"])
    write_json(info, os.path.join(OUT, "vae_training.json"))
    log("vae: %d params, %.1fs, held-out MSE %.5f (PSNR %.2f dB), latent std %.4f mean %.4f"
        % (n_params(vae), seconds, info["held_out_mse"], info["held_out_psnr_db"], std, info["latent_mean_mean"]))


# ----------------------------------------------------------------------------------------------------------------------
# Stage unet
# ----------------------------------------------------------------------------------------------------------------------

def load_vae():
    return AutoencoderKL.from_pretrained(os.path.join(OUT, "vae")).eval()


def encode_all(vae):
    """All 1797 digits (32x32) -> posterior mean * scaling_factor (no sampling)."""
    x8, y = digits8()
    x = upscale(x8)
    with torch.no_grad():
        z = torch.cat([vae.encode(x[i:i + 256]).latent_dist.mean for i in range(0, x.shape[0], 256)])
    return z * vae.config.scaling_factor, y


def stage_unet():
    vae = load_vae()
    z, y = encode_all(vae)
    log("latents", tuple(z.shape), "std %.4f" % float(z.std()))
    sched = DDPMScheduler(**SCHEDULER_CONFIG)
    torch.manual_seed(51)
    unet = UNet2DModel(**UNET_CONFIG)
    ema = copy.deepcopy(unet)
    for p in ema.parameters():
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(52)
    lr, batch, warmup, decay = 1e-3, 64, 100, 0.995
    opt = torch.optim.Adam(unet.parameters(), lr=lr)
    losses, t0 = [], time.time()
    unet.train()
    for step in range(UNET_STEPS):
        for pg in opt.param_groups:
            pg["lr"] = lr * min(1.0, (step + 1) / warmup)
        idx = torch.randint(0, z.shape[0], (batch,), generator=g)
        x0 = z[idx]
        t = torch.randint(0, sched.config.num_train_timesteps, (batch,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        labels = torch.where(torch.rand(batch, generator=g) < P_UNCOND, torch.full_like(y[idx], NULL_CLASS), y[idx])
        xt = sched.add_noise(x0, noise, t)
        loss = F.mse_loss(unet(xt, t, class_labels=labels).sample, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        d = min(decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), unet.parameters()):
                pe.mul_(d).add_(pm.detach(), alpha=1 - d)
        losses.append(float(loss))
        if (step + 1) % 50 == 0 or step == UNET_STEPS - 1:
            log("unet step %d/%d loss(avg100) %.4f" % (step + 1, UNET_STEPS, np.mean(losses[-100:])))
        if (step + 1) % 250 == 0 or step == UNET_STEPS - 1:
            export_unet(vae, ema, sched, step + 1, batch, time.time() - t0, losses,
                        "Adam lr %g (%d warm-up steps, then constant); EMA decay %g (exported), "
                        "final_loss = mean MSE of the last 100 steps" % (lr, warmup, decay))


def export_unet(vae, ema, sched, steps, batch, seconds, losses, optimizer):
    ema = copy.deepcopy(ema).eval()
    # a fresh AutoencoderKL with the same config and weights: the one from from_pretrained would write its absolute
    # source path into vae/config.json as "_name_or_path"
    vae_copy = AutoencoderKL.from_config({k: v for k, v in vae.config.items() if not k.startswith("_")})
    vae_copy.load_state_dict(vae.state_dict())
    pipe = LatentDiffusionPipeline(vae=vae_copy.eval(), unet=ema, scheduler=sched)
    for sub in ("unet", "scheduler", "model_index.json"):
        p = os.path.join(OUT, sub)
        shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else (os.path.exists(p) and os.remove(p))
    pipe.save_pretrained(OUT, safe_serialization=True)
    info = {"steps": steps, "batch_size": batch, "seconds": round(seconds, 1),
            "final_loss": round(float(np.mean(losses[-100:])), 5), "optimizer": optimizer,
            "data": "all 1797 digits, 32x32, encoded to the posterior mean times scaling_factor",
            "label_dropout": P_UNCOND, "null_class_id": NULL_CLASS,
            "noising": "DDPMScheduler.add_noise, epsilon target, t uniform in [0, 1000)"}
    write_json(info, os.path.join(OUT, "unet_training.json"))
    log("unet exported at step %d: %d params, %.1fs, loss %.4f" % (steps, n_params(ema), seconds, info["final_loss"]))

# ----------------------------------------------------------------------------------------------------------------------
# Sampling with diffusers' own schedulers
# ----------------------------------------------------------------------------------------------------------------------

def load_all():
    vae = load_vae()
    unet = UNet2DModel.from_pretrained(os.path.join(OUT, "unet")).eval()
    sched = DDPMScheduler.from_pretrained(os.path.join(OUT, "scheduler"))
    return vae, unet, sched


def initial_noise(batch, seed, shape):
    """One torch.Generator per sample (manual_seed(seed + i)), drawn by diffusers' randn_tensor as its pipelines do."""
    gens = [torch.Generator().manual_seed(seed + i) for i in range(batch)]
    return randn_tensor((batch,) + tuple(shape), generator=gens, dtype=torch.float32)


def sample_latents(unet, scheduler, noise, labels, guidance, steps):
    """Classifier-free guided loop as diffusers' pipelines write it: one forward over cat([x, x]) with the labels
    cat([null] * B, labels); eps = uncond + guidance * (cond - uncond); x = scheduler.step(eps, t, x).prev_sample."""
    scheduler.set_timesteps(steps)
    x = noise * scheduler.init_noise_sigma
    both = torch.cat([torch.full_like(labels, NULL_CLASS), labels])
    with torch.no_grad():
        for t in scheduler.timesteps:
            inp = scheduler.scale_model_input(torch.cat([x, x]), t)
            out = unet(inp, t, class_labels=both).sample
            uncond, cond = out.chunk(2)
            x = scheduler.step(uncond + guidance * (cond - uncond), t, x).prev_sample
    return x


def decode(vae, latents):
    """diffusers' latent pipelines: vae.decode(latents / scaling_factor).sample (shift_factor is None here)."""
    with torch.no_grad():
        return vae.decode(latents / vae.config.scaling_factor).sample


def dpmpp(sched):
    return DPMSolverMultistepScheduler.from_config(sched.config, algorithm_type="dpmsolver++", solver_order=2)


# ----------------------------------------------------------------------------------------------------------------------
# Stage evaluate
# ----------------------------------------------------------------------------------------------------------------------

def classify(clf, x8):
    with torch.no_grad():
        return torch.cat([clf(x8[i:i + 512]).argmax(1) for i in range(0, x8.shape[0], 512)])


def timed(fn, reps):
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def measure_speed(vae, unet, sched, b=8, steps=20, reps=3):
    """Seconds per image of guided DPM-Solver++ sampling (2 network evaluations per step, batched), interleaved A/B/C
    runs, medians: the latent model (UNet on 4x8x8, then the VAE decode to 32x32), the same UNet2DModel config on
    1x32x32 pixels (random weights: a speed figure only), and the built-in pixel digits model (TorchScript, 8x8)."""
    lab = torch.arange(b) % 10
    pixel32 = UNet2DModel(**dict(UNET_CONFIG, sample_size=IMAGE, in_channels=1, out_channels=1)).eval()
    digits_ts = torch.jit.load(PIXEL_DIGITS).eval()

    class Out:
        def __init__(self, sample):
            self.sample = sample

    def ts_unet(x, t, class_labels):  # the TorchScript digits model behind UNet2DModel's call shape
        return Out(digits_ts(x, t.reshape(1).expand(x.shape[0]), class_labels))

    runs = {"latent (UNet on 4x8x8 + VAE decode to 1x32x32)":
                lambda: decode(vae, sample_latents(unet, dpmpp(sched), initial_noise(b, 1, (4, 8, 8)), lab, 3.0,
                                                   steps)),
            "pixel 1x32x32 (the same UNet2DModel config at 32x32, random weights: speed only)":
                lambda: sample_latents(pixel32, dpmpp(sched), initial_noise(b, 1, (1, 32, 32)), lab, 3.0, steps),
            "pixel 1x8x8 (the built-in digits TorchScript model)":
                lambda: sample_latents(ts_unet, dpmpp(sched), initial_noise(b, 1, (1, 8, 8)), lab, 3.0, steps)}
    times = {k: [] for k in runs}
    with torch.no_grad():
        for f in runs.values():
            f()  # warm-up
        for _ in range(reps):
            for k, f in runs.items():
                times[k] += timed(f, 1)
    return {"batch": b, "steps": steps, "guidance_scale": 3.0, "threads": torch.get_num_threads(), "reps": reps,
            "note": "milliseconds per image = median over %d interleaved runs / batch; measured on a 2-core machine "
                    "shared with other jobs (load average ~10-20), so compare the ratios" % reps,
            "ms_per_image": {k: 1000 * float(np.median(v)) / b for k, v in times.items()}}


def stage_evaluate():
    vae, unet, sched = load_all()
    clf = torch.jit.load(CLASSIFIER).eval()
    x8, y = digits8()
    x = upscale(x8)
    tr, te = split(x.shape[0])
    q = {"format_version": 1, "generated_by": "test-models/make_latent_digits.py", "torch_version": torch.__version__,
         "diffusers_revision": DIFFUSERS_REVISION, "classifier": "digits-classifier",
         "to_classifier": "decoded 32x32 image clamped to [-1, 1], then avg_pool2d(4) to 8x8"}
    with torch.no_grad():
        rec = vae.decode(vae.encode(x[te]).latent_dist.mean).sample
    mse = float(F.mse_loss(rec, x[te]))
    mse_c = float(F.mse_loss(rec.clamp(-1, 1), x[te]))
    q["reconstruction"] = {
        "images": "the %d held-out digits (the classifier's test split), 32x32 bilinear upscales" % len(te),
        "encode": "posterior mean", "mse": mse, "psnr_db": psnr(mse), "mse_clamped": mse_c,
        "psnr_clamped_db": psnr(mse_c), "max_abs_error": float((rec - x[te]).abs().max()),
        "classifier_accuracy_original_8x8": float((classify(clf, x8[te]) == y[te]).float().mean()),
        "classifier_accuracy_upscaled_then_pooled": float((classify(clf, to_classifier(x[te])) == y[te]).float().mean()),
        "classifier_accuracy_reconstructed": float((classify(clf, to_classifier(rec)) == y[te]).float().mean())}
    log("reconstruction", q["reconstruction"])

    per_class, seed, guidance, steps = 20, 10000, 3.0, 20
    labels = torch.arange(10).repeat_interleave(per_class)
    noise = initial_noise(labels.shape[0], seed, (4, 8, 8))
    lat = sample_latents(unet, dpmpp(sched), noise, labels, guidance, steps)
    pred = classify(clf, to_classifier(decode(vae, lat)))
    ok = (pred == labels).float()
    q["guided_dpmsolverpp20"] = {
        "scheduler": "DPMSolverMultistepScheduler.from_config(scheduler config, algorithm_type dpmsolver++, "
                     "solver_order 2)", "steps": steps, "guidance_scale": guidance,
        "samples": "%d per class, sample i has label i // %d, initial noise from manual_seed(%d + i)"
                   % (per_class, per_class, seed),
        "accuracy": float(ok.mean()),
        "per_class": [float(ok[labels == k].mean()) for k in range(10)],
        "latent_std": float(lat.std())}
    log("guided accuracy %.3f per class %s" % (ok.mean(), q["guided_dpmsolverpp20"]["per_class"]))

    q["speed"] = measure_speed(vae, unet, sched)
    log("speed", q["speed"]["ms_per_image"])
    write_json(q, os.path.join(REF, "quality.json"))

    vt = json.load(open(os.path.join(OUT, "vae_training.json")))
    ut = json.load(open(os.path.join(OUT, "unet_training.json")))
    meta = {"format_version": 1, "name": "digits-latent", "kind": "denoiser",
            "sample_shape": [UNET_CONFIG["in_channels"], 8, 8], "image_shape": [1, IMAGE, IMAGE],
            "value_range": [-1.0, 1.0], "forward_signature": ["sample", "timestep", "class_labels"],
            "timestep_dtype": "int64", "num_classes": 10, "null_class_id": NULL_CLASS,
            "description": "Latent diffusion on scikit-learn's digits (1797 images, x/16*2-1 in [-1, 1], bilinear "
                           "upscale 8x8 -> 32x32): vae/ is a diffusers AutoencoderKL (1x32x32 <-> 4x8x8, "
                           "scaling_factor = 1/std of the posterior means), unet/ a class-conditional diffusers "
                           "UNet2DModel on the scaled latent (class 10 = null class for classifier-free guidance, "
                           "labels dropped with p=0.15), scheduler/ its DDPMScheduler (squaredcos_cap_v2, epsilon, "
                           "clip_sample false). sample_shape is the latent the UNet takes; value_range and "
                           "image_shape describe the decoded image. To judge with digits-classifier: clamp to "
                           "[-1, 1], avg_pool2d(4) to 8x8. Made by test-models/make_latent_digits.py.",
            "training": {"vae": vt, "unet": ut},
            "quality": {"guided_dpmsolverpp20_accuracy": q["guided_dpmsolverpp20"]["accuracy"],
                        "reconstruction_psnr_db": q["reconstruction"]["psnr_db"]}}
    write_json(meta, os.path.join(OUT, "diffusion4j.json"))


# ----------------------------------------------------------------------------------------------------------------------
# Stage refs
# ----------------------------------------------------------------------------------------------------------------------

def stage_refs():
    vae, unet, sched = load_all()
    x8, y = digits8()
    _, te = split(x8.shape[0])
    sf = vae.config.scaling_factor
    index = {"format_version": 1, "generated_by": "test-models/make_latent_digits.py",
             "torch_version": torch.__version__, "diffusers_revision": DIFFUSERS_REVISION,
             "model": "models/digits-latent", "scaling_factor": sf, "null_class_id": NULL_CLASS, "cases": []}

    def put(name, tensors, **info):
        files = {}
        for k, t in tensors.items():
            save_tensor(t, os.path.join(REF, name, k + ".pt"))
            files[k] = "%s/%s.pt" % (name, k)
        index["cases"].append(dict(name=name, files=files, shapes={k: list(t.shape) for k, t in tensors.items()},
                                   dtypes={k: str(t.dtype).replace("torch.", "") for k, t in tensors.items()},
                                   **info))

    idx = te[:4]
    x = upscale(x8[idx])
    with torch.no_grad():
        post = vae.encode(x).latent_dist
        sample = post.sample(generator=torch.Generator().manual_seed(1234))
        dec = vae.decode(post.mean).sample
    put("vae", {"image": x, "latent_mean": post.mean, "latent_std": post.std, "latent_sample_seed1234": sample,
                "decoded_mean": dec},
        params={"digits_indices": idx.tolist(), "labels": y[idx].tolist(),
                "image": "load_digits images (x/16*2-1), bilinear upscale to 32x32",
                "latent_mean": "vae.encode(image).latent_dist.mean (not scaled)",
                "latent_std": "latent_dist.std", "latent_sample_seed1234":
                    "latent_dist.sample(generator=torch.Generator().manual_seed(1234)) (one generator, whole batch)",
                "decoded_mean": "vae.decode(latent_mean).sample (raw, not clamped)"})

    labels = torch.tensor([0, 3, 7, 9])
    noise = initial_noise(4, 1234, (4, 8, 8))
    for name, scheduler, steps in (("ddim10_cfg3", DDIMScheduler.from_config(sched.config), 10),
                                   ("dpmsolverpp20_cfg3", dpmpp(sched), 20)):
        lat = sample_latents(unet, scheduler, noise, labels, 3.0, steps)
        put(name, {"init_noise": noise, "class_labels": labels, "final_latent": lat, "decoded": decode(vae, lat)},
            # without "_use_default_values": a list made from a set, in an order that changes from run to run
            scheduler_config={k: v for k, v in scheduler.config.items() if k != "_use_default_values"},
            timesteps=scheduler.timesteps.tolist(),
            params={"steps": steps, "guidance_scale": 3.0, "batch_size": 4, "seed": 1234,
                    "generator": "one torch.Generator per sample, manual_seed(1234 + i), initial noise only",
                    "eta": 0.0 if name.startswith("ddim") else None,
                    "loop": "x = init_noise * init_noise_sigma; per t: out = unet(cat([x, x]), t, class_labels="
                            "cat([10]*4, labels)); eps = uncond + 3 (cond - uncond); x = scheduler.step(eps, t, x)",
                    "final_latent": "x after the last step (scaled latent space)",
                    "decoded": "vae.decode(final_latent / scaling_factor).sample (raw, not clamped)"})
        log(name, "latent |max| %.3f, decoded range [%.3f, %.3f]" % (lat.abs().max(), decode(vae, lat).min(),
                                                                      decode(vae, lat).max()))
    write_json(index, os.path.join(REF, "index.json"))


if __name__ == "__main__":
    stages = sys.argv[1:] or ["vae", "unet", "evaluate", "refs"]
    for s in stages:
        log("stage", s, "diffusers", diffusers.__version__, "torch", torch.__version__)
        globals()["stage_" + s]()
