"""PyTorch reference for the training loss and its gradient, from the committed models.

For a fixed batch, fixed per-example timesteps and fixed noise, computes what one training step of diffusers'
train_text_to_image / train_unconditional scripts computes before the optimizer: x_t = sqrt(ab_t) x0 + sqrt(1-ab_t) noise,
the model's prediction in training mode, the MSE against the target of the model's prediction_type (epsilon: noise;
v_prediction: sqrt(ab_t) noise - sqrt(1-ab_t) x0; sample: x0), optionally min-SNR-gamma weighted
(per-sample MSE * w(snr_t), w = min(snr, gamma)/snr for epsilon, min(snr, gamma)/(snr+1) for v, min(snr, gamma) for
sample; then the batch mean), then loss.backward() and the gradient of one named parameter.

Also writes the scikit-learn digits as a tensor file (the data the digits models were trained on), for the Java
fine-tuning tests.

Run: cd test-models && /usr/bin/python3 make_training_refs.py   (Debian's python3-torch 1.13 + sklearn; a few seconds)
Writes src/main/resources/io/diffusion4j/reference/training.json, reference/training/<case>/*.pt and
reference/training/digits_{data,labels}.pt.
"""
import json
import os

import torch
from sklearn.datasets import load_digits

from make_solver_refs import alphas_cumprod as solver_alphas_cumprod

ROOT = "src/main/resources/io/diffusion4j/"
OUT = ROOT + "reference/training/"


def alphas_cumprod(cfg):
    return torch.from_numpy(solver_alphas_cumprod(cfg))  # the same float64 schedule as the solver references


def min_snr_weights(ab, prediction_type, gamma):
    snr = ab / (1 - ab)
    clipped = torch.clamp(snr, max=gamma)
    if prediction_type == "epsilon":
        w = clipped / snr
    elif prediction_type == "v_prediction":
        w = clipped / (snr + 1)
    else:
        w = clipped
    return w.float()


def digits_data():
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16 * 2 - 1
    y = torch.tensor(d.target, dtype=torch.int64)
    return x, y


def run_case(name, model_name, x0, labels, timesteps, noise, min_snr_gamma, param):
    d = ROOT + "models/" + model_name + "/"
    cfg = json.load(open(d + "scheduler_config.json"))
    model = torch.jit.load(d + "model.pt")
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
        p.grad = None
    ab = alphas_cumprod(cfg)[timesteps]
    shape = (-1,) + (1,) * (x0.dim() - 1)
    sa = ab.sqrt().float().reshape(shape)
    so = (1 - ab).sqrt().float().reshape(shape)
    noisy = sa * x0 + so * noise
    pt = cfg["prediction_type"]
    target = noise if pt == "epsilon" else (sa * noise - so * x0 if pt == "v_prediction" else x0)
    pred = model(noisy, timesteps, labels) if labels is not None else model(noisy, timesteps)
    if min_snr_gamma > 0:
        per_sample = ((pred - target) ** 2).mean(dim=list(range(1, pred.dim())))
        loss = (per_sample * min_snr_weights(ab, pt, min_snr_gamma)).mean()
    else:
        loss = torch.nn.functional.mse_loss(pred, target)
    loss.backward()
    grad = dict(model.named_parameters())[param].grad.detach().clone()
    os.makedirs(OUT + name, exist_ok=True)
    files = {}
    for key, t in [("x0", x0), ("timesteps", timesteps), ("noise", noise), ("grad", grad)] + (
            [("class_labels", labels)] if labels is not None else []):
        torch.save(t.contiguous(), OUT + name + "/" + key + ".pt")
        files[key] = "training/" + name + "/" + key + ".pt"
    print(f"{name}: loss {loss.item():.8f}, |grad {param}| max {grad.abs().max().item():.3e}")
    return {"name": name, "model": model_name, "prediction_type": pt, "min_snr_gamma": min_snr_gamma,
            "class_labels": "given" if labels is not None else None, "loss": loss.item(), "param": param,
            "files": files}


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    x, y = digits_data()
    torch.save(x, OUT + "digits_data.pt")
    torch.save(y, OUT + "digits_labels.pt")
    g = torch.Generator().manual_seed(5)
    idx = torch.randperm(x.shape[0], generator=g)[:8]
    x0, labels = x[idx].contiguous(), y[idx].contiguous()
    timesteps = torch.randint(0, 1000, (8,), generator=g, dtype=torch.int64)
    noise = torch.randn(x0.shape, generator=g)
    null = torch.full((8,), 10, dtype=torch.int64)
    toy = torch.load(ROOT + "models/toy2d/data.pt")[:64].contiguous()
    toy_t = torch.randint(0, 1000, (64,), generator=g, dtype=torch.int64)
    toy_noise = torch.randn(toy.shape, generator=g)
    cases = [
        run_case("digits_null_class", "digits", x0, null, timesteps, noise, 0, "conv_in.weight"),
        run_case("digits_labels_min_snr5", "digits", x0, labels, timesteps, noise, 5.0, "class_emb.weight"),
        run_case("digits_v_labels", "digits-v", x0, labels, timesteps, noise, 0, "up_block.conv1.weight"),
        run_case("digits_v_null_class_min_snr5", "digits-v", x0, null, timesteps, noise, 5.0, "time_mlp.0.weight"),
        run_case("toy2d", "toy2d", toy, None, toy_t, toy_noise, 0, "net.0.weight"),
    ]
    json.dump({"format_version": 1, "generated_by": "test-models/make_training_refs.py",
               "torch_version": torch.__version__,
               "digits_data": {"data": "training/digits_data.pt", "labels": "training/digits_labels.pt",
                               "source": "sklearn.datasets.load_digits(), x / 16 * 2 - 1, [1797, 1, 8, 8]"},
               "cases": cases}, open(ROOT + "reference/training.json", "w"), indent=1)


if __name__ == "__main__":
    main()
