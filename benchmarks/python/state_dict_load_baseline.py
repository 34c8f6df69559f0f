"""Python baseline for diffusion4j's SafetensorsLoad benchmark.

Makes the state dict of a UNet2DModel with google/ddpm-cifar10-32's config (block_out_channels 128/256/256/256,
layers_per_block 2, attention in the second down and third up block: 35.7M parameters; shapes computed here from
diffusers' block layout, values seeded random normal), writes it as
  DIR/unet_state.bin           torch.save(state_dict) (an OrderedDict with _metadata, as module.state_dict() gives)
  DIR/unet_state.safetensors   the safetensors stand-in's save_file(metadata={"format": "pt"})
then times torch.load of the .bin (median of --runs after --warmup, the file in the page cache) and prints JSON:
params, tensors, bytes, torch_load_ms (median), runs_ms.

    /usr/bin/python3 benchmarks/python/state_dict_load_baseline.py /tmp/d4j-load --threads 1
"""
import argparse
import collections
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "test-models", "python-stubs"))

import torch  # noqa: E402
import safetensors.torch  # noqa: E402

CHANNELS = (128, 256, 256, 256)
DOWN = ("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D")
UP = ("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D")
LAYERS = 2
TEMB = 4 * CHANNELS[0]


def resnet(p, cin, cout, out):
    out[p + "norm1.weight"] = (cin,)
    out[p + "norm1.bias"] = (cin,)
    out[p + "conv1.weight"] = (cout, cin, 3, 3)
    out[p + "conv1.bias"] = (cout,)
    out[p + "time_emb_proj.weight"] = (cout, TEMB)
    out[p + "time_emb_proj.bias"] = (cout,)
    out[p + "norm2.weight"] = (cout,)
    out[p + "norm2.bias"] = (cout,)
    out[p + "conv2.weight"] = (cout, cout, 3, 3)
    out[p + "conv2.bias"] = (cout,)
    if cin != cout:
        out[p + "conv_shortcut.weight"] = (cout, cin, 1, 1)
        out[p + "conv_shortcut.bias"] = (cout,)


def attention(p, c, out):
    out[p + "group_norm.weight"] = (c,)
    out[p + "group_norm.bias"] = (c,)
    for n in ("to_q", "to_k", "to_v", "to_out.0"):
        out[p + n + ".weight"] = (c, c)
        out[p + n + ".bias"] = (c,)


def shapes():
    out = collections.OrderedDict()
    out["conv_in.weight"] = (CHANNELS[0], 3, 3, 3)
    out["conv_in.bias"] = (CHANNELS[0],)
    out["time_embedding.linear_1.weight"] = (TEMB, CHANNELS[0])
    out["time_embedding.linear_1.bias"] = (TEMB,)
    out["time_embedding.linear_2.weight"] = (TEMB, TEMB)
    out["time_embedding.linear_2.bias"] = (TEMB,)
    cout = CHANNELS[0]
    for i, kind in enumerate(DOWN):
        cin, cout = cout, CHANNELS[i]
        for j in range(LAYERS):
            resnet(f"down_blocks.{i}.resnets.{j}.", cin if j == 0 else cout, cout, out)
            if kind.startswith("Attn"):
                attention(f"down_blocks.{i}.attentions.{j}.", cout, out)
        if i < len(DOWN) - 1:
            out[f"down_blocks.{i}.downsamplers.0.conv.weight"] = (cout, cout, 3, 3)
            out[f"down_blocks.{i}.downsamplers.0.conv.bias"] = (cout,)
    mid = CHANNELS[-1]
    resnet("mid_block.resnets.0.", mid, mid, out)
    attention("mid_block.attentions.0.", mid, out)
    resnet("mid_block.resnets.1.", mid, mid, out)
    rev = list(reversed(CHANNELS))
    cout = rev[0]
    for i, kind in enumerate(UP):
        prev, cout = cout, rev[i]
        cin = rev[min(i + 1, len(rev) - 1)]
        for j in range(LAYERS + 1):
            skip = cin if j == LAYERS else cout
            resnet(f"up_blocks.{i}.resnets.{j}.", (prev if j == 0 else cout) + skip, cout, out)
            if kind.startswith("Attn"):
                attention(f"up_blocks.{i}.attentions.{j}.", cout, out)
        if i < len(UP) - 1:
            out[f"up_blocks.{i}.upsamplers.0.conv.weight"] = (cout, cout, 3, 3)
            out[f"up_blocks.{i}.upsamplers.0.conv.bias"] = (cout,)
    out["conv_norm_out.weight"] = (CHANNELS[0],)
    out["conv_norm_out.bias"] = (CHANNELS[0],)
    out["conv_out.weight"] = (3, CHANNELS[0], 3, 3)
    out["conv_out.bias"] = (3,)
    return out


def state_dict():
    g = torch.Generator().manual_seed(0)
    sd = collections.OrderedDict((k, torch.randn(s, generator=g) * 0.02) for k, s in shapes().items())
    sd._metadata = collections.OrderedDict([("", {"version": 1})])  # as module.state_dict() returns it
    return sd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.dir, exist_ok=True)
    binf, stf = os.path.join(a.dir, "unet_state.bin"), os.path.join(a.dir, "unet_state.safetensors")
    sd = state_dict()
    if not (os.path.exists(binf) and os.path.exists(stf)):
        torch.save(sd, binf)
        safetensors.torch.save_file(dict(sd), stf, metadata={"format": "pt"})
    times = []
    for i in range(a.warmup + a.runs):
        t0 = time.perf_counter()
        loaded = torch.load(binf)
        dt = (time.perf_counter() - t0) * 1000
        assert len(loaded) == len(sd)
        del loaded
        if i >= a.warmup:
            times.append(dt)
    print(json.dumps({
        "params": sum(t.numel() for t in sd.values()), "tensors": len(sd),
        "bytes": sum(t.numel() * t.element_size() for t in sd.values()),
        "torch_version": torch.__version__, "threads": a.threads,
        "torch_load_ms": statistics.median(times), "runs_ms": [round(t, 2) for t in times],
    }))


if __name__ == "__main__":
    main()
