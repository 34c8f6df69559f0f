package io.diffusion4j.bindings;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * TEMP minimal safetensors reader/writer (replaced by issue-13a's full implementation with the same API): reads the
 * headers that safetensors and this class write, with no validation beyond the basics.
 */
public final class Safetensors {
    static {
        Torch.load();
    }

    private static final Pattern ENTRY = Pattern.compile(
            "\"((?:[^\"\\\\]|\\\\.)*)\"\\s*:\\s*\\{\\s*\"dtype\"\\s*:\\s*\"(\\w+)\"\\s*,\\s*\"shape\"\\s*:\\s*\\[([^\\]]*)\\]"
                    + "\\s*,\\s*\"data_offsets\"\\s*:\\s*\\[\\s*(\\d+)\\s*,\\s*(\\d+)\\s*\\]\\s*\\}");
    private static final Pattern META = Pattern.compile("\"((?:[^\"\\\\]|\\\\.)*)\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");

    private Safetensors() {
    }

    public static LinkedHashMap<String, Tensor> read(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (n < 2 || 8 + n > all.length) {
            throw new TensorFileException(file + ": not a safetensors file (header length " + n + ")");
        }
        String header = new String(all, 8, (int) n, StandardCharsets.UTF_8);
        int base = 8 + (int) n;
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        Matcher m = ENTRY.matcher(header);
        while (m.find()) {
            String name = m.group(1);
            torch.ScalarType type = switch (m.group(2)) {
                case "F32" -> torch.ScalarType.Float;
                case "F16" -> torch.ScalarType.Half;
                case "BF16" -> torch.ScalarType.BFloat16;
                case "F64" -> torch.ScalarType.Double;
                case "I64" -> torch.ScalarType.Long;
                case "I32" -> torch.ScalarType.Int;
                case "U8" -> torch.ScalarType.Byte;
                default -> throw new TensorFileException(file + ": unsupported dtype " + m.group(2) + " of " + name);
            };
            String dims = m.group(3).trim();
            long[] shape = dims.isEmpty() ? new long[0]
                    : java.util.Arrays.stream(dims.split(",")).mapToLong(d -> Long.parseLong(d.trim())).toArray();
            long start = Long.parseLong(m.group(4));
            long end = Long.parseLong(m.group(5));
            if (base + end > all.length || start > end) {
                throw new TensorFileException(file + ": data of " + name + " out of range");
            }
            try (PointerScope ignored = new PointerScope()) {
                org.bytedeco.pytorch.Tensor t = torch.empty(shape, new TensorOptions(type),
                        new org.bytedeco.pytorch.MemoryFormatOptional());
                if (t.nbytes() != end - start) {
                    throw new TensorFileException(file + ": " + name + " has " + (end - start) + " bytes for shape "
                            + java.util.Arrays.toString(shape));
                }
                if (end > start) {
                    new BytePointer(t.data_ptr()).capacity(end - start).put(all, base + (int) start, (int) (end - start));
                }
                out.put(name, Tensor.own(t));
            }
        }
        return out;
    }

    public static Map<String, String> metadata(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(all, 8, (int) n, StandardCharsets.UTF_8);
        Map<String, String> out = new LinkedHashMap<>();
        int i = header.indexOf("\"__metadata__\"");
        if (i >= 0) {
            int open = header.indexOf('{', i);
            int close = header.indexOf('}', open);
            Matcher m = META.matcher(header.substring(open + 1, close));
            while (m.find()) {
                out.put(m.group(1), m.group(2));
            }
        }
        return out;
    }

    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        StringBuilder h = new StringBuilder("{");
        if (metadata != null && !metadata.isEmpty()) {
            h.append("\"__metadata__\":{");
            boolean first = true;
            for (Map.Entry<String, String> e : new TreeMap<>(metadata).entrySet()) {
                h.append(first ? "" : ",").append('"').append(e.getKey()).append("\":\"").append(e.getValue()).append('"');
                first = false;
            }
            h.append("},");
        }
        java.io.ByteArrayOutputStream data = new java.io.ByteArrayOutputStream();
        boolean first = true;
        try (PointerScope ignored = new PointerScope()) {
            for (Map.Entry<String, Tensor> e : new TreeMap<>(tensors).entrySet()) {
                org.bytedeco.pytorch.Tensor t = e.getValue().unwrap().detach().cpu().contiguous();
                String dtype = switch (DType.of(t.scalar_type())) {
                    case FLOAT32 -> "F32";
                    case FLOAT16 -> "F16";
                    case BFLOAT16 -> "BF16";
                    case FLOAT64 -> "F64";
                    case INT64 -> "I64";
                    case INT32 -> "I32";
                    case UINT8 -> "U8";
                    case BOOL -> "BOOL";
                };
                long nb = t.nbytes();
                byte[] b = new byte[(int) nb];
                if (nb > 0) {
                    new BytePointer(t.data_ptr()).capacity(nb).get(b);
                }
                long[] shape = t.sizes().vec().get();
                h.append(first ? "" : ",").append('"').append(e.getKey()).append("\":{\"dtype\":\"").append(dtype)
                        .append("\",\"shape\":[");
                for (int i = 0; i < shape.length; i++) {
                    h.append(i == 0 ? "" : ",").append(shape[i]);
                }
                h.append("],\"data_offsets\":[").append(data.size()).append(',').append(data.size() + nb).append("]}");
                data.write(b);
                first = false;
            }
        }
        h.append('}');
        byte[] hb = h.toString().getBytes(StandardCharsets.UTF_8);
        int pad = (8 - hb.length % 8) % 8;
        byte[] header = java.util.Arrays.copyOf(hb, hb.length + pad);
        java.util.Arrays.fill(header, hb.length, header.length, (byte) ' ');
        Path abs = file.toAbsolutePath();
        Files.createDirectories(abs.getParent());
        Path tmp = Files.createTempFile(abs.getParent(), abs.getFileName().toString(), ".tmp");
        try (java.io.OutputStream out = Files.newOutputStream(tmp)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
            out.write(header);
            data.writeTo(out);
        }
        Files.move(tmp, abs, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }
}
