"""TEMP minimal stand-in for `safetensors` (helper 13a ships the full one): the real file format (8-byte
little-endian header length, JSON header with dtype/shape/data_offsets and __metadata__, space-padded to 8 bytes,
then the raw little-endian data)."""
import json
import struct

import torch as _torch

__version__ = "0.4.0"

_DTYPES = {"F32": _torch.float32, "F16": _torch.float16, "BF16": _torch.bfloat16, "F64": _torch.float64,
           "I64": _torch.int64, "I32": _torch.int32, "I16": _torch.int16, "I8": _torch.int8, "U8": _torch.uint8,
           "BOOL": _torch.bool}
_NAMES = {v: k for k, v in _DTYPES.items()}


def _read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    return header, memoryview(data)[8 + n:]


def _tensor(info, body):
    start, end = info["data_offsets"]
    dtype = _DTYPES[info["dtype"]]
    raw = bytearray(body[start:end])
    flat = _torch.frombuffer(raw, dtype=dtype) if end > start else _torch.empty(0, dtype=dtype)
    return flat.reshape(info["shape"]).clone()


class safe_open:
    def __init__(self, path, framework="pt", device="cpu"):
        self._header, self._body = _read(path)
        self._meta = self._header.pop("__metadata__", None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def keys(self):
        return list(self._header.keys())

    def metadata(self):
        return self._meta

    def get_tensor(self, name):
        return _tensor(self._header[name], self._body)

from . import torch  # noqa: E402,F401  (safetensors.torch.save_file / load_file after 'import safetensors')
