"""The built-in diffusers-format model `digits-unet`: trained for real with diffusers' own classes.

diffusers' `UNet2DModel` (class-conditional, `num_class_embeds` 11: digits 0-9 and id 10 = the null class for
classifier-free guidance, labels dropped to 10 with probability 0.15), noised with diffusers' `DDPMScheduler.add_noise`,
an EMA of the weights with diffusers' `EMAModel` (the EMA weights are what is saved), saved with
`DDPMPipeline.save_pretrained` (safetensors, written by the real-format stand-in of python-stubs/safetensors), on the
digits the built-in `digits` model uses (make_models.digits(): sklearn load_digits, all 1797 images, x/16*2-1 in
[-1, 1], [N, 1, 8, 8]). Beside the pipeline folder: diffusion4j.json (sample shape, value range, null class).

Run (diffusers is not installed here: fetch it, put its src on PYTHONPATH, with the stand-ins of python-stubs/):
    git --git-dir=<mirror of huggingface/diffusers> archive v0.30.3 src | tar -x -C /tmp/d
    cd test-models && PYTHONPATH=/tmp/d/src:python-stubs /usr/bin/python3 make_diffusers_digits.py
D4J_SCALE=0.02 multiplies the step count (a smoke run; never commit its output).
"""
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import diffusers
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
from diffusers.training_utils import EMAModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_models import digits  # noqa: E402  (the data loader the built-in digits model was trained with)

torch.set_num_threads(1)   # one thread measured faster than two on the shared 2-core machine

NAME = "digits-unet"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src/main/resources/io/diffusion4j/models/", NAME)
SCALE = float(os.environ.get("D4J_SCALE", "1.0"))
NULL_CLASS = 10
SEED = 13
STEPS = 1200
BATCH = 64
LR = 2e-3
WARMUP = 200
MIN_LR_FRAC = 0.05
P_UNCOND = 0.15
EMA_DECAY = 0.999

UNET = dict(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(32, 48), layers_per_block=1,
            down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
            norm_num_groups=8, attention_head_dim=16, num_class_embeds=11)
SCHEDULER = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                 clip_sample=False, prediction_type="epsilon")


def main():
    steps = max(1, int(STEPS * SCALE))
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED)
    data, labels = digits()
    unet = UNet2DModel(**UNET)
    sched = DDPMScheduler(**SCHEDULER)
    ema = EMAModel(unet.parameters(), decay=EMA_DECAY)
    opt = torch.optim.Adam(unet.parameters(), lr=LR)
    n = data.shape[0]
    losses = []
    t0 = time.time()
    unet.train()
    for step in range(steps):
        f = (step + 1) / WARMUP if step < WARMUP else MIN_LR_FRAC + (1 - MIN_LR_FRAC) * 0.5 * (
            1 + math.cos(math.pi * (step - WARMUP) / max(1, steps - WARMUP)))
        for pg in opt.param_groups:
            pg["lr"] = LR * f
        idx = torch.randint(0, n, (BATCH,), generator=g)
        x0 = data[idx]
        t = torch.randint(0, SCHEDULER["num_train_timesteps"], (BATCH,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        y = torch.where(torch.rand(BATCH, generator=g) < P_UNCOND, torch.full_like(labels[idx], NULL_CLASS),
                        labels[idx])
        xt = sched.add_noise(x0, noise, t)
        loss = F.mse_loss(unet(xt, t, class_labels=y).sample, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema.step(unet.parameters())
        losses.append(loss.item())
        if (step + 1) % 250 == 0 or step == steps - 1:
            print("step %d/%d loss(avg200) %.4f  %.0f s" % (step + 1, steps, np.mean(losses[-200:]),
                                                             time.time() - t0), flush=True)
    seconds = time.time() - t0
    ema.copy_to(unet.parameters())   # the EMA weights are what is saved
    unet.eval()
    shutil.rmtree(OUT, ignore_errors=True)
    DDPMPipeline(unet=unet, scheduler=sched).save_pretrained(OUT, safe_serialization=True)
    params = sum(p.numel() for p in unet.parameters())
    final_loss = round(float(np.mean(losses[-200:])), 5)
    spec = {
        "format_version": 1, "name": NAME, "kind": "denoiser", "sample_shape": [1, 8, 8],
        "value_range": [-1.0, 1.0], "forward_signature": ["sample", "timestep", "class_labels"],
        "timestep_dtype": "float32", "num_classes": 10, "null_class_id": NULL_CLASS,
        "description": "diffusers UNet2DModel (%d params; block_out_channels (32, 48), DownBlock2D + AttnDownBlock2D, "
                       "AttnUpBlock2D + UpBlock2D, attention in the mid block, num_class_embeds 11) trained with "
                       "diffusers' DDPMScheduler.add_noise on sklearn load_digits (all 1797) scaled x/16*2-1 to "
                       "[-1,1]; class 10 = null class (labels dropped with p=%g) for classifier-free guidance. "
                       "Predicts epsilon (linear betas). Saved with DDPMPipeline.save_pretrained; the weights are "
                       "the EMA. test-models/make_diffusers_digits.py." % (params, P_UNCOND),
        "training": {"steps": steps, "batch_size": BATCH, "final_loss": final_loss,
                     "optimizer": "Adam lr %g, %d warm-up steps then cosine decay to %g x lr; diffusers EMAModel "
                                  "decay %g (exported); final_loss = mean MSE of the last 200 steps"
                                  % (LR, WARMUP, MIN_LR_FRAC, EMA_DECAY),
                     "seconds": round(seconds, 1), "seed": SEED, "diffusers_version": diffusers.__version__,
                     "torch": torch.__version__, "threads": torch.get_num_threads()},
    }
    with open(os.path.join(OUT, "diffusion4j.json"), "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")
    print(NAME, params, "params, final loss", final_loss, "in %.1f s" % seconds)


if __name__ == "__main__":
    main()
