package io.diffusion4j.bindings;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * CPU tensors whose bytes come straight from a file region or go straight to one, without staging them in the
 * Java heap: the raw little-endian bytes of a contiguous tensor, as safetensors stores them.
 */
final class HostTensors {
    /** Largest region one {@link ByteBuffer} view covers. */
    private static final long CHUNK = 1L << 30;

    private HostTensors() {
    }

    /**
     * A new LibTorch-owned tensor filled from {@code bytes} bytes of {@code channel} at {@code position}: the
     * kernel copies the file's pages straight into the tensor's storage (one copy, no mapping left behind).
     */
    static org.bytedeco.pytorch.Tensor read(FileChannel channel, long position, DType dtype, long[] shape,
                                            long bytes, String source) throws IOException {
        org.bytedeco.pytorch.Tensor t = torch.empty(shape, new TensorOptions(dtype.scalarType()),
                new MemoryFormatOptional());
        if (bytes == 0) {
            return t;
        }
        BytePointer data = new BytePointer(t.data_ptr());
        for (long off = 0; off < bytes; off += CHUNK) {
            long n = Math.min(CHUNK, bytes - off);
            ByteBuffer view = data.position(off).limit(off + n).asByteBuffer();
            SafetensorsHeader.readFully(channel, view, position + off, source);
        }
        return t;
    }

    /**
     * The same through a memory mapping: {@code torch::from_blob} over the mapped pages, cloned once into
     * LibTorch-owned storage. The mapping is released when the garbage collector frees the buffer.
     */
    static org.bytedeco.pytorch.Tensor readMapped(FileChannel channel, long position, DType dtype, long[] shape,
                                                  long bytes) throws IOException {
        if (bytes == 0 || bytes > CHUNK) {
            return null;
        }
        MappedByteBuffer mapped = channel.map(FileChannel.MapMode.READ_ONLY, position, bytes);
        try (PointerScope ignored = new PointerScope()) {
            BytePointer p = new BytePointer(mapped);
            org.bytedeco.pytorch.Tensor view = torch.from_blob(p, shape, new TensorOptions(dtype.scalarType()));
            org.bytedeco.pytorch.Tensor owned = view.clone();
            owned.retainReference();
            return owned;
        }
    }

    /**
     * Writes the bytes of {@code t} (a contiguous CPU tensor) to {@code channel} at its current position, straight
     * from the tensor's storage.
     */
    static void write(FileChannel channel, org.bytedeco.pytorch.Tensor t) throws IOException {
        long bytes = t.nbytes();
        if (bytes == 0) {
            return;
        }
        BytePointer data = new BytePointer(t.data_ptr());
        for (long off = 0; off < bytes; off += CHUNK) {
            long n = Math.min(CHUNK, bytes - off);
            ByteBuffer view = data.position(off).limit(off + n).asByteBuffer();
            while (view.hasRemaining()) {
                channel.write(view);
            }
        }
    }
}
