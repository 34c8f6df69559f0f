#!/usr/bin/env python3
"""Regenerates the diffusion4j test models, fixtures and reference data.

    cd test-models && /usr/bin/python3 make_models.py

Needs Debian's python3-torch (1.13) and python3-sklearn; no diffusers. Everything is seeded;
the scheduler equations below re-implement Hugging Face diffusers' DDPMScheduler /
DDIMScheduler (see README.md). Output goes to src/main/resources/io/diffusion4j/.

Environment: D4J_SCALE=<float> multiplies all training step counts (for quick trial runs only;
the committed files are made with the default 1.0).
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
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits, make_moons

torch.set_num_threads(2)
torch.manual_seed(0)
np.random.seed(0)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "src", "main", "resources", "io", "diffusion4j")
MODELS = os.path.join(ROOT, "models")
REF = os.path.join(ROOT, "reference")
FIX = os.path.join(ROOT, "fixtures")
DIFFUSERS_VERSION = "0.25.0"
T_TRAIN = 1000
SCALE = float(os.environ.get("D4J_SCALE", "1.0"))
NULL_CLASS = 10


def log(*a):
    print("[%7.1fs]" % (time.time() - T0), *a, flush=True)


T0 = time.time()


def save_tensor(t, path):
    """torch.save of a plain, compact tensor (clone: never save a view of a larger storage)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(t.detach().contiguous().clone(), path)


def write_json(obj, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


# ----------------------------------------------------------------------------------------------
# Scheduler configs and schedules (diffusers semantics)
# ----------------------------------------------------------------------------------------------

def ddpm_config(beta_schedule="linear", prediction_type="epsilon", clip_sample=True,
                beta_start=0.0001, beta_end=0.02, rescale=False):
    return {
        "_class_name": "DDPMScheduler",
        "_diffusers_version": DIFFUSERS_VERSION,
        "num_train_timesteps": T_TRAIN,
        "beta_start": beta_start,
        "beta_end": beta_end,
        "beta_schedule": beta_schedule,
        "trained_betas": None,
        "variance_type": "fixed_small",
        "clip_sample": clip_sample,
        "clip_sample_range": 1.0,
        "prediction_type": prediction_type,
        "thresholding": False,
        "dynamic_thresholding_ratio": 0.995,
        "sample_max_value": 1.0,
        "timestep_spacing": "leading",
        "steps_offset": 0,
        "rescale_betas_zero_snr": rescale,
    }


def ddim_config_from(ddpm_cfg, set_alpha_to_one=True):
    keys = ["num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
            "clip_sample", "set_alpha_to_one", "steps_offset", "prediction_type", "thresholding",
            "dynamic_thresholding_ratio", "clip_sample_range", "sample_max_value",
            "timestep_spacing", "rescale_betas_zero_snr"]
    src = dict(ddpm_cfg)
    src["set_alpha_to_one"] = set_alpha_to_one
    cfg = {"_class_name": "DDIMScheduler", "_diffusers_version": DIFFUSERS_VERSION}
    for k in keys:
        cfg[k] = src[k]
    return cfg


def make_betas(schedule, T, beta_start, beta_end):
    """float64 betas [T]."""
    if schedule == "linear":
        return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    if schedule == "scaled_linear":
        return torch.linspace(beta_start ** 0.5, beta_end ** 0.5, T, dtype=torch.float64) ** 2
    if schedule == "squaredcos_cap_v2":
        def alpha_bar(t):
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        return torch.tensor([min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), 0.999)
                             for i in range(T)], dtype=torch.float64)
    if schedule == "sigmoid":
        b = torch.linspace(-6, 6, T, dtype=torch.float64)
        return torch.sigmoid(b) * (beta_end - beta_start) + beta_start
    raise ValueError(schedule)


def rescale_zero_terminal_snr(betas):
    alphas = 1.0 - betas
    alphas_cumprod = torch.cumprod(alphas, dim=0)
    a = alphas_cumprod.sqrt()
    a0 = a[0].clone()
    aT = a[-1].clone()
    a = a - aT
    a = a * a0 / (a0 - aT)
    alphas_cumprod = a ** 2
    alphas = alphas_cumprod[1:] / alphas_cumprod[:-1]
    alphas = torch.cat([alphas_cumprod[0:1], alphas])
    return 1.0 - alphas


class Schedule:
    def __init__(self, cfg):
        betas = make_betas(cfg["beta_schedule"], cfg["num_train_timesteps"], cfg["beta_start"],
                           cfg["beta_end"])
        if cfg.get("rescale_betas_zero_snr", False):
            betas = rescale_zero_terminal_snr(betas)
        self.cfg = cfg
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)  # float64
        self.ab = [float(v) for v in self.alphas_cumprod]


def inference_timesteps(cfg, n):
    T = cfg["num_train_timesteps"]
    sp = cfg["timestep_spacing"]
    if sp == "linspace":
        ts = np.linspace(0, T - 1, n).round()[::-1].copy().astype(np.int64)
    elif sp == "leading":
        r = T // n
        ts = (np.arange(0, n) * r).round()[::-1].copy().astype(np.int64) + cfg["steps_offset"]
    elif sp == "trailing":
        r = T / n
        ts = np.round(np.arange(T, 0, -r)).astype(np.int64) - 1
    else:
        raise ValueError(sp)
    return [int(t) for t in ts]


def predict_x0_eps(pred_type, x, out, a_t):
    b_t = 1.0 - a_t
    if pred_type == "epsilon":
        return (x - b_t ** 0.5 * out) / a_t ** 0.5, out
    if pred_type == "v_prediction":
        return a_t ** 0.5 * x - b_t ** 0.5 * out, a_t ** 0.5 * out + b_t ** 0.5 * x
    if pred_type == "sample":
        return out, (x - a_t ** 0.5 * out) / b_t ** 0.5
    raise ValueError(pred_type)


def sample_loop(model_fn, cfg, kind, n_steps, batch, seed, sample_shape, eta=0.0, record=False):
    """diffusers DDPM/DDIM sampling with per-sample generators g_i = manual_seed(seed + i).

    Returns dict with init_noise, step_noise [n, B, ...], result, and (if record) trajectory
    [n, B, ...] (x after each step) and model_outputs [n, B, ...] (the (guided) model output)."""
    sched = Schedule(cfg)
    ab = sched.ab
    T = cfg["num_train_timesteps"]
    ts = inference_timesteps(cfg, n_steps)
    shape = (1,) + tuple(sample_shape)
    gens = [torch.Generator().manual_seed(seed + i) for i in range(batch)]
    x = torch.cat([torch.randn(shape, generator=g) for g in gens])
    init = x.clone()
    step_noise = torch.zeros((len(ts), batch) + tuple(sample_shape))
    traj, outs = [], []
    final_alpha = 1.0 if cfg.get("set_alpha_to_one", True) else ab[0]
    pred_type = cfg["prediction_type"]
    clip = cfg["clip_sample"]
    r = cfg["clip_sample_range"]
    for k, t in enumerate(ts):
        tt = torch.full((batch,), t, dtype=torch.int64)
        with torch.no_grad():
            out = model_fn(x, tt)
        prev_t = t - T // n_steps
        a_t = ab[t]
        if kind == "ddim":
            a_prev = ab[prev_t] if prev_t >= 0 else final_alpha
            x0, eps = predict_x0_eps(pred_type, x, out, a_t)
            if clip:
                x0 = x0.clamp(-r, r)
            variance = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)
            std = eta * variance ** 0.5
            x_new = a_prev ** 0.5 * x0 + (1 - a_prev - std ** 2) ** 0.5 * eps
            if eta > 0:
                noise = torch.cat([torch.randn(shape, generator=g) for g in gens])
                step_noise[k] = noise
                x_new = x_new + std * noise
        elif kind == "ddpm":
            a_prev = ab[prev_t] if prev_t >= 0 else 1.0
            cur_alpha = a_t / a_prev
            cur_beta = 1 - cur_alpha
            x0, _ = predict_x0_eps(pred_type, x, out, a_t)
            if clip:
                x0 = x0.clamp(-r, r)
            c0 = a_prev ** 0.5 * cur_beta / (1 - a_t)
            cx = cur_alpha ** 0.5 * (1 - a_prev) / (1 - a_t)
            x_new = c0 * x0 + cx * x
            if t > 0:
                noise = torch.cat([torch.randn(shape, generator=g) for g in gens])
                step_noise[k] = noise
                variance = max((1 - a_prev) / (1 - a_t) * cur_beta, 1e-20)
                x_new = x_new + variance ** 0.5 * noise
        else:
            raise ValueError(kind)
        x = x_new
        if record:
            traj.append(x.clone())
            outs.append(out.clone())
    res = {"init_noise": init, "step_noise": step_noise, "result": x, "timesteps": ts}
    if record:
        res["trajectory"] = torch.stack(traj)
        res["model_outputs"] = torch.stack(outs)
    return res


def cond_fn(model, labels):
    def f(x, t):
        return model(x, t, labels)
    return f


def guided_fn(model, labels, scale, null_id=NULL_CLASS):
    def f(x, t):
        b = x.shape[0]
        y = torch.cat([torch.full((b,), null_id, dtype=torch.int64), labels])
        out = model(torch.cat([x, x]), torch.cat([t, t]), y)
        u, c = out.chunk(2)
        return u + scale * (c - u)
    return f


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------

class SinusoidalEmbedding(nn.Module):
    """[B] int64 timesteps -> [B, dim] float32: cat(sin(t*f), cos(t*f)), f_k = 10000^(-k/half)."""

    def __init__(self, dim: int):
        super().__init__()
        half = dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer("freqs", freqs)

    def forward(self, timestep: torch.Tensor, batch: int) -> torch.Tensor:
        if timestep.dim() == 0:
            timestep = timestep.reshape(1).expand(batch)
        a = timestep.to(torch.float32)[:, None] * self.freqs[None, :]
        return torch.cat([torch.sin(a), torch.cos(a)], dim=1)


class Toy2dDenoiser(nn.Module):
    def __init__(self, hidden: int = 128, temb: int = 32):
        super().__init__()
        self.temb = SinusoidalEmbedding(temb)
        self.net = nn.Sequential(
            nn.Linear(2 + temb, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, 2))

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        e = self.temb(timestep, sample.shape[0])
        return self.net(torch.cat([sample, e], dim=1))


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, groups: int = 8):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + emb[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class DigitsUNet(nn.Module):
    """Class-conditional UNet for [B,1,8,8]: 8x8 at c channels, 4x4 at 2c channels."""

    def __init__(self, c: int = 32, emb_dim: int = 64, n_mid: int = 2, num_embeddings: int = 11):
        super().__init__()
        self.c = c
        self.temb = SinusoidalEmbedding(c)
        self.time_mlp = nn.Sequential(nn.Linear(c, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(num_embeddings, emb_dim)
        # one projection for all per-block embedding offsets (fewer small matmuls)
        self.emb_proj = nn.Linear(emb_dim, c + 2 * c * n_mid + c)
        self.conv_in = nn.Conv2d(1, c, 3, padding=1)
        self.down_block = ResBlock(c, c)
        self.downsample = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
        self.mid = nn.ModuleList([ResBlock(2 * c, 2 * c) for _ in range(n_mid)])
        self.upsample = nn.Conv2d(2 * c, 4 * c, 1)  # + pixel_shuffle(2): 4x4x2c -> 8x8xc
        self.up_block = ResBlock(2 * c, c)
        self.norm_out = nn.GroupNorm(8, c)
        self.conv_out = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor,
                class_labels: torch.Tensor) -> torch.Tensor:
        c = self.c
        e = F.silu(self.time_mlp(self.temb(timestep, sample.shape[0])) + self.class_emb(class_labels))
        p = self.emb_proj(e)
        h1 = self.down_block(self.conv_in(sample), p[:, 0:c])
        h = self.downsample(h1)
        o = c
        for blk in self.mid:
            h = blk(h, p[:, o:o + 2 * c])
            o += 2 * c
        h = F.pixel_shuffle(self.upsample(h), 2)
        h = self.up_block(torch.cat([h, h1], dim=1), p[:, o:o + c])
        return self.conv_out(F.silu(self.norm_out(h)))


class DigitsClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 4 * 4, 128)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(128, 10)

    @torch.jit.export
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate activations [B, 128] (fc1 + ReLU, before dropout and fc2): the digits FD's features."""
        h = F.relu(self.conv1(x))
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        h = F.relu(self.conv3(h))
        return F.relu(self.fc1(h.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(self.features(x)))


class Affine(nn.Module):
    def forward(self, x: torch.Tensor, scale: float, shift: int) -> torch.Tensor:
        return x * scale + shift


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------

MOONS_CENTER = (0.5, 0.25)
MOONS_HALF_RANGE = (1.5, 0.75)


def moons(n, seed):
    """sklearn make_moons(noise=0.05); the bounding box [-1,2]x[-0.5,1] of the noiseless moons
    mapped to [-1,1]^2: x' = (x - 0.5) / 1.5, y' = (y - 0.25) / 0.75."""
    X, _ = make_moons(n_samples=n, noise=0.05, random_state=seed)
    X = (X - np.array(MOONS_CENTER)) / np.array(MOONS_HALF_RANGE)
    return torch.tensor(X, dtype=torch.float32)


def digits():
    """sklearn load_digits: 1797 images 8x8 with values 0..16 -> x/16*2-1 in [-1,1]."""
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0 * 2.0 - 1.0
    y = torch.tensor(d.target, dtype=torch.int64)
    return x, y


def digits_split(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    n_train = int(round(0.8 * n))
    return perm[:n_train], perm[n_train:]


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------

def train_denoiser(model, data, labels, cfg, steps, batch, lr, seed, ema_decay=0.999,
                   p_uncond=0.15, warmup=200, min_lr_frac=0.05):
    """Adam, linear warm-up then cosine decay, EMA of weights (returned), MSE on the target of
    cfg['prediction_type']. final_loss = mean training loss over the last 200 steps."""
    steps = max(1, int(steps * SCALE))
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    sched = Schedule(cfg)
    ab = sched.alphas_cumprod.to(torch.float32)
    T = cfg["num_train_timesteps"]
    pred = cfg["prediction_type"]
    ema = copy.deepcopy(model)
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    t0 = time.time()
    model.train()
    n = data.shape[0]
    for step in range(steps):
        if step < warmup:
            f = (step + 1) / warmup
        else:
            prog = (step - warmup) / max(1, steps - warmup)
            f = min_lr_frac + (1 - min_lr_frac) * 0.5 * (1 + math.cos(math.pi * prog))
        for pg in opt.param_groups:
            pg["lr"] = lr * f
        idx = torch.randint(0, n, (batch,), generator=g)
        x0 = data[idx]
        t = torch.randint(0, T, (batch,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        a = ab[t].view((-1,) + (1,) * (x0.dim() - 1))
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        if pred == "epsilon":
            target = noise
        elif pred == "v_prediction":
            target = a.sqrt() * noise - (1 - a).sqrt() * x0
        else:
            target = x0
        if labels is not None:
            y = labels[idx]
            drop = torch.rand(batch, generator=g) < p_uncond
            y = torch.where(drop, torch.full_like(y, NULL_CLASS), y)
            out = model(xt, t, y)
        else:
            out = model(xt, t)
        loss = F.mse_loss(out, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        d = min(ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(d).add_(pm.detach(), alpha=1 - d)
            for be, bm in zip(ema.buffers(), model.buffers()):
                be.copy_(bm)
        losses.append(loss.item())
        if (step + 1) % 1000 == 0 or step == steps - 1:
            log("  step %d/%d loss(avg200) %.4f" % (step + 1, steps, float(np.mean(losses[-200:]))))
    seconds = time.time() - t0
    ema.eval()
    model.eval()
    info = {"steps": steps, "batch_size": batch, "final_loss": round(float(np.mean(losses[-200:])), 5),
            "optimizer": "Adam lr %g, %d warm-up steps then cosine decay to %g x lr; EMA decay %g "
                         "(exported); final_loss = mean MSE of the last 200 steps"
                         % (lr, warmup, min_lr_frac, ema_decay),
            "seconds": round(seconds, 1)}
    return ema, info


def export_model(model, name, cfg, meta):
    d = os.path.join(MODELS, name)
    os.makedirs(d, exist_ok=True)
    scripted = torch.jit.script(model.eval())
    path = os.path.join(d, "model.pt")
    torch.jit.save(scripted, path)
    if cfg is not None:
        # The shipped config samples without clip_sample: guided DDIM with clipping recognises 13% of the requested
        # digits (README "Quality figures"). Training and the reference cases keep the config they were made with.
        shipped = dict(cfg, clip_sample=False) if name in ("digits", "digits-v") else cfg
        write_json(shipped, os.path.join(d, "scheduler_config.json"))
    write_json(meta, os.path.join(d, "diffusion4j.json"))
    loaded = torch.jit.load(path)
    loaded.eval()
    return loaded


def meta(name, kind, sample_shape, value_range, signature, timestep_dtype, num_classes, null_id,
         description, training, **extra):
    m = {"format_version": 1, "name": name, "kind": kind, "sample_shape": sample_shape,
         "value_range": value_range, "forward_signature": signature,
         "timestep_dtype": timestep_dtype, "num_classes": num_classes, "null_class_id": null_id,
         "description": description, "training": training}
    m.update(extra)
    return m


# ----------------------------------------------------------------------------------------------
# Quality metrics
# ----------------------------------------------------------------------------------------------

def energy_distance(x, y):
    """2 E|X-Y| - E|X-X'| - E|Y-Y'|, Euclidean norm, means over ALL ordered pairs (n*m, n*n incl.
    the zero diagonal, m*m incl. the zero diagonal), computed in float64."""
    x = x.to(torch.float64)
    y = y.to(torch.float64)
    return float(2 * torch.cdist(x, y).mean() - torch.cdist(x, x).mean() - torch.cdist(y, y).mean())


def classify(clf, x):
    with torch.no_grad():
        return clf(x).argmax(1)


def fwd_timing(model, batch=400, reps=30):
    x = torch.randn(batch, 1, 8, 8)
    t = torch.randint(0, T_TRAIN, (batch,))
    y = torch.randint(0, 11, (batch,))
    with torch.no_grad():
        for _ in range(10):
            model(x, t, y)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            model(x, t, y)
            ts.append(time.perf_counter() - t0)
    ts.sort()
    return round(ts[0] * 1000, 2), round(ts[len(ts) // 2] * 1000, 2)


# ----------------------------------------------------------------------------------------------
# Stages
# ----------------------------------------------------------------------------------------------

MODEL_NAMES = ["digits", "digits-v", "toy2d", "digits-classifier"]


def write_model_index():
    """models/index.txt: the built-in model folders, one per line (read by java-api)."""
    os.makedirs(MODELS, exist_ok=True)
    with open(os.path.join(MODELS, "index.txt"), "w") as f:
        f.write("# built-in models: one folder name per line (io/diffusion4j/models/<name>/)\n")
        for name in MODEL_NAMES:
            f.write(name + "\n")


def make_fixtures():
    os.makedirs(FIX, exist_ok=True)
    small = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    i64 = torch.tensor([1, -2, 3], dtype=torch.int64)
    save_tensor(small, os.path.join(FIX, "tensor_small.pt"))
    save_tensor(i64, os.path.join(FIX, "tensor_int64.pt"))
    aff = torch.jit.script(Affine())
    torch.jit.save(aff, os.path.join(FIX, "affine.pt"))
    aff = torch.jit.load(os.path.join(FIX, "affine.pt"))
    cases = []
    for scale, shift in [(0.5, 2), (-1.25, -3)]:
        out = aff(small, scale, shift)
        cases.append({"x": "tensor_small.pt", "scale": scale, "shift": shift,
                      "expected_dtype": str(out.dtype).replace("torch.", ""),
                      "expected_shape": list(out.shape),
                      "expected": [float(v) for v in out.flatten()]})
    write_json({
        "format_version": 1,
        "tensor_small": {"file": "tensor_small.pt", "dtype": "float32", "shape": [3, 4],
                         "values": [float(v) for v in small.flatten()],
                         "python": "torch.arange(12, dtype=torch.float32).reshape(3, 4)"},
        "tensor_int64": {"file": "tensor_int64.pt", "dtype": "int64", "shape": [3],
                         "values": [int(v) for v in i64]},
        "affine": {"file": "affine.pt", "forward_signature": ["x", "scale", "shift"],
                   "argument_types": ["Tensor", "float", "int"], "returns": "Tensor",
                   "python": "def forward(self, x: Tensor, scale: float, shift: int) -> Tensor: "
                             "return x * scale + shift",
                   "cases": cases},
    }, os.path.join(FIX, "fixtures.json"))
    log("fixtures written")


def make_toy2d():
    cfg = ddpm_config("linear", "epsilon", clip_sample=False)
    train = moons(100000, seed=0)
    data = moons(10000, seed=1)
    torch.manual_seed(1)
    model = Toy2dDenoiser()
    log("toy2d: %d params" % n_params(model))
    ema, info = train_denoiser(model, train, None, cfg, steps=12000, batch=512, lr=2e-3, seed=11,
                               ema_decay=0.999)
    m = meta("toy2d", "denoiser", [2], None, ["sample", "timestep"], "int64", None, None,
             "MLP denoiser (sinusoidal timestep embedding dim 32 concatenated to the 2-d sample, "
             "3 hidden layers of 128 with SiLU, %d params) predicting epsilon for sklearn "
             "make_moons(noise=0.05) mapped by x'=(x-0.5)/1.5, y'=(y-0.25)/0.75 (roughly "
             "[-1,1]^2). data.pt holds 10000 points of the same distribution (random_state=1; "
             "training used random_state=0)." % n_params(model), info)
    loaded = export_model(ema, "toy2d", cfg, m)
    save_tensor(data, os.path.join(MODELS, "toy2d", "data.pt"))
    log("toy2d exported", info)
    return loaded, cfg, data, n_params(model), info


def make_classifier():
    x, y = digits()
    tr, te = digits_split(x.shape[0], seed=0)
    torch.manual_seed(3)
    clf = DigitsClassifier()
    g = torch.Generator().manual_seed(3)
    opt = torch.optim.Adam(clf.parameters(), lr=1e-3)
    epochs, batch = 40, 64
    t0 = time.time()
    xtr, ytr = x[tr], y[tr]
    losses = []
    steps = 0
    for ep in range(epochs):
        clf.train()
        perm = torch.randperm(xtr.shape[0], generator=g)
        for i in range(0, xtr.shape[0], batch):
            idx = perm[i:i + batch]
            xb = xtr[idx]
            # augmentation: random shift by -1..1 pixel (pad with background -1)
            sx, sy = torch.randint(-1, 2, (2,), generator=g).tolist()
            xb = F.pad(xb, (1, 1, 1, 1), value=-1.0)[:, :, 1 + sy:9 + sy, 1 + sx:9 + sx]
            loss = F.cross_entropy(clf(xb), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            steps += 1
    clf.eval()
    seconds = time.time() - t0
    acc = float((classify(clf, x[te]) == y[te]).float().mean())
    train_acc = float((classify(clf, x[tr]) == y[tr]).float().mean())
    info = {"steps": steps, "batch_size": batch,
            "final_loss": round(float(np.mean(losses[-50:])), 5),
            "optimizer": "Adam lr 0.001, %d epochs, random +-1 pixel shifts; final_loss = mean "
                         "cross-entropy of the last 50 steps" % epochs,
            "seconds": round(seconds, 1)}
    m = meta("digits-classifier", "classifier", [1, 8, 8], [-1.0, 1.0], ["x"], None, 10, None,
             "CNN classifier (conv 32, conv 64, maxpool, conv 64, fc 128, dropout 0.3, fc 10; %d "
             "params) for sklearn load_digits scaled x/16*2-1 to [-1,1]. forward(x [B,1,8,8]) -> "
             "logits [B,10]; features(x) -> [B,128] penultimate activations (fc 128 + ReLU), the digits "
             "FD's features. Trained on a seeded 80%% split (torch.randperm(1797, "
             "generator=manual_seed(0)), first 1438 indices), test_accuracy on the other 359."
             % n_params(clf), info, test_accuracy=round(acc, 4),
             test_split={"seed": 0, "train": int(tr.numel()), "test": int(te.numel())})
    loaded = export_model(clf, "digits-classifier", None, m)
    log("classifier: params %d, test acc %.4f, train acc %.4f, %.1fs"
        % (n_params(clf), acc, train_acc, seconds))
    return loaded, acc, n_params(clf), info, train_acc


DIGITS_ARCH = dict(c=32, emb_dim=64, n_mid=2)


def make_digits(name, cfg, steps, seed, desc_extra):
    x, y = digits()
    torch.manual_seed(seed)
    model = DigitsUNet(**DIGITS_ARCH)
    log("%s: %d params" % (name, n_params(model)))
    ema, info = train_denoiser(model, x, y, cfg, steps=steps, batch=128, lr=2e-3, seed=seed,
                               ema_decay=0.999, p_uncond=0.15)
    m = meta(name, "denoiser", [1, 8, 8], [-1.0, 1.0], ["sample", "timestep", "class_labels"],
             "int64", 10, NULL_CLASS,
             "Class-conditional UNet (%d params): sinusoidal time embedding (dim %d) + MLP to %d, "
             "plus class embedding (11 entries, id 10 = null class for classifier-free guidance; "
             "labels dropped to 10 with p=0.15 in training); conv_in 1->%d, ResBlock(GroupNorm(8)+"
             "SiLU+conv3x3, x2) at 8x8, stride-2 conv to 4x4x%d, %d ResBlocks at 4x4, 1x1 conv + "
             "pixel_shuffle back to 8x8, concat skip, ResBlock, GroupNorm+SiLU+conv_out. Data: "
             "sklearn load_digits (all 1797) scaled x/16*2-1 to [-1,1]. %s Exported weights are "
             "the EMA." % (n_params(model), DIGITS_ARCH["c"], DIGITS_ARCH["emb_dim"],
                           DIGITS_ARCH["c"], 2 * DIGITS_ARCH["c"], DIGITS_ARCH["n_mid"], desc_extra),
             info)
    loaded = export_model(ema, name, cfg, m)
    log("%s exported" % name, info)
    return loaded, n_params(model), info


# ----------------------------------------------------------------------------------------------
# Reference data
# ----------------------------------------------------------------------------------------------

def make_reference(toy, toy_cfg, digits_m, digits_cfg, dv, dv_cfg):
    cases = []
    for sub in ["schedules", "add_noise", "sampling"]:
        if os.path.isdir(os.path.join(REF, sub)):
            shutil.rmtree(os.path.join(REF, sub))
    os.makedirs(REF, exist_ok=True)

    def rel(*p):
        return "/".join(p)

    def put(case_dir, tensors, case):
        files, shapes, dtypes = {}, {}, {}
        for k, t in tensors.items():
            p = rel(case_dir, k + ".pt")
            save_tensor(t, os.path.join(REF, case_dir, k + ".pt"))
            files[k] = p
            shapes[k] = list(t.shape)
            dtypes[k] = str(t.dtype).replace("torch.", "")
        case["files"] = files
        case["shapes"] = shapes
        case["dtypes"] = dtypes
        cases.append(case)

    # schedules
    for sch in ["linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"]:
        bs, be = (0.00085, 0.012) if sch == "scaled_linear" else (0.0001, 0.02)
        for resc in [False, True]:
            cfg = ddpm_config(sch, beta_start=bs, beta_end=be, rescale=resc)
            s = Schedule(cfg)
            name = "schedule_%s%s" % (sch, "_zero_snr" if resc else "")
            put("schedules/" + name, {"alphas_cumprod": s.alphas_cumprod, "betas": s.betas},
                {"name": name, "kind": "schedules", "model": None, "scheduler_config": cfg,
                 "params": {}, "timesteps": None})

    # add_noise
    x, y = digits()
    idx = torch.tensor([0, 1, 2, 3, 4, 5])
    x0 = x[idx]
    g = torch.Generator().manual_seed(777)
    noise = torch.randn(x0.shape, generator=g)
    tsteps = torch.tensor([0, 1, 250, 500, 999, 37], dtype=torch.int64)
    for sch in ["linear", "squaredcos_cap_v2"]:
        cfg = ddpm_config(sch)
        s = Schedule(cfg)
        a = s.alphas_cumprod[tsteps].view(-1, 1, 1, 1)
        noisy = (a.sqrt() * x0.double() + (1 - a).sqrt() * noise.double()).float()
        vel = (a.sqrt() * noise.double() - (1 - a).sqrt() * x0.double()).float()
        name = "add_noise_%s" % sch
        put("add_noise/" + name, {"x0": x0, "noise": noise, "timesteps": tsteps, "noisy": noisy,
                                  "velocity": vel},
            {"name": name, "kind": "add_noise", "model": None, "scheduler_config": cfg,
             "params": {"timesteps": tsteps.tolist(), "x0": "load_digits images 0..5 scaled to "
                        "[-1,1]", "noise_seed": 777,
                        "noisy": "sqrt(ab_t) x0 + sqrt(1-ab_t) noise",
                        "velocity": "sqrt(ab_t) noise - sqrt(1-ab_t) x0"},
             "timesteps": tsteps.tolist()})

    # sampling runs
    B, SEED = 4, 1234
    labels = torch.tensor([0, 3, 7, 9], dtype=torch.int64)
    runs = []
    for mname, model, cfg, shape, conditional in [("toy2d", toy, toy_cfg, [2], False),
                                                   ("digits", digits_m, digits_cfg, [1, 8, 8], True)]:
        fn = cond_fn(model, labels) if conditional else model
        runs.append((mname, model, cfg, shape, "ddim", 50, 0.0, fn, None, conditional))
        runs.append((mname, model, cfg, shape, "ddim", 50, 1.0, fn, None, conditional))
        runs.append((mname, model, cfg, shape, "ddpm", 1000, 0.0, fn, None, conditional))
    runs.append(("digits", digits_m, digits_cfg, [1, 8, 8], "ddim", 50, 0.0,
                 guided_fn(digits_m, labels, 3.0), 3.0, True))
    # the same guided run with clip_sample false (guided DDIM with clipping degrades, see README)
    noclip_cfg = dict(digits_cfg)
    noclip_cfg["clip_sample"] = False
    runs.append(("digits", digits_m, noclip_cfg, [1, 8, 8], "ddim", 50, 0.0,
                 guided_fn(digits_m, labels, 3.0), 3.0, True))
    runs.append(("digits-v", dv, dv_cfg, [1, 8, 8], "ddim", 50, 0.0, cond_fn(dv, labels), None,
                 True))
    for (mname, model, cfg, shape, kind, n, eta, fn, gs, conditional) in runs:
        scfg = ddim_config_from(cfg) if kind == "ddim" else dict(cfg)
        res = sample_loop(fn, scfg, kind, n, B, SEED, shape, eta=eta, record=(kind == "ddim"))
        name = "%s_%s%d%s%s" % (mname.replace("-", "_"), kind, n,
                                "_eta%g" % eta if kind == "ddim" else "",
                                "_cfg%g" % gs if gs else "")
        if not cfg["clip_sample"] and mname != "toy2d":
            name += "_noclip"
        tensors = {"init_noise": res["init_noise"], "step_noise": res["step_noise"],
                   "result": res["result"]}
        if conditional:
            tensors["class_labels"] = labels
        if kind == "ddim":
            tensors["trajectory"] = res["trajectory"]
            tensors["model_outputs"] = res["model_outputs"]
        params = {"num_inference_steps": n, "batch_size": B, "seed": SEED,
                  "generator": "per_sample: sample i uses torch.Generator().manual_seed(seed + i)",
                  "class_labels": labels.tolist() if conditional else None,
                  "guidance_scale": gs, "null_class_id": NULL_CLASS if conditional else None}
        if kind == "ddim":
            params["eta"] = eta
        put("sampling/" + name, tensors,
            {"name": name, "kind": kind, "model": mname, "scheduler_config": scfg,
             "params": params, "timesteps": res["timesteps"]})
        log("reference %s done" % name)
    index = {
        "format_version": 1,
        "generated_by": "test-models/make_models.py",
        "torch_version": torch.__version__,
        "conventions": {
            "paths": "relative to the reference/ folder (classpath io/diffusion4j/reference/)",
            "tensor_files": "torch.save of a plain tensor; read with pickle_load",
            "schedules": "computed in float64; per-step coefficients are float64 Python floats "
                         "applied to float32 tensors",
            "step_noise": "[num_steps, B, ...] the noise drawn at each step (in step order), "
                          "zeros where a step drew none (DDIM eta 0; DDPM t == 0)",
            "trajectory": "[num_steps, B, ...] the sample x after each step (DDIM runs only)",
            "model_outputs": "[num_steps, B, ...] the model output used by each step (after "
                             "guidance) (DDIM runs only)",
            "timesteps_tensor": "the model receives timesteps as an int64 tensor [B] "
                                "([2B] with guidance)",
            "guidance": "one forward over cat([x, x]), labels cat([null_class_id]*B, labels), "
                        "timesteps cat([t, t]); out = uncond + scale * (cond - uncond), first "
                        "half = uncond",
        },
        "cases": cases,
    }
    write_json(index, os.path.join(REF, "index.json"))
    log("reference index written: %d cases" % len(cases))


def make_quality(toy, toy_cfg, data, digits_m, digits_cfg, dv, dv_cfg, clf, timings):
    q = {"format_version": 1, "classifier": "digits-classifier"}
    n_per = 20
    labels = torch.arange(10).repeat_interleave(n_per)  # [0]*20, [1]*20, ...
    dseed = 10000
    res = []
    for mname, model, cfg, samplers in [("digits", digits_m, digits_cfg,
                                         [("ddpm", 1000, True), ("ddim", 50, True),
                                          ("ddim", 50, False)]),
                                        ("digits-v", dv, dv_cfg, [("ddim", 50, True),
                                                                  ("ddim", 50, False)])]:
        for kind, n, clip in samplers:
            for gs in [3.0, None]:
                scfg = ddim_config_from(cfg) if kind == "ddim" else dict(cfg)
                scfg["clip_sample"] = clip
                fn = guided_fn(model, labels, gs) if gs else cond_fn(model, labels)
                t0 = time.time()
                out = sample_loop(fn, scfg, kind, n, labels.numel(), dseed, [1, 8, 8], eta=0.0)
                pred = classify(clf, out["result"])
                acc = float((pred == labels).float().mean())
                per_class = [float((pred[labels == c] == c).float().mean()) for c in range(10)]
                r = {"model": mname, "sampler": kind, "num_inference_steps": n, "eta": 0.0 if kind == "ddim" else None,
                     "clip_sample": clip, "guidance_scale": gs, "accuracy": round(acc, 4),
                     "per_class_accuracy": [round(v, 3) for v in per_class],
                     "seconds": round(time.time() - t0, 1)}
                res.append(r)
                log("quality", r)
    q["digits"] = {
        "num_samples": int(labels.numel()),
        "class_labels": "sample i has label i // 20 (20 per class, 0..9)",
        "seed": dseed,
        "generator": "per_sample: sample i uses torch.Generator().manual_seed(seed + i); "
                     "initial noise then per-step noise as in the reference cases",
        "scheduler": "each model's scheduler_config.json (DDPM), or its DDIMScheduler version "
                     "with set_alpha_to_one true (DDIM, eta 0); clip_sample as given per result "
                     "(the models' configs say true; false rows are an extra comparison)",
        "guidance": "guidance_scale null = label conditioning only; 3.0 = classifier-free "
                    "guidance with null class 10",
        "metric": "fraction of samples whose digits-classifier argmax equals the requested label",
        "results": res,
    }
    tseed = 20000
    n = 2000
    true_x = data[:n]
    floor = energy_distance(data[n:2 * n], true_x)
    tres = {"noise_floor_true_vs_true": round(floor, 5)}
    for kind, steps in [("ddpm", 1000), ("ddim", 50)]:
        scfg = ddim_config_from(toy_cfg) if kind == "ddim" else dict(toy_cfg)
        t0 = time.time()
        out = sample_loop(toy, scfg, kind, steps, n, tseed, [2], eta=0.0)
        ed = energy_distance(out["result"], true_x)
        tres["%s%d" % (kind, steps)] = round(ed, 5)
        log("toy2d energy distance %s%d: %.5f (%.1fs)" % (kind, steps, ed, time.time() - t0))
    q["toy2d"] = {
        "num_samples": n, "seed": tseed,
        "generator": "per_sample: sample i uses torch.Generator().manual_seed(seed + i)",
        "true_data": "data.pt[0:2000]",
        "noise_floor": "energy distance between data.pt[2000:4000] and data.pt[0:2000]",
        "formula": "ED(X,Y) = 2*mean_{i,j}|x_i-y_j| - mean_{i,j}|x_i-x_j| - mean_{i,j}|y_i-y_j|, "
                   "|.| Euclidean norm, means over all n*m (resp. n*n, m*m) ordered pairs "
                   "including i == j, float64",
        "scheduler": "toy2d scheduler_config.json (DDPM 1000) / its DDIMScheduler version "
                     "(DDIM 50, eta 0, set_alpha_to_one true)",
        "energy_distance": tres,
    }
    q["timings"] = timings
    write_json(q, os.path.join(REF, "quality.json"))
    return q


def load_existing():
    def ld(name):
        m = torch.jit.load(os.path.join(MODELS, name, "model.pt"))
        m.eval()
        return m
    toy_cfg = ddpm_config("linear", "epsilon", clip_sample=False)
    digits_cfg = ddpm_config("linear", "epsilon", clip_sample=True)
    dv_cfg = ddpm_config("squaredcos_cap_v2", "v_prediction", clip_sample=True)
    data = torch.load(os.path.join(MODELS, "toy2d", "data.pt"))
    return ld("toy2d"), toy_cfg, data, ld("digits"), digits_cfg, ld("digits-v"), dv_cfg, \
        ld("digits-classifier")


def forward_timings(dm):
    mn, med = fwd_timing(dm)
    log("digits forward batch 400: min %.2f ms, median %.2f ms" % (mn, med))
    return {"digits_forward_batch400_ms": {"min": mn, "median": med,
                                           "note": "TorchScript model.pt, torch 1.13, 2 "
                                                   "threads, torch.no_grad, 30 runs"}}


def main():
    log("torch %s, threads %d, scale %g" % (torch.__version__, torch.get_num_threads(), SCALE))
    if sys.argv[1:] == ["--reference-only"]:
        # keep the committed models; regenerate reference data and quality figures from them
        toy, toy_cfg, data, dm, digits_cfg, dv, dv_cfg, clf = load_existing()
        timings = forward_timings(dm)
        make_reference(toy, toy_cfg, dm, digits_cfg, dv, dv_cfg)
        make_quality(toy, toy_cfg, data, dm, digits_cfg, dv, dv_cfg, clf, timings)
        log("done in %.1f s" % (time.time() - T0))
        return
    if sys.argv[1:]:
        sys.exit("usage: make_models.py [--reference-only]")
    # remove only what this script writes (models/index.txt is read by BuiltinModels in java-api)
    for name in MODEL_NAMES:
        if os.path.isdir(os.path.join(MODELS, name)):
            shutil.rmtree(os.path.join(MODELS, name))
    write_model_index()
    make_fixtures()
    clf, acc, clf_params, clf_info, _ = make_classifier()
    toy, toy_cfg, data, _, _ = make_toy2d()
    digits_cfg = ddpm_config("linear", "epsilon", clip_sample=True)
    dm, _, _ = make_digits("digits", digits_cfg, steps=8000, seed=21,
                           desc_extra="Predicts epsilon (linear betas).")
    dv_cfg = ddpm_config("squaredcos_cap_v2", "v_prediction", clip_sample=True)
    dv, _, _ = make_digits("digits-v", dv_cfg, steps=5000, seed=31,
                           desc_extra="Predicts v (v_prediction, squaredcos_cap_v2 betas).")
    timings = forward_timings(dm)
    make_reference(toy, toy_cfg, dm, digits_cfg, dv, dv_cfg)
    make_quality(toy, toy_cfg, data, dm, digits_cfg, dv, dv_cfg, clf, timings)
    log("done in %.1f s" % (time.time() - T0))


if __name__ == "__main__":
    main()
