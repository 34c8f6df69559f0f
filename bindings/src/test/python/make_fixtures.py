"""Fixtures for the bindings tests, written by Python PyTorch (Debian's python3-torch 1.13).

Run from this folder:  /usr/bin/python3 make_fixtures.py
"""
import json
import torch

OUT = "../resources/python/"

# Seeded noise: the Java generator must draw exactly these numbers for the same seed.
for seed, shape in [(42, (1, 3, 8, 8)), (1234, (4, 2)), (7, (2, 1, 8, 8)), (0, (1000,))]:
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(shape, generator=g)
    torch.save(t, OUT + "randn_seed%d_%s.pt" % (seed, "x".join(map(str, shape))))
    # a second draw from the same generator continues the stream
    t2 = torch.randn(shape, generator=g)
    torch.save(t2, OUT + "randn_seed%d_%s_second.pt" % (seed, "x".join(map(str, shape))))

# A tensor file holding something that is not a tensor.
torch.save({"a": torch.zeros(2)}, OUT + "dict_not_tensor.pt")


class Conv(torch.nn.Module):
    """A tiny conv net with a (sample, timestep) forward, scripted."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        return self.conv(sample) + timestep.float().view(-1, 1, 1, 1) * 0.001


torch.manual_seed(0)
m = torch.jit.script(Conv().eval())
m.save(OUT + "conv.pt")
x = torch.linspace(-1, 1, 2 * 64).reshape(2, 1, 8, 8)
ts = torch.tensor([10, 500], dtype=torch.int64)
with torch.no_grad():
    y = m(x, ts)
torch.save(x, OUT + "conv_input.pt")
torch.save(ts, OUT + "conv_timesteps.pt")
torch.save(y, OUT + "conv_output.pt")
# A state dict saved with torch.save: a PyTorch file, but not TorchScript.
torch.save(Conv().state_dict(), OUT + "state_dict.pt")
print(json.dumps({"torch": torch.__version__}))
