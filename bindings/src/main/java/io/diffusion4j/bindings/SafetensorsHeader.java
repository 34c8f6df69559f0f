package io.diffusion4j.bindings;

import java.io.EOFException;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parsed and validated header of a safetensors file: the tensors sorted by where their bytes start, and the
 * {@code __metadata__} strings. Validation follows the reference implementation (huggingface/safetensors): the
 * header is at most 100 MB of UTF-8 JSON holding one object; each tensor's byte range has exactly
 * {@code product(shape) * itemsize} bytes; the ranges, in offset order, tile the data section from 0 to its end
 * with no hole, overlap or trailing byte. Anything else is a {@link TensorFileException} naming the file, the
 * tensor and what is wrong.
 */
final class SafetensorsHeader {
    /** The reference implementation's limit on the JSON header, in bytes. */
    static final long MAX_HEADER_BYTES = 100_000_000L;

    /** The element types of the format that diffusion4j reads and writes, in the reference's alignment order. */
    enum Kind {
        BOOL(DType.BOOL, 1), U8(DType.UINT8, 1), I8(DType.INT8, 1), I16(DType.INT16, 2), F16(DType.FLOAT16, 2),
        BF16(DType.BFLOAT16, 2), I32(DType.INT32, 4), F32(DType.FLOAT32, 4), F64(DType.FLOAT64, 8),
        I64(DType.INT64, 8);

        /** Codes the format defines that we do not read (no LibTorch 2.10 CPU equivalent that we handle). */
        static final List<String> UNSUPPORTED = List.of("F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3",
                "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "U16", "U32", "U64", "C64");

        final DType dtype;
        final int itemSize;

        Kind(DType dtype, int itemSize) {
            this.dtype = dtype;
            this.itemSize = itemSize;
        }

        static Kind of(DType dtype) {
            for (Kind k : values()) {
                if (k.dtype == dtype) {
                    return k;
                }
            }
            throw new IllegalArgumentException("dtype " + dtype.label() + " has no safetensors code");
        }
    }

    /** One tensor: its name, element type, shape and byte range {@code [begin, end)} in the data section. */
    record Entry(String name, Kind kind, long[] shape, long begin, long end) {
        long byteLength() {
            return end - begin;
        }
    }

    private final List<Entry> entries;
    private final Map<String, String> metadata;
    private final long dataStart;

    private SafetensorsHeader(List<Entry> entries, Map<String, String> metadata, long dataStart) {
        this.entries = entries;
        this.metadata = metadata;
        this.dataStart = dataStart;
    }

    /** The tensors in the order of their bytes in the file. */
    List<Entry> entries() {
        return entries;
    }

    /** The {@code __metadata__} strings in header order (empty if absent), unmodifiable. */
    Map<String, String> metadata() {
        return metadata;
    }

    /** The file offset of the data section (8 + header length). */
    long dataStart() {
        return dataStart;
    }

    /** Reads and validates the header of the file open on {@code channel}; {@code source} names it in messages. */
    static SafetensorsHeader read(FileChannel channel, String source) throws IOException {
        long fileSize = channel.size();
        if (fileSize < 8) {
            throw bad(source, "is " + fileSize + " bytes long, too short for the 8-byte header length "
                    + "(truncated, or not a safetensors file)");
        }
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(channel, len, 0, source);
        long n = len.flip().getLong();
        if (n < 0 || n > MAX_HEADER_BYTES) {
            throw bad(source, "declares a header of " + Long.toUnsignedString(n) + " bytes, more than the format's "
                    + "limit of " + MAX_HEADER_BYTES + " (corrupt, or not a safetensors file)");
        }
        if (8 + n > fileSize) {
            throw bad(source, "declares a header of " + n + " bytes, but the file has only " + (fileSize - 8)
                    + " bytes after the header length (truncated, or not a safetensors file)");
        }
        ByteBuffer headerBytes = ByteBuffer.allocate((int) n);
        readFully(channel, headerBytes, 8, source);
        headerBytes.flip();
        String text;
        try {
            CharBuffer chars = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(headerBytes);
            text = chars.toString();
        } catch (CharacterCodingException e) {
            throw bad(source, "has a header that is not UTF-8 text (corrupt, or not a safetensors file)");
        }
        Object json;
        try {
            json = HeaderJson.parse(text);
        } catch (HeaderJson.SyntaxException e) {
            throw bad(source, "has an unreadable JSON header: " + e.getMessage());
        }
        if (!(json instanceof Map)) {
            throw bad(source, "has a JSON header that is " + jsonKind(json) + ", expected an object of tensors");
        }
        return validate(castMap(json), fileSize - 8 - n, 8 + n, source);
    }

    private static SafetensorsHeader validate(Map<String, Object> root, long dataLength, long dataStart,
                                              String source) throws TensorFileException {
        Map<String, String> metadata = new LinkedHashMap<>();
        List<Entry> entries = new ArrayList<>(root.size());
        for (Map.Entry<String, Object> e : root.entrySet()) {
            String name = e.getKey();
            if (name.equals("__metadata__")) {
                if (!(e.getValue() instanceof Map)) {
                    throw bad(source, "has __metadata__ that is " + jsonKind(e.getValue())
                            + ", expected an object of strings");
                }
                for (Map.Entry<String, Object> m : castMap(e.getValue()).entrySet()) {
                    if (!(m.getValue() instanceof String)) {
                        throw bad(source, "has __metadata__ entry '" + m.getKey() + "' that is "
                                + jsonKind(m.getValue()) + ", expected a string");
                    }
                    metadata.put(m.getKey(), (String) m.getValue());
                }
                continue;
            }
            entries.add(entry(name, e.getValue(), source));
        }
        entries.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long expected = 0;
        Entry previous = null;
        for (Entry en : entries) {
            if (en.begin() < expected) {
                throw bad(source, "has overlapping tensors: '" + en.name() + "' " + range(en) + " overlaps '"
                        + previous.name() + "' " + range(previous));
            }
            if (en.begin() > expected) {
                throw bad(source, "leaves bytes [" + expected + ", " + en.begin() + ") of the data section "
                        + "outside every tensor (a hole before '" + en.name() + "')");
            }
            if (en.end() > dataLength) {
                throw bad(source, "has tensor '" + en.name() + "' at bytes " + range(en) + ", but the data "
                        + "section holds only " + dataLength + " bytes (truncated file, or offsets out of bounds)");
            }
            expected = en.end();
            previous = en;
        }
        if (expected != dataLength) {
            throw bad(source, "has " + (dataLength - expected) + " bytes after the last tensor's data (the data "
                    + "section is " + dataLength + " bytes, the tensors cover " + expected + ")");
        }
        return new SafetensorsHeader(Collections.unmodifiableList(entries), Collections.unmodifiableMap(metadata),
                dataStart);
    }

    private static Entry entry(String name, Object value, String source) throws TensorFileException {
        if (!(value instanceof Map)) {
            throw bad(source, "has tensor '" + name + "' described by " + jsonKind(value)
                    + ", expected an object with dtype, shape and data_offsets");
        }
        Map<String, Object> info = castMap(value);
        Object dtype = info.get("dtype");
        if (!(dtype instanceof String)) {
            throw bad(source, "has tensor '" + name + "' with " + (dtype == null ? "no dtype" : "dtype "
                    + jsonKind(dtype)) + ", expected a string such as \"F32\"");
        }
        Kind kind = kind((String) dtype, name, source);
        long[] shape = longs(info.get("shape"), "shape", name, source);
        long[] offsets = longs(info.get("data_offsets"), "data_offsets", name, source);
        if (offsets.length != 2) {
            throw bad(source, "has tensor '" + name + "' with data_offsets " + Arrays.toString(offsets)
                    + ", expected [begin, end]");
        }
        if (offsets[1] < offsets[0]) {
            throw bad(source, "has tensor '" + name + "' with data_offsets " + Arrays.toString(offsets)
                    + " that end before they begin");
        }
        long bytes;
        try {
            long numel = 1;
            for (long d : shape) {
                numel = Math.multiplyExact(numel, d);
            }
            bytes = Math.multiplyExact(numel, kind.itemSize);
        } catch (ArithmeticException ex) {
            throw bad(source, "has tensor '" + name + "' with shape " + Arrays.toString(shape)
                    + " whose size overflows 64 bits");
        }
        if (bytes != offsets[1] - offsets[0]) {
            throw bad(source, "has tensor '" + name + "' of " + kind + " " + Arrays.toString(shape) + " ("
                    + bytes + " bytes) but data_offsets " + Arrays.toString(offsets) + " span "
                    + (offsets[1] - offsets[0]) + " bytes");
        }
        return new Entry(name, kind, shape, offsets[0], offsets[1]);
    }

    private static Kind kind(String code, String name, String source) throws TensorFileException {
        try {
            return Kind.valueOf(code);
        } catch (IllegalArgumentException e) {
            if (Kind.UNSUPPORTED.contains(code)) {
                throw bad(source, "has tensor '" + name + "' of dtype " + code + ", which diffusion4j does not read "
                        + "(supported: " + Arrays.toString(Kind.values()) + ")");
            }
            throw bad(source, "has tensor '" + name + "' of unknown dtype \"" + code + "\" (supported: "
                    + Arrays.toString(Kind.values()) + ")");
        }
    }

    private static long[] longs(Object value, String field, String name, String source) throws TensorFileException {
        if (value == null) {
            throw bad(source, "has tensor '" + name + "' without " + field);
        }
        if (!(value instanceof List)) {
            throw bad(source, "has tensor '" + name + "' with " + field + " " + jsonKind(value)
                    + ", expected an array of non-negative integers");
        }
        List<?> list = (List<?>) value;
        long[] out = new long[list.size()];
        for (int i = 0; i < out.length; i++) {
            Object v = list.get(i);
            if (!(v instanceof BigInteger) || ((BigInteger) v).signum() < 0 || ((BigInteger) v).bitLength() > 63) {
                throw bad(source, "has tensor '" + name + "' with " + field + " " + value
                        + ": " + v + " is not a non-negative 64-bit integer");
            }
            out[i] = ((BigInteger) v).longValue();
        }
        return out;
    }

    private static String range(Entry e) {
        return "[" + e.begin() + ", " + e.end() + ")";
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> castMap(Object o) {
        return (Map<String, Object>) o;
    }

    private static String jsonKind(Object v) {
        if (v instanceof Map) {
            return "an object";
        }
        if (v instanceof List) {
            return "an array";
        }
        if (v instanceof String) {
            return "a string";
        }
        if (v instanceof Boolean) {
            return "a boolean";
        }
        if (v == HeaderJson.NULL) {
            return "null";
        }
        return "a number";
    }

    /** Reads {@code buffer.remaining()} bytes at {@code position}, or fails naming the file. */
    static void readFully(FileChannel channel, ByteBuffer buffer, long position, String source) throws IOException {
        long p = position;
        while (buffer.hasRemaining()) {
            int r = channel.read(buffer, p);
            if (r < 0) {
                throw new TensorFileException(source + " ended at byte " + p + " while reading (file truncated "
                        + "while being read?)", new EOFException());
            }
            p += r;
        }
    }

    static TensorFileException bad(String source, String what) {
        return new TensorFileException("safetensors file " + source + " " + what);
    }
}
