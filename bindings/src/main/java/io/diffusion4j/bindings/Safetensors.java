package io.diffusion4j.bindings;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;

/**
 * Tensor files in the safetensors format (huggingface/safetensors), which diffusers and most of the Hugging Face
 * ecosystem use for weights: an 8-byte little-endian header length N, N bytes of JSON
 * ({@code {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..}},
 * padded with spaces to a multiple of 8), then the tensors' raw little-endian bytes, contiguous and in offset
 * order. Element types: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL.
 *
 * <p>Reading copies each tensor's bytes from the file straight into the storage of a new LibTorch tensor (one
 * copy, nothing through the Java heap). Every malformed file is a {@link TensorFileException} that names the
 * file, the tensor and the fault; nothing is read into a tensor before the whole header has been validated.
 * Writing produces the same bytes as the reference implementation for the same tensors and metadata (tensors
 * ordered by descending element size, then by name).
 */
public final class Safetensors {
    static {
        Torch.load();
    }

    private Safetensors() {
    }

    /**
     * Reads every tensor of {@code file} onto the CPU, in the order of their bytes in the file (which is header
     * order for files written by this class or by the reference implementation). The tensors belong to the
     * current {@link NativeScope}, or to the caller if none is open.
     *
     * @throws TensorFileException if the file is missing, unreadable or malformed
     */
    public static LinkedHashMap<String, Tensor> read(Path file) throws IOException {
        Torch.load();
        checkLittleEndian();
        String source = file.toAbsolutePath().toString();
        try (FileChannel ch = open(file, source)) {
            SafetensorsHeader header = SafetensorsHeader.read(ch, source);
            LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
            boolean done = false;
            try {
                for (SafetensorsHeader.Entry e : header.entries()) {
                    try (PointerScope ignored = new PointerScope()) {
                        org.bytedeco.pytorch.Tensor t = HostTensors.read(ch, header.dataStart() + e.begin(),
                                e.kind().dtype, e.shape(), e.byteLength(), source);
                        out.put(e.name(), Tensor.own(t));
                    } catch (RuntimeException ex) {
                        throw new TensorFileException("cannot allocate tensor '" + e.name() + "' ("
                                + e.kind() + " " + Arrays.toString(e.shape()) + ") of " + source + ": "
                                + NativeErrors.summary(ex), ex);
                    }
                }
                done = true;
            } finally {
                if (!done) {
                    out.values().forEach(Tensor::close);
                }
            }
            return out;
        }
    }

    /**
     * The {@code __metadata__} strings of {@code file} (empty if it has none), in header order; reads and validates
     * the header only.
     *
     * @throws TensorFileException if the file is missing, unreadable or malformed
     */
    public static Map<String, String> metadata(Path file) throws IOException {
        String source = file.toAbsolutePath().toString();
        try (FileChannel ch = open(file, source)) {
            return SafetensorsHeader.read(ch, source).metadata();
        }
    }

    /**
     * Writes {@code tensors} (any device, dtype among the format's; non-contiguous tensors are written in row-major
     * order) and {@code metadata} (may be null: no {@code __metadata__} entry) to {@code file}, through a temporary
     * sibling renamed into place, so that an interrupted write never leaves a broken file.
     *
     * @throws IllegalArgumentException for a tensor named {@code __metadata__}, a closed tensor or a null name/value
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        Torch.load();
        checkLittleEndian();
        List<Pending> pending = new ArrayList<>(tensors.size());
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String name = e.getKey();
            Tensor t = e.getValue();
            if (name == null || t == null) {
                throw new IllegalArgumentException("tensor names and values must not be null, got " + name + " -> " + t);
            }
            if (name.equals("__metadata__")) {
                throw new IllegalArgumentException("a tensor cannot be named __metadata__ (reserved by the format)");
            }
            if (t.isClosed()) {
                throw new IllegalArgumentException("tensor '" + name + "' is closed");
            }
            SafetensorsHeader.Kind kind = SafetensorsHeader.Kind.of(t.dtype());
            long[] shape = t.shape();
            pending.add(new Pending(name, name.getBytes(StandardCharsets.UTF_8), kind, shape,
                    t.numel() * kind.itemSize, t));
        }
        // the reference implementation's order: descending element size (its dtype order), then name bytes
        pending.sort(Comparator.<Pending>comparingInt(p -> -p.kind.ordinal())
                .thenComparing(p -> p.nameBytes, Arrays::compareUnsigned));
        byte[] header = header(pending, metadata);

        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        Path tmp = Files.createTempFile(dir, abs.getFileName().toString(), ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer head = ByteBuffer.allocate(8 + header.length).order(ByteOrder.LITTLE_ENDIAN);
                head.putLong(header.length).put(header).flip();
                while (head.hasRemaining()) {
                    ch.write(head);
                }
                for (Pending p : pending) {
                    try (PointerScope ignored = new PointerScope()) {
                        org.bytedeco.pytorch.Tensor c;
                        try {
                            c = p.tensor.unwrap().detach().cpu().contiguous();
                        } catch (RuntimeException ex) {
                            throw new NativeOperationException("cannot copy tensor '" + p.name + "' ("
                                    + p.tensor.describe() + ") to the CPU: " + NativeErrors.summary(ex), ex);
                        }
                        HostTensors.write(ch, c);
                    }
                }
                ch.force(true);
            }
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private record Pending(String name, byte[] nameBytes, SafetensorsHeader.Kind kind, long[] shape, long bytes,
                           Tensor tensor) {
    }

    /** The JSON header as serde_json writes it (no spaces), padded with spaces to a multiple of 8 bytes. */
    private static byte[] header(List<Pending> pending, Map<String, String> metadata) throws TensorFileException {
        StringBuilder b = new StringBuilder(64 + 96 * pending.size()).append('{');
        boolean first = true;
        if (metadata != null) {
            HeaderJson.appendString(b, "__metadata__");
            b.append(":{");
            boolean firstEntry = true;
            for (Map.Entry<String, String> m : metadata.entrySet()) {
                if (m.getKey() == null || m.getValue() == null) {
                    throw new IllegalArgumentException("metadata keys and values must not be null, got "
                            + m.getKey() + " -> " + m.getValue());
                }
                if (!firstEntry) {
                    b.append(',');
                }
                firstEntry = false;
                HeaderJson.appendString(b, m.getKey());
                b.append(':');
                HeaderJson.appendString(b, m.getValue());
            }
            b.append('}');
            first = false;
        }
        long offset = 0;
        for (Pending p : pending) {
            if (!first) {
                b.append(',');
            }
            first = false;
            HeaderJson.appendString(b, p.name);
            b.append(":{\"dtype\":\"").append(p.kind.name()).append("\",\"shape\":[");
            for (int i = 0; i < p.shape.length; i++) {
                if (i > 0) {
                    b.append(',');
                }
                b.append(p.shape[i]);
            }
            b.append("],\"data_offsets\":[").append(offset).append(',').append(offset + p.bytes).append("]}");
            offset += p.bytes;
        }
        b.append('}');
        byte[] json = b.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        if (padded > SafetensorsHeader.MAX_HEADER_BYTES) {
            throw new TensorFileException("safetensors header would be " + padded + " bytes, more than the format's "
                    + "limit of " + SafetensorsHeader.MAX_HEADER_BYTES);
        }
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    private static FileChannel open(Path file, String source) throws IOException {
        if (Files.isDirectory(file)) {
            throw new TensorFileException("safetensors file " + source + " is a directory");
        }
        try {
            return FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new TensorFileException("safetensors file not found: " + source, e);
        } catch (IOException e) {
            throw new TensorFileException("cannot open safetensors file " + source + ": " + e.getMessage(), e);
        }
    }

    private static void checkLittleEndian() {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new UnsupportedOperationException("safetensors stores little-endian bytes; this "
                    + ByteOrder.nativeOrder() + " host is not supported");
        }
    }
}
