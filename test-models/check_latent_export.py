"""Checks a latent pipeline folder exported by diffusion4j's `train` with diffusers' own loaders (by hand, not in CI).

    ./mvnw -B -q -pl examples -am test -Dtest='LatentCommandsTest#latentTrainingOnAnImageFolder*' \
        -Dsurefire.failIfNoSpecifiedTests=false -Ddiffusion4j.latentExportCheckDir=/tmp/latentcheck
    PYTHONPATH=/tmp/d/src:test-models/python-stubs /usr/bin/python3 test-models/check_latent_export.py /tmp/latentcheck

Loads export/unet and export/vae with from_pretrained (output_loading_info: no missing or unexpected keys) and
decodes the final latent that `sample --save-latent` wrote with diffusers' AutoencoderKL, against the Java decode.
"""
import os
import sys

import torch

from diffusers import AutoencoderKL, UNet2DModel

d = sys.argv[1]
unet, info = UNet2DModel.from_pretrained(os.path.join(d, "export", "unet"), output_loading_info=True)
print("unet loading info:", info)
assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
vae, info = AutoencoderKL.from_pretrained(os.path.join(d, "export", "vae"), output_loading_info=True)
print("vae loading info:", info)
assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
z = torch.load(os.path.join(d, "latent.pt"))
java = torch.load(os.path.join(d, "decoded.pt"))
with torch.no_grad():
    out = vae.eval().decode(z / vae.config.scaling_factor + vae.config.shift_factor).sample
    eps = unet.eval()(z, torch.tensor([10])).sample
diff = (out - java).abs().max().item()
print("unet forward on the latent: %s; max |diffusers decode - java decode| = %.3g" % (tuple(eps.shape), diff))
assert diff <= 1e-4 * max(1.0, out.abs().max().item()), diff
