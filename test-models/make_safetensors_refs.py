"""Reference files for diffusion4j's safetensors and state-dict readers/writers (bindings' SafetensorsTest).

    cd test-models && /usr/bin/python3 make_safetensors_refs.py      # about a second; deterministic

Writes src/main/resources/io/diffusion4j/fixtures/safetensors/:
  all_dtypes.safetensors   every dtype (F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL) with edge values, a scalar, an
                           empty tensor, odd byte lengths and awkward names, plus __metadata__, written by the
                           safetensors stand-in (python-stubs/safetensors)
  all_dtypes.pt            the same tensors as a plain dict through torch.save: the independent encoding the Java
                           test compares against (read by LibTorch's own unpickler)
  hand_built.safetensors   a small file built byte by byte here from the format's specification; the stand-in's
                           writer must reproduce it exactly (checked below), and so must Java's (checked in Java)
  module_state.bin         torch.save(module.state_dict()) of a small conv/norm/linear module (an OrderedDict with
                           _metadata, as diffusers' .bin weights are)
  module_state.safetensors the same state dict through the stand-in's save_file(metadata={"format": "pt"}), as
                           diffusers' save_pretrained writes it
  many_state.bin           a 300-tensor OrderedDict state dict (pickle memo ids past 255: LONG_BINPUT), and
  many_state.pt            the same tensors as a plain dict
  legacy_state.bin         module_state's state dict in torch.save's legacy (pre-1.6, not zip) format

check_java_safetensors.py does the other direction (files written by Java, read here).
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "python-stubs"))

import torch  # noqa: E402
import safetensors  # noqa: E402
import safetensors.torch  # noqa: E402

OUT = os.path.join(HERE, "src", "main", "resources", "io", "diffusion4j", "fixtures", "safetensors")

METADATA = {"format": "pt", "made_by": "make_safetensors_refs.py", "escapes": "tab\t quote\" backslash\\ é ∑ \u0001"}


def all_dtypes():
    g = torch.Generator().manual_seed(1234)
    f32 = torch.randn(3, 4, generator=g)
    f32_special = torch.tensor([float("inf"), float("-inf"), float("nan"), 0.0, -0.0, 1e-45, 3.4028235e38,
                                -1.1754944e-38], dtype=torch.float32)
    return {
        "f32": f32,
        "f32.special": f32_special,
        "f16": torch.cat([torch.randn(5, generator=g), torch.tensor([65504.0, 6e-8, float("-inf")])]).half(),
        "bf16": torch.randn(2, 3, generator=g).bfloat16(),
        "f64": torch.randn(2, 2, 2, generator=g, dtype=torch.float64),
        "i64": torch.tensor([0, 1, -1, 2 ** 63 - 1, -(2 ** 63), 1234567890123], dtype=torch.int64),
        "i32": torch.tensor([[2 ** 31 - 1, -(2 ** 31)], [7, -7]], dtype=torch.int32),
        "i16": torch.tensor([32767, -32768, 3], dtype=torch.int16),
        "i8": torch.tensor([127, -128, 0, -1, 5], dtype=torch.int8),
        "u8": torch.tensor([0, 1, 128, 255, 7], dtype=torch.uint8),  # 5 bytes: the next tensors start unaligned
        "bool": torch.tensor([[True, False, True], [False, False, True]]),
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
        "down_blocks.0.resnets.0.conv1.weight": torch.randn(4, 2, 3, 3, generator=g),
        "naïve \"quoted\" \\ name": torch.tensor([1, 2, 3], dtype=torch.int16),
    }


def hand_built():
    """A two-tensor file written from the specification, without the stand-in."""
    # tensors: "b" I64 [2] = [1, -2]; "a" F32 [2, 1] = [0.5, -3.0]; order: I64 before F32 (descending size)
    header = ('{"__metadata__":{"format":"pt"},'
              '"b":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},'
              '"a":{"dtype":"F32","shape":[2,1],"data_offsets":[16,24]}}').encode("utf-8")
    header += b" " * ((8 - len(header) % 8) % 8)
    data = struct.pack("<qq", 1, -2) + struct.pack("<ff", 0.5, -3.0)
    file_bytes = struct.pack("<Q", len(header)) + header + data
    tensors = {"a": torch.tensor([[0.5], [-3.0]]), "b": torch.tensor([1, -2])}
    return file_bytes, tensors


def module_state():
    torch.manual_seed(7)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.GroupNorm(4, 8), torch.nn.SiLU(),
                            torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10))
    m.register_buffer("steps", torch.arange(5))
    return m.state_dict()


def main():
    os.makedirs(OUT, exist_ok=True)
    tensors = all_dtypes()
    safetensors.torch.save_file(tensors, os.path.join(OUT, "all_dtypes.safetensors"), metadata=METADATA)
    torch.save(dict(tensors), os.path.join(OUT, "all_dtypes.pt"))

    # the stand-in reads back what it wrote, bit for bit (NaN included: compare the bytes)
    back = safetensors.torch.load_file(os.path.join(OUT, "all_dtypes.safetensors"))
    assert sorted(back) == sorted(tensors)
    for k, t in tensors.items():
        b = back[k]
        assert b.dtype == t.dtype and b.shape == t.shape, k
        assert bytes(t.reshape(-1).view(torch.uint8).numpy()) == bytes(b.reshape(-1).view(torch.uint8).numpy()), k
    with safetensors.safe_open(os.path.join(OUT, "all_dtypes.safetensors"), framework="pt") as f:
        assert f.metadata() == METADATA

    file_bytes, small = hand_built()
    with open(os.path.join(OUT, "hand_built.safetensors"), "wb") as f:
        f.write(file_bytes)
    assert safetensors.torch.save(small, metadata={"format": "pt"}) == file_bytes, "stand-in differs from the spec"
    loaded = safetensors.torch.load(file_bytes)
    assert torch.equal(loaded["a"], small["a"]) and torch.equal(loaded["b"], small["b"])

    state = module_state()
    torch.save(state, os.path.join(OUT, "module_state.bin"))
    torch.save(state, os.path.join(OUT, "legacy_state.bin"), _use_new_zipfile_serialization=False)
    safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()},
                                os.path.join(OUT, "module_state.safetensors"), metadata={"format": "pt"})
    g = torch.Generator().manual_seed(3)
    many = torch.nn.Module()
    for i in range(150):
        many.add_module(f"layer{i}", torch.nn.Linear(2, 1))
    with torch.no_grad():
        for p in many.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    state = many.state_dict()
    torch.save(state, os.path.join(OUT, "many_state.bin"))
    torch.save(dict(state), os.path.join(OUT, "many_state.pt"))
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
