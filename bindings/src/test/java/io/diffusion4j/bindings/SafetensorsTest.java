package io.diffusion4j.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bytedeco.javacpp.BytePointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Safetensors files against files written by Python (test-models/make_safetensors_refs.py: the stand-in writer,
 * torch.save, and a file built byte by byte from the specification).
 */
class SafetensorsTest {
    private static final String REFS = "io/diffusion4j/fixtures/safetensors/";

    /** A committed reference file, copied out of the test-models jar. */
    static Path ref(String name, Path dir) throws IOException {
        try (InputStream in = SafetensorsTest.class.getClassLoader().getResourceAsStream(REFS + name)) {
            if (in == null) {
                throw new IllegalStateException("missing reference " + REFS + name
                        + " (run test-models/make_safetensors_refs.py)");
            }
            Path p = dir.resolve(name);
            Files.copy(in, p);
            return p;
        }
    }

    /** The raw bytes of a tensor's storage (bit patterns, so NaN and -0.0 compare exactly). */
    static byte[] bytes(Tensor t) {
        org.bytedeco.pytorch.Tensor c = t.unwrap().contiguous();
        byte[] out = new byte[(int) c.nbytes()];
        if (out.length > 0) {
            new BytePointer(c.data_ptr()).capacity(out.length).get(out);
        }
        return out;
    }

    static void assertSameTensors(Map<String, Tensor> expected, Map<String, Tensor> actual) {
        assertEquals(new java.util.TreeSet<>(expected.keySet()), new java.util.TreeSet<>(actual.keySet()));
        for (Map.Entry<String, Tensor> e : expected.entrySet()) {
            Tensor a = actual.get(e.getKey());
            assertEquals(e.getValue().dtype(), a.dtype(), e.getKey());
            assertArrayEquals(e.getValue().shape(), a.shape(), e.getKey());
            assertArrayEquals(bytes(e.getValue()), bytes(a), e.getKey());
        }
    }

    // ---- Python -> Java -------------------------------------------------------------------------------------

    @Test
    void readsEveryDtypeThatThePythonWriterWrote(@TempDir Path dir) throws Exception {
        try (NativeScope scope = new NativeScope()) {
            LinkedHashMap<String, Tensor> st = Safetensors.read(ref("all_dtypes.safetensors", dir));
            LinkedHashMap<String, Tensor> pt = TensorFiles.readStateDict(ref("all_dtypes.pt", dir));
            assertSameTensors(pt, st);
            assertEquals(List.of(DType.BFLOAT16, DType.BOOL, DType.FLOAT16, DType.FLOAT32, DType.FLOAT64,
                            DType.INT16, DType.INT32, DType.INT64, DType.INT8, DType.UINT8),
                    st.values().stream().map(Tensor::dtype).distinct().sorted((a, b) -> a.label().compareTo(b.label()))
                            .toList());
            // spot values against torch.save's encoding, read back through our own accessors
            assertArrayEquals(new long[] {0, 1, -1, Long.MAX_VALUE, Long.MIN_VALUE, 1234567890123L},
                    st.get("i64").toLongArray());
            assertEquals(0, st.get("scalar").dim());
            assertEquals(2.5, st.get("scalar").item(), 0);
            assertArrayEquals(new long[] {0, 3}, st.get("empty").shape());
            // file order: descending element size, then name (the reference writer's order)
            assertEquals("i64", st.keySet().iterator().next());
        }
    }

    @Test
    void readsTheMetadata(@TempDir Path dir) throws Exception {
        Map<String, String> meta = Safetensors.metadata(ref("all_dtypes.safetensors", dir));
        assertEquals(List.of("format", "made_by", "escapes"), new ArrayList<>(meta.keySet()));
        assertEquals("pt", meta.get("format"));
        assertEquals("tab\t quote\" backslash\\ é ∑ \u0001", meta.get("escapes"));
        assertEquals(Map.of(), Safetensors.metadata(writeRaw(dir, "{}", 0)));
    }

    @Test
    void readsAFileBuiltFromTheSpecificationAndWritesTheSameBytes(@TempDir Path dir) throws Exception {
        Path hand = ref("hand_built.safetensors", dir);
        try (NativeScope scope = new NativeScope()) {
            LinkedHashMap<String, Tensor> t = Safetensors.read(hand);
            assertEquals(List.of("b", "a"), new ArrayList<>(t.keySet()));
            assertArrayEquals(new long[] {1, -2}, t.get("b").toLongArray());
            assertArrayEquals(new long[] {2, 1}, t.get("a").shape());
            assertArrayEquals(new float[] {0.5f, -3.0f}, t.get("a").toFloatArray());

            Map<String, Tensor> mine = new LinkedHashMap<>();
            mine.put("a", Tensor.fromFloats(new float[] {0.5f, -3.0f}, 2, 1));
            mine.put("b", Tensor.fromLongs(new long[] {1, -2}, 2));
            Path out = dir.resolve("java.safetensors");
            Safetensors.write(out, mine, Map.of("format", "pt"));
            assertArrayEquals(Files.readAllBytes(hand), Files.readAllBytes(out));
        }
    }

    @Test
    void writesTheSameBytesAsThePythonWriterForEveryDtype(@TempDir Path dir) throws Exception {
        Path python = ref("all_dtypes.safetensors", dir);
        // -Dd4j.safetensors.out=DIR keeps the Java-written file for test-models/check_java_safetensors.py
        String keep = System.getProperty("d4j.safetensors.out");
        Path out = (keep != null ? Path.of(keep) : dir).resolve("java_all_dtypes.safetensors");
        try (NativeScope scope = new NativeScope()) {
            LinkedHashMap<String, Tensor> values = TensorFiles.readStateDict(ref("all_dtypes.pt", dir));
            Safetensors.write(out, values, Safetensors.metadata(python));
            assertArrayEquals(Files.readAllBytes(python), Files.readAllBytes(out));
            assertSameTensors(values, Safetensors.read(out));
        }
    }

    @Test
    void headerLayoutIsLengthJsonSpacesThenContiguousAlignedData(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("sub/layout.safetensors");
        try (NativeScope scope = new NativeScope()) {
            Map<String, Tensor> t = new LinkedHashMap<>();
            t.put("u", Tensor.zeros(DType.UINT8, Device.CPU, 3));
            t.put("h", Tensor.zeros(DType.FLOAT16, Device.CPU, 5));
            t.put("z", Tensor.fromLongs(new long[] {7}, 1));
            t.put("y", Tensor.fromFloats(new float[] {1, 2, 3}, 3).to(Device.CPU).mul(2.0)); // a computed tensor
            t.put("x", Tensor.fromDoubles(new double[] {1, 2}, 1, 2).permute(1, 0)); // non-contiguous
            Safetensors.write(f, t, null);
        }
        byte[] all = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8, "header padded to 8 bytes");
        String header = new String(all, 8, (int) n, StandardCharsets.UTF_8);
        assertTrue(header.startsWith("{\"z\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}"), header);
        String json = header.stripTrailing();
        assertTrue(json.endsWith("}"));
        assertTrue(header.substring(json.length()).chars().allMatch(c -> c == ' '), "padding is spaces");
        assertTrue(header.length() - json.length() < 8);
        assertFalse(header.contains("__metadata__"));
        // header order = data order, contiguous from 0, descending element size then name
        Matcher m = Pattern.compile("\"([a-z])\":\\{\"dtype\":\"(\\w+)\",\"shape\":\\[[0-9,]*\\],"
                + "\"data_offsets\":\\[(\\d+),(\\d+)\\]\\}").matcher(json);
        List<String> order = new ArrayList<>();
        long expected = 0;
        while (m.find()) {
            order.add(m.group(1) + ":" + m.group(2));
            assertEquals(expected, Long.parseLong(m.group(3)), m.group());
            expected = Long.parseLong(m.group(4));
        }
        assertEquals(List.of("z:I64", "x:F64", "y:F32", "h:F16", "u:U8"), order);
        assertEquals(8 + n + expected, all.length, "data directly after the header, nothing after the data");
        // the permuted tensor was written in row-major order of its shape [2, 1]
        ByteBuffer data = ByteBuffer.wrap(all, (int) (8 + n + 8), 16).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(1.0, data.getDouble(), 0);
        assertEquals(2.0, data.getDouble(), 0);
        try (var files = Files.list(f.getParent())) {
            assertEquals(1, files.count(), "no temporary file left behind");
        }
    }

    @Test
    void writeRejectsTheReservedNameAndNullMetadata(@TempDir Path dir) {
        try (NativeScope scope = new NativeScope()) {
            Tensor t = Tensor.zeros(DType.FLOAT32, Device.CPU, 1);
            assertThrows(IllegalArgumentException.class,
                    () -> Safetensors.write(dir.resolve("a"), Map.of("__metadata__", t), null));
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("k", null);
            assertThrows(IllegalArgumentException.class, () -> Safetensors.write(dir.resolve("b"), Map.of("t", t), meta));
        }
        assertFalse(Files.exists(dir.resolve("a")));
    }

    // ---- state dicts (torch.save pickles) ---------------------------------------------------------------------

    @Test
    void readsAStateDictThatTorchSaveWroteInModuleOrder(@TempDir Path dir) throws Exception {
        try (NativeScope scope = new NativeScope()) {
            LinkedHashMap<String, Tensor> bin = TensorFiles.readStateDict(ref("module_state.bin", dir));
            assertEquals(List.of("steps", "0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"),
                    new ArrayList<>(bin.keySet()));
            assertSameTensors(bin, Safetensors.read(ref("module_state.safetensors", dir)));
            assertEquals(Map.of("format", "pt"), Safetensors.metadata(dir.resolve("module_state.safetensors")));
        }
    }

    @Test
    void readsALargeOrderedDictStateDict(@TempDir Path dir) throws Exception {
        try (NativeScope scope = new NativeScope()) {
            LinkedHashMap<String, Tensor> bin = TensorFiles.readStateDict(ref("many_state.bin", dir));
            LinkedHashMap<String, Tensor> plain = TensorFiles.readStateDict(ref("many_state.pt", dir));
            assertEquals(300, bin.size());
            assertEquals(new ArrayList<>(plain.keySet()), new ArrayList<>(bin.keySet()));
            assertEquals("layer149.bias", new ArrayList<>(bin.keySet()).get(299));
            assertSameTensors(plain, bin);
        }
    }

    @Test
    void writesStateDictsThatReadBack(@TempDir Path dir) throws Exception {
        try (NativeScope scope = new NativeScope()) {
            LinkedHashMap<String, Tensor> values = TensorFiles.readStateDict(ref("all_dtypes.pt", dir));
            String keep = System.getProperty("d4j.safetensors.out"); // for check_java_safetensors.py
            Path f = (keep != null ? Path.of(keep) : dir).resolve("java_all_dtypes.bin");
            TensorFiles.writeStateDict(f, values);
            LinkedHashMap<String, Tensor> back = TensorFiles.readStateDict(f);
            assertEquals(new ArrayList<>(values.keySet()), new ArrayList<>(back.keySet()));
            assertSameTensors(values, back);
        }
    }

    @Test
    void eachStateDictWriteHoldsOnlyItsOwnTensors(@TempDir Path dir) throws Exception {
        try (NativeScope scope = new NativeScope()) {
            TensorFiles.writeStateDict(dir.resolve("a.bin"), Map.of("a", Tensor.zeros(DType.FLOAT32, Device.CPU, 1)));
            TensorFiles.writeStateDict(dir.resolve("b.bin"), Map.of("b", Tensor.zeros(DType.FLOAT32, Device.CPU, 1)));
            assertEquals(List.of("a"), new ArrayList<>(TensorFiles.readStateDict(dir.resolve("a.bin")).keySet()));
            assertEquals(List.of("b"), new ArrayList<>(TensorFiles.readStateDict(dir.resolve("b.bin")).keySet()));
        }
    }

    @Test
    void aTensorFileIsNotAStateDict(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("t.pt");
        try (NativeScope scope = new NativeScope()) {
            TensorFiles.write(f, Tensor.zeros(DType.FLOAT32, Device.CPU, 2));
        }
        TensorFileException e = assertThrows(TensorFileException.class, () -> TensorFiles.readStateDict(f));
        assertTrue(e.getMessage().contains("expected a state dict (dict of tensors), got Tensor"), e.getMessage());
        Files.writeString(f, "not a zip");
        e = assertThrows(TensorFileException.class, () -> TensorFiles.readStateDict(f));
        assertTrue(e.getMessage().contains("is not a PyTorch file in torch.save's format"), e.getMessage());
        Path legacy = ref("legacy_state.bin", dir);
        e = assertThrows(TensorFileException.class, () -> TensorFiles.readStateDict(legacy));
        assertEquals(legacy.toAbsolutePath() + " is in torch.save's legacy (pre-1.6, not zip) format, which LibTorch "
                + "cannot read; re-save it in Python: torch.save(torch.load(path), path)", e.getMessage());
        Path missing = dir.resolve("missing.bin");
        e = assertThrows(TensorFileException.class, () -> TensorFiles.readStateDict(missing));
        assertEquals("state dict not found: " + missing.toAbsolutePath(), e.getMessage());
    }

    @Test
    void repeatedLoadsInScopesKeepNativeMemoryFlat(@TempDir Path dir) throws Exception {
        Path st = dir.resolve("w.safetensors");
        Path bin = dir.resolve("w.bin");
        try (NativeScope scope = new NativeScope()) {
            Map<String, Tensor> w = new LinkedHashMap<>();
            for (int i = 0; i < 20; i++) {
                w.put("layer" + i + ".weight", Tensor.full(i, DType.FLOAT32, Device.CPU, 64, 256)); // 64 KB each
            }
            Safetensors.write(st, w, Map.of("format", "pt"));
            TensorFiles.writeStateDict(bin, w);
        }
        for (int i = 0; i < 5; i++) { // warm-up
            loadBoth(st, bin);
        }
        System.gc();
        long baseTotal = org.bytedeco.javacpp.Pointer.totalBytes();
        long baseCount = org.bytedeco.javacpp.Pointer.totalCount();
        long basePhysical = nativeResident();
        long maxTotal = 0;
        long maxCount = 0;
        long maxPhysical = 0;
        for (int i = 0; i < 100; i++) {
            loadBoth(st, bin);
            maxTotal = Math.max(maxTotal, org.bytedeco.javacpp.Pointer.totalBytes());
            maxCount = Math.max(maxCount, org.bytedeco.javacpp.Pointer.totalCount());
            maxPhysical = Math.max(maxPhysical, nativeResident());
        }
        // 100 x 2 loads of 1.3 MB each: 260 MB if nothing were freed
        assertTrue(maxTotal - baseTotal <= 64 * 1024, "JavaCPP-tracked bytes grew by " + (maxTotal - baseTotal));
        assertTrue(maxCount - baseCount <= 100, "live native objects grew by " + (maxCount - baseCount));
        assertTrue(maxPhysical - basePhysical <= 16L * 1024 * 1024, "resident memory grew by "
                + (maxPhysical - basePhysical) + " B");
    }

    private static void loadBoth(Path st, Path bin) throws IOException {
        try (NativeScope scope = new NativeScope()) {
            assertEquals(20, Safetensors.read(st).size());
            assertEquals(20, TensorFiles.readStateDict(bin).size());
        }
    }

    private static long nativeResident() {
        return org.bytedeco.javacpp.Pointer.physicalBytes() - Runtime.getRuntime().totalMemory();
    }

    // ---- helpers for the corrupt-file tests (SafetensorsCorruptFilesTest) ----------------------------------------

    /** A file with header {@code json} (as is: no padding) followed by {@code dataBytes} zero bytes. */
    static Path writeRaw(Path dir, String json, int dataBytes) throws IOException {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        return writeRaw(dir, h.length, h, dataBytes);
    }

    static Path writeRaw(Path dir, long declaredLength, byte[] header, int dataBytes) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(declaredLength).put(header);
        Path p = Files.createTempFile(dir, "bad", ".safetensors");
        Files.write(p, b.array());
        return p;
    }
}
