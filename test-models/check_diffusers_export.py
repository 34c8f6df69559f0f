"""Checks a diffusers folder exported by diffusion4j with diffusers' own loaders (by hand, not in CI).

    ./mvnw -B -q -pl java-api -am test -Dtest='UNet2DExportTest,DigitsUNetBuiltinTest' \
        -Dsurefire.failIfNoSpecifiedTests=false -Ddiffusion4j.exportCheckDir=/tmp/exportcheck
    PYTHONPATH=/tmp/d/src:test-models/python-stubs /usr/bin/python3 test-models/check_diffusers_export.py /tmp/exportcheck

(The two tests write to the same folder: run one of them per check; DigitsUNetBuiltinTest fine-tunes the built-in
digits-unet and also leaves class_labels.pt.)

Loads export/ with UNet2DModel.from_pretrained (output_loading_info: no missing or unexpected keys) and with
DDPMPipeline.from_pretrained, and compares diffusers' forward on the saved input with the Java model's output.
"""
import os
import sys

import torch

from diffusers import DDPMPipeline, UNet2DModel

d = sys.argv[1]
unet, info = UNet2DModel.from_pretrained(os.path.join(d, "export", "unet"), output_loading_info=True)
print("loading info:", info)
assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
pipe = DDPMPipeline.from_pretrained(os.path.join(d, "export"))
print("pipeline:", type(pipe).__name__, type(pipe.unet).__name__, type(pipe.scheduler).__name__)
x = torch.load(os.path.join(d, "sample.pt"))
t = torch.load(os.path.join(d, "timesteps.pt"))
java = torch.load(os.path.join(d, "java_output.pt"))
labels = os.path.join(d, "class_labels.pt")
y = torch.load(labels) if os.path.exists(labels) else None
with torch.no_grad():
    out = unet.eval()(x, t, class_labels=y).sample
    out2 = pipe.unet.eval()(x, t, class_labels=y).sample
diff = (out - java).abs().max().item()
print("max |diffusers - java| = %.3g (|out| max %.3g); pipeline unet %.3g" % (
    diff, out.abs().max().item(), (out2 - java).abs().max().item()))
assert diff <= 1e-5 * max(1.0, out.abs().max().item()), diff
print("OK")
