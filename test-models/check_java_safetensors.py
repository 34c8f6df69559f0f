"""Checks, by hand, that safetensors files written by diffusion4j's Java writer load in Python (with the
safetensors stand-in in python-stubs/) and hold the reference values.

    ./mvnw -B -q -pl bindings -am test -Dtest=SafetensorsTest -Dsurefire.failIfNoSpecifiedTests=false \
        -Dd4j.safetensors.out=/tmp/d4j-st      # Java writes /tmp/d4j-st/java_all_dtypes.{safetensors,bin}
    /usr/bin/python3 test-models/check_java_safetensors.py /tmp/d4j-st

Compares every tensor bit for bit with all_dtypes.pt (torch.save of the same values), the metadata with
make_safetensors_refs.METADATA, and the whole file with what the stand-in writes for the same tensors; and reads
the state dict that TensorFiles.writeStateDict wrote with torch.load.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "python-stubs"))

import torch  # noqa: E402
import safetensors  # noqa: E402
import safetensors.torch  # noqa: E402
from make_safetensors_refs import METADATA, OUT  # noqa: E402


def main(directory):
    java_file = os.path.join(directory, "java_all_dtypes.safetensors")
    expected = torch.load(os.path.join(OUT, "all_dtypes.pt"))
    got = safetensors.torch.load_file(java_file)
    assert sorted(got) == sorted(expected), (sorted(got), sorted(expected))
    for k, t in expected.items():
        g = got[k]
        assert g.dtype == t.dtype and g.shape == t.shape, (k, g.dtype, g.shape, t.dtype, t.shape)
        assert bytes(t.reshape(-1).view(torch.uint8).numpy()) == bytes(g.reshape(-1).view(torch.uint8).numpy()), k
    with safetensors.safe_open(java_file, framework="pt") as f:
        assert f.metadata() == METADATA, f.metadata()
    with open(java_file, "rb") as f:
        assert f.read() == safetensors.torch.save(expected, metadata=METADATA), "bytes differ from the stand-in's"
    print(f"OK: {len(got)} tensors of {len({t.dtype for t in got.values()})} dtypes in {java_file} match")
    state_file = os.path.join(directory, "java_all_dtypes.bin")  # TensorFiles.writeStateDict
    state = torch.load(state_file)
    assert list(state) == list(expected), (list(state), list(expected))
    for k, t in expected.items():
        s = state[k]
        assert s.dtype == t.dtype and s.shape == t.shape, k
        assert bytes(t.reshape(-1).view(torch.uint8).numpy()) == bytes(s.reshape(-1).view(torch.uint8).numpy()), k
    print(f"OK: torch.load reads {state_file}: {len(state)} tensors in order, bit for bit")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/d4j-st")
