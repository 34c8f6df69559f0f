"""Reference data for diffusion4j's Java autoencoders and latent pipelines (io.diffusion4j.model.diffusers.autoencoder),
written by diffusers' own classes on torch 1.13.

Autoencoder cases: an AutoencoderKL or VQModel with random weights (PyTorch's default init, then every parameter
perturbed so that norms and biases are not trivially 1/0; a VQ codebook spread out so that the nearest entry is not
always the same), saved with save_pretrained, plus an input image batch and diffusers' outputs: the posterior mean,
a posterior sample drawn with torch.Generator().manual_seed(77), and the decoder output of a saved latent (KL); the
encoded latents, the decoded (quantized) image and the decode with force_not_quantize (VQ).

Latent pipeline cases: a folder with vae/ (or vqvae/), unet/ and scheduler/ (DDIM) and a full DDIM-10 run from
saved noise, decoded: for the VQModel folder diffusers' own LDMPipeline (its seed per sample: one generator per
sample, manual_seed(SEED + i), which is diffusion4j's seed convention; the noise it drew is saved too); for the
AutoencoderKL folder (diffusers has no unconditional KL pipeline) the loop LDMPipeline runs, written out: unet +
DDIMScheduler.step, then vae.decode(latents / scaling_factor + shift_factor).

Run (diffusers is not installed here: fetch it, put its src on PYTHONPATH, with the stand-ins of python-stubs/):
    git --git-dir=<mirror of huggingface/diffusers> archive v0.30.3 src | tar -x -C /tmp/d
    PYTHONPATH=/tmp/d/src:test-models/python-stubs /usr/bin/python3 test-models/make_autoencoder_refs.py
"""
import json
import os
import shutil

import torch

import diffusers
from diffusers import AutoencoderKL, AutoencoderTiny, DDIMScheduler, LDMPipeline, UNet2DModel, VQModel

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   "src/main/resources/io/diffusion4j/reference/autoencoders/")
SEED = 1234
SAMPLE_SEED = 77

KL = dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
          up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), layers_per_block=1,
          latent_channels=4, norm_num_groups=4, sample_size=16, scaling_factor=0.5, shift_factor=0.1)

# name -> (class, kwargs, weights format)
CASES = {
    # two blocks, quant convs, attention in the mid blocks, scaling and shift factors
    "kl": (AutoencoderKL, KL, "safetensors"),
    # three blocks of two layers, one channel, no quant convs, no mid-block attention, a .bin state dict
    "kl-plain": (AutoencoderKL, dict(in_channels=1, out_channels=1, down_block_types=("DownEncoderBlock2D",) * 3,
                                     up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=(8, 8, 16),
                                     layers_per_block=2, latent_channels=2, norm_num_groups=4, sample_size=16,
                                     use_quant_conv=False, use_post_quant_conv=False, mid_block_add_attention=False,
                                     force_upcast=False), "bin"),
    # a VQModel with a codebook of 32 entries of width 2 (vq_embed_dim != latent_channels)
    "vq": (VQModel, dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                         up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), layers_per_block=1,
                         latent_channels=3, num_vq_embeddings=32, vq_embed_dim=2, norm_num_groups=4, sample_size=16,
                         scaling_factor=0.7), "safetensors"),
}

UNET = dict(sample_size=8, block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=4, attention_head_dim=8,
            down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"))


def perturb(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "quantize.embedding.weight":
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
                continue
            p.add_(torch.randn(p.shape, generator=g) * (0.1 if p.dim() == 1 else 0.02))


def save(t, *path):
    torch.save(t.contiguous(), os.path.join(*path))


def autoencoder_case(i, name, cls, kwargs, fmt, index):
    torch.manual_seed(100 + i)
    ae = cls(**kwargs).eval()
    perturb(ae, 200 + i)
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    ae.save_pretrained(d, safe_serialization=fmt == "safetensors")
    cfg = ae.config
    io = os.path.join(OUT, name + "-io")
    os.makedirs(io, exist_ok=True)
    g = torch.Generator().manual_seed(300 + i)
    x = torch.randn(2, cfg.in_channels, 16, 16, generator=g).clamp(-1, 1)
    save(x, io, "image.pt")
    case = {"class": cls.__name__, "weights": fmt, "params": sum(p.numel() for p in ae.parameters())}
    with torch.no_grad():
        if cls is AutoencoderKL:
            post = ae.encode(x).latent_dist
            save(post.mean, io, "mean.pt")
            save(post.sample(generator=torch.Generator().manual_seed(SAMPLE_SEED)), io, "sample.pt")
            z = torch.randn(post.mean.shape, generator=g)
            save(z, io, "latent.pt")
            save(ae.decode(z).sample, io, "decoded.pt")
            case["sample_seed"] = SAMPLE_SEED
            if name == "kl":
                # diffusers' enable_tiling on a latent 4x the tile size per side (32 = 4 * 16 / 2)
                zt = torch.randn((1, cfg.latent_channels, 32, 32), generator=g)
                save(zt, io, "tiled_latent.pt")
                save(ae.decode(zt).sample, io, "untiled_decoded.pt")
                ae.enable_tiling()
                save(ae.decode(zt).sample, io, "tiled_decoded.pt")
                ae.disable_tiling()
        else:
            h = ae.encode(x).latents
            save(h, io, "latents.pt")
            save(ae.decode(h).sample, io, "decoded.pt")
            save(ae.decode(h, force_not_quantize=True).sample, io, "decoded_not_quantized.pt")
            quant, _, (_, _, idx) = ae.quantize(h)
            save(quant, io, "quantized.pt")
            case["codebook_entries_used"] = int(idx.unique().numel())
    index["cases"][name] = case
    print(name, case)


def tiny(index):
    """AutoencoderTiny (TAESD) at toy size: three encoder and decoder stages, encode, decode, scale_latents."""
    torch.manual_seed(900)
    ae = AutoencoderTiny(encoder_block_out_channels=(8, 8, 8), decoder_block_out_channels=(8, 8, 8),
                         num_encoder_blocks=(1, 2, 1), num_decoder_blocks=(1, 2, 1), latent_channels=4).eval()
    perturb(ae, 901)
    d = os.path.join(OUT, "tiny")
    shutil.rmtree(d, ignore_errors=True)
    ae.save_pretrained(d)
    io = os.path.join(OUT, "tiny-io")
    os.makedirs(io, exist_ok=True)
    g = torch.Generator().manual_seed(902)
    x = torch.randn(2, 3, 16, 16, generator=g).clamp(-1, 1)
    z = torch.randn(2, 4, 4, 4, generator=g) * 2
    save(x, io, "image.pt")
    save(z, io, "latent.pt")
    with torch.no_grad():
        save(ae.encode(x).latents, io, "latents.pt")
        save(ae.decode(z).sample, io, "decoded.pt")
        save(ae.scale_latents(z), io, "scaled.pt")
    index["cases"]["tiny"] = {"class": "AutoencoderTiny", "params": sum(p.numel() for p in ae.parameters())}


def unet(i, in_channels):
    torch.manual_seed(500 + i)
    u = UNet2DModel(in_channels=in_channels, out_channels=in_channels, **UNET).eval()
    perturb(u, 600 + i)
    return u


def ldm_vq(index):
    """diffusers' own LDMPipeline on a VQModel folder, DDIM-10 with eta 0, one generator per sample."""
    torch.manual_seed(700)
    vq = VQModel(**CASES["vq"][1]).eval()
    perturb(vq, 701)
    sched = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False)
    pipe = LDMPipeline(vqvae=vq, unet=unet(0, 2), scheduler=sched)  # the latent is vq_embed_dim wide
    d = os.path.join(OUT, "ldm-vq")
    shutil.rmtree(d, ignore_errors=True)
    pipe.save_pretrained(d)
    pipe = LDMPipeline.from_pretrained(d)
    pipe.set_progress_bar_config(disable=True)
    io = os.path.join(OUT, "ldm-vq-io")
    os.makedirs(io, exist_ok=True)
    gens = [torch.Generator().manual_seed(SEED + k) for k in range(2)]
    noise = torch.cat([torch.randn((1, 2, 8, 8), generator=torch.Generator().manual_seed(SEED + k))
                       for k in range(2)])
    save(noise, io, "noise.pt")
    with torch.no_grad():
        images = pipe(batch_size=2, generator=gens, num_inference_steps=10, eta=0.0, output_type="np").images
    save(torch.from_numpy(images).permute(0, 3, 1, 2), io, "ddim10_images01.pt")
    index["cases"]["ldm-vq"] = {"runner": "LDMPipeline", "seed": SEED, "batch": 2, "steps": 10, "eta": 0.0,
                                "output": "images in [0, 1]: (x / 2 + 0.5).clamp(0, 1), [B, C, H, W]"}


def ldm_kl(index):
    """The loop of LDMPipeline on an AutoencoderKL folder: unet + DDIMScheduler.step, decode(latents / scaling +
    shift), from saved noise."""
    torch.manual_seed(800)
    vae = AutoencoderKL(**KL).eval()
    perturb(vae, 801)
    u = unet(1, 4)
    sched = DDIMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085,
                          beta_end=0.012, clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    d = os.path.join(OUT, "ldm-kl")
    shutil.rmtree(d, ignore_errors=True)
    vae.save_pretrained(os.path.join(d, "vae"))
    u.save_pretrained(os.path.join(d, "unet"))
    sched.save_pretrained(os.path.join(d, "scheduler"))
    with open(os.path.join(d, "model_index.json"), "w") as f:
        json.dump({"_class_name": "LatentDiffusionPipeline", "_diffusers_version": diffusers.__version__,
                   "scheduler": ["diffusers", "DDIMScheduler"], "unet": ["diffusers", "UNet2DModel"],
                   "vae": ["diffusers", "AutoencoderKL"]}, f, indent=2)
    vae = AutoencoderKL.from_pretrained(os.path.join(d, "vae")).eval()
    u = UNet2DModel.from_pretrained(os.path.join(d, "unet")).eval()
    sched = DDIMScheduler.from_pretrained(os.path.join(d, "scheduler"))
    io = os.path.join(OUT, "ldm-kl-io")
    os.makedirs(io, exist_ok=True)
    noise = torch.randn((2, 4, 8, 8), generator=torch.Generator().manual_seed(SEED))
    save(noise, io, "noise.pt")
    sched.set_timesteps(10)
    latents = noise * sched.init_noise_sigma
    with torch.no_grad():
        for t in sched.timesteps:
            eps = u(sched.scale_model_input(latents, t), t).sample
            latents = sched.step(eps, t, latents, eta=0.0).prev_sample
        save(latents, io, "ddim10_latents.pt")
        image = vae.decode(latents / vae.config.scaling_factor + vae.config.shift_factor).sample
    save((image / 2 + 0.5).clamp(0, 1), io, "ddim10_images01.pt")
    index["cases"]["ldm-kl"] = {"runner": "loop of unet + DDIMScheduler.step + AutoencoderKL.decode", "steps": 10,
                                "eta": 0.0, "noise": "noise.pt",
                                "output": "images in [0, 1]: (x / 2 + 0.5).clamp(0, 1), [B, C, H, W]"}


def main():
    os.makedirs(OUT, exist_ok=True)
    index = {"diffusers_version": diffusers.__version__, "torch": torch.__version__, "cases": {}}
    for i, (name, (cls, kwargs, fmt)) in enumerate(CASES.items()):
        autoencoder_case(i, name, cls, kwargs, fmt, index)
    tiny(index)
    ldm_vq(index)
    ldm_kl(index)
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=2)


if __name__ == "__main__":
    main()
