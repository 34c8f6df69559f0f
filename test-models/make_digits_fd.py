#!/usr/bin/env python3
"""The digits FD: re-exports the built-in digits-classifier with a `features` method, and writes the reference
Frechet distances that the Java metric is checked against.

    cd test-models && /usr/bin/python3 make_digits_fd.py

1. models/digits-classifier/model.pt is re-scripted from its OWN weights (the committed file's state dict, loaded
   into make_models.DigitsClassifier, which now exports `features(x) -> [B, 128]`: fc 128 + ReLU, before dropout
   and fc 10). Nothing is retrained: the script checks that the logits of all 1,797 digits are bitwise equal before
   and after, so accuracy cannot change. Running it twice is harmless.
2. reference/digits_fd/ holds four sample sets (real digits, perturbed, seeded), their features as this torch
   computes them (of the samples clamped to [-1, 1]: the digits FD judges samples as the images they become), and reference/digits_fd.json the Frechet distances computed the standard way (pytorch-fid's
   recipe, written here from its definition, not copied): numpy mean and np.cov (n - 1), scipy.linalg.sqrtm of
   S1 S2, real part, |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr(sqrtm(S1 S2)), float64.

The real digits are reference/training/digits_data.pt: all 1,797 sklearn digits scaled x/16*2-1, exactly the
models' training data (make_models.digits()).
"""
import json
import os

import numpy as np
import scipy
import scipy.linalg
import torch
import torch.nn.functional as F

import make_models as mm

RES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src", "main", "resources", "io", "diffusion4j")
CLF = os.path.join(RES, "models", "digits-classifier")
OUT = os.path.join(RES, "reference", "digits_fd")


def reexport_classifier(x):
    old = torch.jit.load(os.path.join(CLF, "model.pt"))
    old.eval()
    if hasattr(old, "features"):
        return old  # already re-exported: keep the committed file byte for byte
    with torch.no_grad():
        before = old(x)
    clf = mm.DigitsClassifier()
    clf.load_state_dict(old.state_dict())
    clf.eval()
    scripted = torch.jit.script(clf)
    path = os.path.join(CLF, "model.pt")
    torch.jit.save(scripted, path)
    new = torch.jit.load(path)
    new.eval()
    with torch.no_grad():
        after = new(x)
        feats = new.features(x)
        # the features are the penultimate layer: fc2 of them gives the logits (dropout is off in eval)
        via_features = F.linear(feats, new.fc2.weight, new.fc2.bias)
    assert torch.equal(before, after), "re-exported classifier changed its logits"
    assert torch.allclose(via_features, after, atol=1e-5), "features are not the input of fc2"
    meta_path = os.path.join(CLF, "diffusion4j.json")
    meta = json.load(open(meta_path))
    if "features(x)" not in meta["description"]:
        meta["description"] = meta["description"].replace(
            "logits [B,10]. Trained",
            "logits [B,10]; features(x) -> [B,128] penultimate activations (fc 128 + ReLU), the digits FD's "
            "features. Trained")
        mm.write_json(meta, meta_path)
    return new


def frechet_distance(f1, f2):
    """pytorch-fid's standard computation on two feature sets [N, D] (float64, scipy sqrtm)."""
    a = f1.double().numpy()
    b = f2.double().numpy()
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        off = np.eye(s1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((s1 + off).dot(s2 + off))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    d = mu1 - mu2
    return float(d.dot(d) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def frechet_distance_eigh(f1, f2):
    """The same distance by the route the Java metric takes: Tr (S1 S2)^(1/2) is the sum of the singular values of
    sqrt(S1) sqrt(S2), each square root from eigh with eigenvalues clamped at 0. A cross-check of sqrtm; unlike eigh
    of sqrt(S1) S2 sqrt(S1) it squares no small eigenvalue, which matters here: 57 of the 128 features are dead
    (zero on every real digit), so S1 and S2 are singular."""
    a = f1.double().numpy()
    b = f2.double().numpy()
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)

    def sqrt_psd(s):
        w, v = np.linalg.eigh(s)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    sv = np.linalg.svd(sqrt_psd(s1) @ sqrt_psd(s2), compute_uv=False)
    d = a.mean(axis=0) - b.mean(axis=0)
    return float(d.dot(d) + np.trace(s1) + np.trace(s2) - 2 * sv.sum())


def main():
    torch.set_num_threads(1)
    x = torch.load(os.path.join(RES, "reference", "training", "digits_data.pt"))
    ref = mm.digits()[0]
    assert torch.equal(x, ref), "digits_data.pt is not make_models.digits()"
    clf = reexport_classifier(x)
    g = torch.Generator().manual_seed(15)
    # noisy: 200 real digits (every 9th) plus Gaussian noise of std 0.3, clamped to [-1, 1]
    idx = torch.arange(0, 1797, 9)[:200]
    noisy = (x[idx] + 0.3 * torch.randn(x[idx].shape, generator=g)).clamp(-1, 1)
    # shifted: 300 real digits moved one pixel right (background -1 fills in)
    shifted = F.pad(x[1:901:3], (1, 0, 0, 0), value=-1.0)[:, :, :, :8].contiguous()
    # few: 100 digits with noise std 0.1 (fewer samples than feature dimensions: singular covariance)
    few = (x[5:1005:10] + 0.1 * torch.randn(x[5:1005:10].shape, generator=g)).clamp(-1, 1)
    # overshoot: 200 real digits scaled by 1.6 plus noise of std 0.2, NOT clamped (as a few-step sampler overshoots);
    # the digits FD judges samples as images, so its features are those of the samples clamped to [-1, 1]
    g2 = torch.Generator().manual_seed(16)
    base = x[2:1797:9][:200]
    overshoot = base * 1.6 + 0.2 * torch.randn(base.shape, generator=g2)
    sets = {"noisy": noisy, "shifted": shifted, "few": few, "overshoot": overshoot}
    with torch.no_grad():
        feats = {k: clf.features(v.clamp(-1, 1)) for k, v in sets.items()}
        real = clf.features(x)
    os.makedirs(OUT, exist_ok=True)
    for k, v in sets.items():
        mm.save_tensor(v, os.path.join(OUT, k + "_samples.pt"))
        mm.save_tensor(feats[k], os.path.join(OUT, k + "_features.pt"))
    cases = []
    for a, b in [("noisy", "real"), ("shifted", "real"), ("few", "real"), ("shifted", "noisy"),
                 ("few", "noisy"), ("real", "real"), ("overshoot", "real")]:
        fa = real if a == "real" else feats[a]
        fb = real if b == "real" else feats[b]
        fd = frechet_distance(fa, fb)
        fd_eigh = frechet_distance_eigh(fa, fb)
        cases.append({"x": a, "y": b, "n_x": fa.shape[0], "n_y": fb.shape[0], "fd": fd, "fd_eigh": fd_eigh})
        print("%-8s vs %-8s FD %.9g (eigh route %.9g, rel diff %.2e)" % (a, b, fd, fd_eigh,
                                                                          abs(fd - fd_eigh) / max(abs(fd), 1e-12)))
    # the estimate's floor at about 900 samples: FD between random halves of the real digits (10 splits)
    halves = []
    for s in range(10):
        p = torch.randperm(real.shape[0], generator=torch.Generator().manual_seed(s))
        halves.append(frechet_distance(real[p[:898]], real[p[898:]]))
    print("random halves of the real digits: FD mean %.2f, std %.2f" % (np.mean(halves), np.std(halves)))
    doc = {"format_version": 1,
           "classifier": "digits-classifier (features method: fc 128 + ReLU)",
           "real": "reference/training/digits_data.pt (all 1797 sklearn digits, x/16*2-1)",
           "sets": {"noisy": "x[0:1797:9][:200] + 0.3 * randn (Generator seed 15, first draw), clamped to [-1, 1]",
                    "shifted": "x[1:901:3] moved one pixel right, background -1",
                    "few": "x[5:1005:10] + 0.1 * randn (same generator, second draw), clamped to [-1, 1]",
                    "overshoot": "x[2:1797:9][:200] * 1.6 + 0.2 * randn (Generator seed 16), NOT clamped: "
                                 "its features are those of the samples clamped to [-1, 1], as the digits FD "
                                 "judges samples as images"},
           "files": {k: {"samples": "digits_fd/%s_samples.pt" % k, "features": "digits_fd/%s_features.pt" % k}
                     for k in sets},
           "method": "numpy mean, np.cov(rowvar=False) (n-1), scipy.linalg.sqrtm(S1 @ S2) real part, "
                     "|mu1-mu2|^2 + Tr S1 + Tr S2 - 2 Tr sqrtm, float64 on float32 features; fd_eigh: "
                     "the same as the sum of singular values of sqrt(S1) sqrt(S2) (eigh square roots)",
           "versions": {"torch": torch.__version__, "numpy": np.__version__, "scipy": scipy.__version__},
           "cases": cases,
           "real_random_halves": {"what": "FD between halves (898 / 899) of the real digits split by "
                                          "torch.randperm(1797, Generator seed s), s = 0..9: the estimate's floor "
                                          "at about 900 samples",
                                  "fd": halves, "mean": float(np.mean(halves)), "std": float(np.std(halves))}}
    mm.write_json(doc, os.path.join(RES, "reference", "digits_fd.json"))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
