"""diffusion4j's stand-in for the `safetensors` package (huggingface/safetensors), for running diffusers on
Debian's torch 1.13 without PyPI. Written from the format's specification, in Python + torch only; it reads and
writes the real format:

    8 bytes   N, the header length, unsigned little-endian
    N bytes   UTF-8 JSON object: {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [..],
              "data_offsets": [begin, end]}, ...}, written without spaces and padded with spaces to a multiple of 8
    rest      the tensors' raw little-endian bytes, row-major, in data_offsets order, with no holes or overlaps

Writing orders tensors like the reference implementation (descending element size, then name), so the same
tensors and metadata give the same bytes. Reading validates like the reference: header length at most 100 MB and
inside the file, JSON object, known dtype, byte ranges of exactly prod(shape) * itemsize bytes that tile the data
section; anything else raises SafetensorError.

What diffusers uses is here: safetensors.torch.{save_file, load_file, save, load} and safe_open(...) with keys(),
get_tensor(), metadata() as a context manager.
"""
import json
import mmap
import struct

import torch as _torch  # not "torch": importing safetensors.torch rebinds that name in this package

__version__ = "0.4.0"

MAX_HEADER_SIZE = 100_000_000

# the format's codes, in the reference implementation's (alignment) order, with torch dtypes and item sizes
_CODES = ["BOOL", "U8", "I8", "I16", "F16", "BF16", "I32", "F32", "F64", "I64"]
_TORCH = {
    "BOOL": _torch.bool, "U8": _torch.uint8, "I8": _torch.int8, "I16": _torch.int16, "F16": _torch.float16,
    "BF16": _torch.bfloat16, "I32": _torch.int32, "F32": _torch.float32, "F64": _torch.float64, "I64": _torch.int64,
}
_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "F16": 2, "BF16": 2, "I32": 4, "F32": 4, "F64": 8, "I64": 8}
_CODE_OF = {v: k for k, v in _TORCH.items()}
_RANK = {code: i for i, code in enumerate(_CODES)}


class SafetensorError(Exception):
    """A malformed safetensors file or an argument the format cannot hold."""


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise SafetensorError(f"duplicate key {k!r} in the header")
        out[k] = v
    return out


def _is_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2 ** 64


def deserialize_header(buffer):
    """Parses and validates the header of `buffer` (bytes-like, the whole file). Returns
    (metadata or None, [(name, code, shape, begin, end)] in offset order, data start)."""
    view = memoryview(buffer)
    if len(view) < 8:
        raise SafetensorError("file too short for the 8-byte header length")
    (n,) = struct.unpack("<Q", view[:8])
    if n > MAX_HEADER_SIZE:
        raise SafetensorError(f"header length {n} exceeds the limit of {MAX_HEADER_SIZE}")
    if 8 + n > len(view):
        raise SafetensorError(f"header length {n} runs past the end of the {len(view)}-byte file")
    try:
        text = bytes(view[8:8 + n]).decode("utf-8")
    except UnicodeDecodeError as e:
        raise SafetensorError(f"header is not UTF-8: {e}") from None
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as e:
        if isinstance(e, SafetensorError):
            raise
        raise SafetensorError(f"header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorError("header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise SafetensorError("__metadata__ must map strings to strings")
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict):
            raise SafetensorError(f"tensor {name!r}: description is not an object")
        code = info.get("dtype")
        if code not in _TORCH:
            raise SafetensorError(f"tensor {name!r}: unknown or unsupported dtype {code!r}")
        shape, offsets = info.get("shape"), info.get("data_offsets")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise SafetensorError(f"tensor {name!r}: shape {shape!r} is not a list of non-negative integers")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets)
                or offsets[1] < offsets[0]):
            raise SafetensorError(f"tensor {name!r}: bad data_offsets {offsets!r}")
        numel = 1
        for d in shape:
            numel *= d
        if numel * _SIZE[code] != offsets[1] - offsets[0]:
            raise SafetensorError(f"tensor {name!r}: {code} {shape} needs {numel * _SIZE[code]} bytes, "
                                  f"data_offsets {offsets} span {offsets[1] - offsets[0]}")
        entries.append((name, code, shape, offsets[0], offsets[1]))
    entries.sort(key=lambda e: (e[3], e[4]))
    expected = 0
    for name, _, _, begin, end in entries:
        if begin != expected:
            kind = "overlaps the previous tensor" if begin < expected else "leaves a hole before it"
            raise SafetensorError(f"tensor {name!r}: data_offsets begin at {begin}, expected {expected} ({kind})")
        expected = end
    if 8 + n + expected != len(view):
        raise SafetensorError(f"the tensors cover {expected} bytes, the data section has {len(view) - 8 - n}")
    return metadata, entries, 8 + n


def _tensor(view, code, shape, begin, end):
    dtype = _TORCH[code]
    if end == begin:
        return _torch.empty(shape, dtype=dtype)
    flat = _torch.frombuffer(bytearray(view[begin:end]), dtype=dtype)  # a copy the tensor owns
    return flat.reshape(shape)


class safe_open:
    """Opens a safetensors file (memory-mapped); use as a context manager.
    keys() are sorted by name, as in the reference implementation."""

    def __init__(self, filename, framework="pt", device="cpu"):
        if framework not in ("pt", "torch", "pytorch"):
            raise SafetensorError(f"framework {framework!r} is not supported by this stand-in (only 'pt')")
        self._device = device
        self._file = open(filename, "rb")
        try:
            size = self._file.seek(0, 2)
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            self._metadata, entries, start = deserialize_header(self._map)
        except BaseException:
            self.close()
            raise
        self._start = start
        self._entries = {e[0]: e for e in entries}
        self._offset_order = [e[0] for e in entries]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        m = getattr(self, "_map", None)
        if isinstance(m, mmap.mmap):
            m.close()
        self._map = None
        self._file.close()

    def keys(self):
        return sorted(self._entries)

    def offset_keys(self):
        return list(self._offset_order)

    def metadata(self):
        return None if self._metadata is None else dict(self._metadata)

    def get_tensor(self, name):
        if name not in self._entries:
            raise SafetensorError(f"no tensor named {name!r}")
        _, code, shape, begin, end = self._entries[name]
        view = memoryview(self._map)[self._start:]
        try:
            t = _tensor(view, code, shape, begin, end)
        finally:
            view.release()
        return t if self._device in ("cpu", None) else t.to(self._device)


def serialize(tensors, metadata=None):
    """The file bytes for `tensors` ({name: torch.Tensor}, contiguous) and `metadata` ({str: str} or None)."""
    items = []
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise SafetensorError(f"tensor names must be strings, got {name!r}")
        if name == "__metadata__":
            raise SafetensorError("a tensor cannot be named __metadata__")
        if t.dtype not in _CODE_OF:
            raise SafetensorError(f"tensor {name!r}: dtype {t.dtype} is not supported")
        items.append((name, _CODE_OF[t.dtype], t))
    items.sort(key=lambda it: (-_RANK[it[1]], it[0].encode("utf-8")))
    header = {}
    if metadata is not None:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise SafetensorError(f"metadata must map strings to strings, got {k!r}: {v!r}")
        header["__metadata__"] = dict(metadata)
    chunks, offset = [], 0
    for name, code, t in items:
        raw = t.detach().cpu().reshape(-1).view(_torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    if len(text) > MAX_HEADER_SIZE:
        raise SafetensorError("header too large")
    return b"".join([struct.pack("<Q", len(text)), text] + chunks)


def serialize_file(tensors, filename, metadata=None):
    data = serialize(tensors, metadata)
    with open(filename, "wb") as f:
        f.write(data)


from . import torch  # noqa: E402,F401  (diffusers calls safetensors.torch.* after a bare "import safetensors")
