"""safetensors.torch of diffusion4j's stand-in (see safetensors/__init__.py): dicts of torch tensors to and from
safetensors files and bytes."""
import os

import torch

from safetensors import SafetensorError, deserialize_header, safe_open, serialize, _tensor


def _check(tensors):
    if not isinstance(tensors, dict):
        raise ValueError(f"expected a dict of tensors, got {type(tensors).__name__}")
    seen = {}
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name!r} is a {type(t).__name__}, not a tensor")
        if t.layout != torch.strided:
            raise ValueError(f"you are trying to save a sparse tensor: {name!r}, which this format cannot hold")
        if not t.is_contiguous():
            raise ValueError(f"you are trying to save a non contiguous tensor: {name!r}; call .contiguous() first")
        if t.numel():
            ptr = t.storage().data_ptr()
            if ptr in seen:
                raise RuntimeError(f"some tensors share memory ({seen[ptr]!r} and {name!r}); this format "
                                   "cannot hold shared tensors: save copies (clone) instead")
            seen[ptr] = name


def save(tensors, metadata=None):
    """The bytes of a safetensors file holding `tensors` ({str: torch.Tensor}) and `metadata` ({str: str})."""
    _check(tensors)
    return serialize(tensors, metadata)


def save_file(tensors, filename, metadata=None):
    """Writes `tensors` to `filename` (through a temporary sibling renamed into place)."""
    data = save(tensors, metadata)
    filename = os.fspath(filename)
    tmp = filename + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, filename)


def load_file(filename, device="cpu"):
    """Every tensor of `filename`, by name (sorted by name, as the reference implementation returns them)."""
    result = {}
    with safe_open(filename, framework="pt", device=device) as f:
        for k in f.keys():
            result[k] = f.get_tensor(k)
    return result


def load(data):
    """Every tensor of safetensors file bytes (bytes, bytearray, memoryview or mmap)."""
    view = memoryview(data)
    try:
        _, entries, start = deserialize_header(view)
        body = view[start:]
        out = {name: _tensor(body, code, shape, begin, end) for name, code, shape, begin, end in entries}
        body.release()
    finally:
        view.release()
    return {k: out[k] for k in sorted(out)}


__all__ = ["save", "save_file", "load", "load_file", "SafetensorError"]
