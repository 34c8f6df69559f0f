"""Reference data for diffusion4j's Java UNet2DModel (io.diffusion4j.model.diffusers), written by diffusers' own code.

For each config below: a UNet2DModel with random weights (PyTorch's default init, then every parameter perturbed so
that norms and biases are not trivially 1/0), saved with diffusers' save_pretrained (as a DDPMPipeline/DDIMPipeline
folder or a bare unet folder), plus inputs and the forward output. For the unconditional pipeline folders, DDPM-10
and DDIM-10 runs of diffusers' own DDPMPipeline/DDIMPipeline with one torch.Generator per sample
(manual_seed(SEED + i)), which is diffusion4j's seed convention.

Run (diffusers is not installed here: fetch it, put its src on PYTHONPATH, with the stand-ins of python-stubs/):
    git --git-dir=<mirror of huggingface/diffusers> archive v0.30.3 src | tar -x -C /tmp/d
    PYTHONPATH=/tmp/d/src:test-models/python-stubs /usr/bin/python3 test-models/make_diffusers_refs.py
"""
import json
import os
import shutil
import sys

import torch

import diffusers
from diffusers import DDIMPipeline, DDPMPipeline, DDPMScheduler, UNet2DModel

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   "src/main/resources/io/diffusion4j/reference/diffusers/")
SEED = 1234

SMALL = dict(sample_size=8, block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=4,
             attention_head_dim=8)

# name -> (folder kind, UNet2DModel kwargs, timesteps, class labels, weights format)
CASES = {
    # DDPM's own layout at toy size: positional embedding, attention down/up blocks, attention in the mid block
    "attn": ("DDPMPipeline", dict(SMALL, in_channels=3, out_channels=3,
                                  down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                                  up_block_types=("AttnUpBlock2D", "UpBlock2D")), [10, 637], None, "safetensors"),
    # class-conditional (num_class_embeds), sin/cos not flipped, freq_shift 1, downsample_padding 0 (pads right/bottom),
    # attention_head_dim None (one head), center_input_sample, mid_block_scale_factor, attn_norm_num_groups
    "class-cond": ("unet", dict(sample_size=8, block_out_channels=(8, 16, 16), layers_per_block=2,
                                norm_num_groups=8, attention_head_dim=None, in_channels=1, out_channels=1,
                                down_block_types=("AttnDownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                                up_block_types=("AttnUpBlock2D", "UpBlock2D", "AttnUpBlock2D"),
                                num_class_embeds=11, flip_sin_to_cos=False, freq_shift=1, downsample_padding=0,
                                center_input_sample=True, mid_block_scale_factor=1.4142135623730951,
                                attn_norm_num_groups=2, norm_eps=1e-6), [999, 3], [3, 10], "bin"),
    # Gaussian Fourier time embedding + scale_shift resnets + resnet down/upsampling, attention without group norm
    "fourier-scale-shift": ("unet", dict(SMALL, in_channels=2, out_channels=2, time_embedding_type="fourier",
                                         resnet_time_scale_shift="scale_shift", downsample_type="resnet",
                                         upsample_type="resnet",
                                         down_block_types=("AttnDownBlock2D", "AttnDownBlock2D"),
                                         up_block_types=("AttnUpBlock2D", "AttnUpBlock2D")),
                            [0.25, 7.5], None, "safetensors"),
    # class_embed_type "timestep" (labels through the time projection + their own TimestepEmbedding), no mid attention
    "timestep-class": ("unet", dict(SMALL, in_channels=1, out_channels=1, class_embed_type="timestep",
                                    add_attention=False, act_fn="swish",
                                    down_block_types=("DownBlock2D", "DownBlock2D"),
                                    up_block_types=("UpBlock2D", "UpBlock2D")), [5, 400], [2, 9], "safetensors"),
    # a DDIMPipeline folder (its _class_name picks DDIM), unconditional
    "ddim-pipeline": ("DDIMPipeline", dict(SMALL, in_channels=1, out_channels=1,
                                           down_block_types=("AttnDownBlock2D", "DownBlock2D"),
                                           up_block_types=("UpBlock2D", "AttnUpBlock2D")), [1, 999], None,
                      "safetensors"),
    # score-SDE's skip blocks (FIR up/downsampling, a skip branch to 3 channels)
    "skip": ("unet", dict(sample_size=8, block_out_channels=(32, 32), layers_per_block=1, norm_num_groups=8,
                          attention_head_dim=8, in_channels=3, out_channels=3,
                          down_block_types=("SkipDownBlock2D", "AttnSkipDownBlock2D"),
                          up_block_types=("AttnSkipUpBlock2D", "SkipUpBlock2D")), [20, 700], None, "safetensors"),
    # class_embed_type "identity": the class input is a float embedding [B, time_embed_dim] added to the time
    # embedding as it is (labels "embedding": torch.randn(B, 4 * block_out_channels[0]))
    "identity": ("unet", dict(SMALL, in_channels=1, out_channels=1, class_embed_type="identity",
                              down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                              up_block_types=("AttnUpBlock2D", "UpBlock2D")), [15, 850], "embedding", "safetensors"),
    # a checkpoint as diffusers before 0.14 wrote it: the attention weights named query/key/value/proj_attn
    # (renamed from the model's state dict by OLD_ATTENTION_NAMES, saved with torch.save as the .bin); the output is
    # that of diffusers' own from_pretrained of the old-named file, which converts the names back
    "legacy-attention": ("unet", dict(SMALL, in_channels=3, out_channels=3,
                                      down_block_types=("AttnDownBlock2D", "AttnDownBlock2D"),
                                      up_block_types=("AttnUpBlock2D", "AttnUpBlock2D")), [30, 900], None,
                         "bin-legacy"),
}

# diffusers' attention parameters before 0.14 (AttentionBlock), the inverse of
# ModelMixin._convert_deprecated_attention_blocks: to_q -> query, to_k -> key, to_v -> value, to_out.0 -> proj_attn
OLD_ATTENTION_NAMES = {".to_q.": ".query.", ".to_k.": ".key.", ".to_v.": ".value.", ".to_out.0.": ".proj_attn."}


def save_legacy(unet, d):
    """Saves unet as a pre-0.14 checkpoint (config.json + diffusion_pytorch_model.bin with the old attention names)
    and loads it back with diffusers' from_pretrained, checking that diffusers found every key."""
    unet.save_pretrained(d, safe_serialization=False)
    old = {}
    for k, v in unet.state_dict().items():
        if ".attentions." in k:
            for new, legacy in OLD_ATTENTION_NAMES.items():
                k = k.replace(new, legacy)
        old[k] = v
    assert any(".proj_attn." in k for k in old) and not any(".to_q." in k for k in old)
    torch.save(old, os.path.join(d, "diffusion_pytorch_model.bin"))
    loaded, info = UNet2DModel.from_pretrained(d, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    return loaded.eval()


def perturb(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("time_proj.weight"):
                continue
            p.add_(torch.randn(p.shape, generator=g) * (0.1 if p.dim() == 1 else 0.02))


def main():
    only = set(sys.argv[1:])
    os.makedirs(OUT, exist_ok=True)
    index = {"diffusers_version": diffusers.__version__, "torch": torch.__version__, "seed": SEED, "cases": {}}
    for i, (name, (kind, kwargs, ts, labels, fmt)) in enumerate(CASES.items()):
        if only and name not in only:
            continue
        torch.manual_seed(100 + i)
        unet = UNet2DModel(**kwargs).eval()
        perturb(unet, 200 + i)
        d = os.path.join(OUT, name)
        shutil.rmtree(d, ignore_errors=True)
        safe = fmt == "safetensors"
        if fmt == "bin-legacy":
            unet = save_legacy(unet, d)
        elif kind == "unet":
            unet.save_pretrained(d, safe_serialization=safe)
        else:
            sched = DDPMScheduler(num_train_timesteps=1000)
            pipe = (DDPMPipeline if kind == "DDPMPipeline" else DDIMPipeline)(unet=unet, scheduler=sched)
            pipe.save_pretrained(d, safe_serialization=safe)
        cfg = unet.config
        g = torch.Generator().manual_seed(300 + i)
        x = torch.randn(2, cfg.in_channels, cfg.sample_size, cfg.sample_size, generator=g)
        dtype = torch.float32 if cfg.time_embedding_type == "fourier" else torch.int64
        t = torch.tensor(ts, dtype=dtype)
        if labels == "embedding":
            y = torch.randn(2, 4 * cfg.block_out_channels[0], generator=g)
        else:
            y = torch.tensor(labels, dtype=torch.int64) if labels is not None else None
        with torch.no_grad():
            out = unet(x, t, class_labels=y).sample
        io = os.path.join(OUT, name + "-io")
        os.makedirs(io, exist_ok=True)
        torch.save(x, os.path.join(io, "sample.pt"))
        torch.save(t, os.path.join(io, "timesteps.pt"))
        if y is not None:
            torch.save(y, os.path.join(io, "class_labels.pt"))
        torch.save(out, os.path.join(io, "output.pt"))
        case = {"kind": kind, "weights": fmt, "timesteps": ts,
                "class_labels": "float32 [2, %d] (class_labels.pt)" % y.shape[1] if labels == "embedding" else labels,
                "params": sum(p.numel() for p in unet.parameters()),
                "output_max_abs": float(out.abs().max())}
        if kind != "unet":
            # the pipelines load the folder back with from_pretrained, as a user would
            pipe = (DDPMPipeline if kind == "DDPMPipeline" else DDIMPipeline).from_pretrained(d)
            pipe.set_progress_bar_config(disable=True)
            for sched_name, extra in (("ddpm", {}), ("ddim", {"eta": 0.0})):
                if sched_name == "ddpm" and kind != "DDPMPipeline":
                    continue
                runner = pipe if sched_name != "ddim" or kind == "DDIMPipeline" else DDIMPipeline(
                    unet=pipe.unet, scheduler=pipe.scheduler)
                gens = [torch.Generator().manual_seed(SEED + k) for k in range(2)]
                with torch.no_grad():
                    images = runner(batch_size=2, generator=gens, num_inference_steps=10, output_type="np",
                                    **extra).images
                torch.save(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
                           os.path.join(io, sched_name + "10_images01.pt"))
                case[sched_name + "10"] = {"seed": SEED, "batch": 2, "steps": 10, "runner": type(runner).__name__,
                                           "output": "images in [0, 1]: (x / 2 + 0.5).clamp(0, 1), [B, C, H, W]"}
        index["cases"][name] = case
        print(name, case["params"], "params, |out| max", case["output_max_abs"])
    path = os.path.join(OUT, "index.json")
    if only and os.path.exists(path):
        old = json.load(open(path))
        old["cases"].update(index["cases"])
        index["cases"] = old["cases"]
    with open(path, "w") as f:
        json.dump(index, f, indent=2)


if __name__ == "__main__":
    main()
