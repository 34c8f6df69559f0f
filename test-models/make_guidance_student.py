"""The initial student of guidance distillation (Meng et al. 2023) for the built-in digits model, for
GuidanceDistillationTest and `diffusion4j distill --method guidance`.

The student is the digits UNet (make_models.DigitsUNet, same weights) with one more input, the guidance scale w:
a sinusoidal embedding of 100 w through its own MLP is added to the time + class embedding. The MLP's last layer
starts at zero, so before training the student equals the teacher's conditional prediction at every w (the paper
initialises the student from the teacher the same way). Its TorchScript forward is the documented signature of a
guidance-conditioned denoiser:

    forward(sample [B,1,8,8] float32, timestep [B] int64, class_labels [B] int64, guidance_scale [B] float32)

diffusion4j trains it (GuidanceDistillation) to predict uncond + w (cond - uncond) of the teacher in one forward.

Run: cd test-models && /usr/bin/python3 make_guidance_student.py   (Debian's python3-torch; a second)
Writes src/main/resources/io/diffusion4j/fixtures/digits-guidance-student/{model.pt,scheduler_config.json,
diffusion4j.json}.
"""
import json
import os
import shutil

import torch
import torch.nn as nn
import torch.nn.functional as F

from make_models import DIGITS_ARCH, DigitsUNet, SinusoidalEmbedding

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "src/main/resources/io/diffusion4j/")
TEACHER = ROOT + "models/digits/"
OUT = ROOT + "fixtures/digits-guidance-student/"
W_SCALE = 100.0


class DigitsGuidanceUNet(DigitsUNet):
    def __init__(self, c: int = 32, emb_dim: int = 64, n_mid: int = 2, num_embeddings: int = 11):
        super().__init__(c, emb_dim, n_mid, num_embeddings)
        self.wemb = SinusoidalEmbedding(c)
        self.w_mlp = nn.Sequential(nn.Linear(c, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        nn.init.zeros_(self.w_mlp[2].weight)
        nn.init.zeros_(self.w_mlp[2].bias)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, class_labels: torch.Tensor,
                guidance_scale: torch.Tensor) -> torch.Tensor:
        c = self.c
        b = sample.shape[0]
        w = guidance_scale.to(torch.float32) * 100.0  # W_SCALE
        e = F.silu(self.time_mlp(self.temb(timestep, b)) + self.class_emb(class_labels)
                   + self.w_mlp(self.wemb(w, b)))
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


def main():
    torch.manual_seed(0)
    teacher = torch.jit.load(TEACHER + "model.pt").eval()
    student = DigitsGuidanceUNet(**DIGITS_ARCH)
    missing, unexpected = student.load_state_dict(teacher.state_dict(), strict=False)
    assert not unexpected and all(k.startswith(("w_mlp.", "wemb.")) for k in missing), (missing, unexpected)
    student.eval()
    x = torch.randn(4, 1, 8, 8)
    t = torch.tensor([999, 500, 20, 0])
    y = torch.tensor([1, 3, 10, 7])
    w = torch.tensor([1.0, 2.5, 4.0, 7.0])
    with torch.no_grad():
        diff = (student(x, t, y, w) - teacher(x, t, y)).abs().max().item()
    assert diff < 1e-5, diff  # before training: the teacher's conditional prediction at every w
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    torch.jit.save(torch.jit.script(student), OUT + "model.pt")
    shutil.copy(TEACHER + "scheduler_config.json", OUT + "scheduler_config.json")
    spec = json.load(open(TEACHER + "diffusion4j.json"))
    spec["name"] = "digits-guidance-student"
    spec["forward_signature"] = ["sample", "timestep", "class_labels", "guidance_scale"]
    spec["description"] = ("The built-in digits UNet plus a guidance-scale input (sinusoidal embedding of 100 w, "
                           "MLP, zero-initialised last layer, added to the time + class embedding); teacher weights, "
                           "not yet distilled: the initial student of guidance distillation "
                           "(test-models/make_guidance_student.py).")
    spec.pop("training", None)
    with open(OUT + "diffusion4j.json", "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")
    print("wrote", OUT, "max |student - teacher cond| before training", diff)


if __name__ == "__main__":
    main()
