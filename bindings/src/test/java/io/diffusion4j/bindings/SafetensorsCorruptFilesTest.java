package io.diffusion4j.bindings;

import static io.diffusion4j.bindings.SafetensorsTest.writeRaw;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each kind of malformed safetensors file is one clear {@link TensorFileException}, never a crash. */
class SafetensorsCorruptFilesTest {
    @TempDir
    Path dir;

    private static String tensor(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin
                + "," + end + "]}";
    }

    /** Reading fails with a message naming the file and containing {@code expected}; metadata() fails the same. */
    private static void assertRejected(Path file, String expected) {
        TensorFileException e = assertThrows(TensorFileException.class, () -> Safetensors.read(file));
        assertTrue(e.getMessage().startsWith("safetensors file " + file.toAbsolutePath() + " "), e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), "one line");
        TensorFileException m = assertThrows(TensorFileException.class, () -> Safetensors.metadata(file));
        assertEquals(e.getMessage(), m.getMessage());
    }

    @Test
    void fileTooShortForTheHeaderLength() throws Exception {
        Path f = dir.resolve("short.safetensors");
        Files.write(f, new byte[] {1, 0, 0});
        assertRejected(f, "is 3 bytes long, too short for the 8-byte header length");
    }

    @Test
    void headerLengthLargerThanTheFile() throws Exception {
        Path f = writeRaw(dir, 500, "{}".getBytes(), 0);
        assertRejected(f, "declares a header of 500 bytes, but the file has only 2 bytes after the header length");
    }

    @Test
    void hugeHeaderLength() throws Exception {
        assertRejected(writeRaw(dir, 1L << 62, "{}".getBytes(), 0),
                "declares a header of 4611686018427387904 bytes, more than the format's limit of 100000000");
    }

    @Test
    void headerLengthWithTheTopBitSet() throws Exception {
        assertRejected(writeRaw(dir, -8, "{}".getBytes(), 0), "declares a header of 18446744073709551608 bytes");
    }

    @Test
    void headerIsNotJson() throws Exception {
        assertRejected(writeRaw(dir, "{\"w\": {\"dtype\": F32}}", 0), "has an unreadable JSON header: unexpected 'F'");
    }

    @Test
    void headerIsNotUtf8() throws Exception {
        byte[] h = {'{', '"', (byte) 0xC3, (byte) 0x28, '"', ':', '1', '}'};
        assertRejected(writeRaw(dir, h.length, h, 0), "has a header that is not UTF-8 text");
    }

    @Test
    void headerIsNotAnObject() throws Exception {
        assertRejected(writeRaw(dir, "[1, 2, 3]", 0), "has a JSON header that is an array, expected an object");
    }

    @Test
    void unknownDtype() throws Exception {
        assertRejected(writeRaw(dir, "{" + tensor("w", "F31", "[2]", 0, 8) + "}", 8),
                "has tensor 'w' of unknown dtype \"F31\" (supported: [BOOL, U8, I8, I16, F16, BF16, I32, F32, F64, I64])");
    }

    @Test
    void dtypeOfTheFormatThatWeDoNotRead() throws Exception {
        assertRejected(writeRaw(dir, "{" + tensor("w", "U16", "[2]", 0, 4) + "}", 4),
                "has tensor 'w' of dtype U16, which diffusion4j does not read");
    }

    @Test
    void shapeDoesNotMatchTheByteRange() throws Exception {
        assertRejected(writeRaw(dir, "{" + tensor("w", "F32", "[2,3]", 0, 20) + "}", 20),
                "has tensor 'w' of F32 [2, 3] (24 bytes) but data_offsets [0, 20] span 20 bytes");
    }

    @Test
    void offsetsOutOfBounds() throws Exception {
        String h = "{" + tensor("a", "F32", "[2]", 0, 8) + "," + tensor("b", "F32", "[4]", 8, 24) + "}";
        assertRejected(writeRaw(dir, h, 12),
                "has tensor 'b' at bytes [8, 24), but the data section holds only 12 bytes");
    }

    @Test
    void truncatedFile() throws Exception {
        Path good = dir.resolve("good.safetensors");
        try (NativeScope scope = new NativeScope()) {
            Safetensors.write(good, Map.of("w", Tensor.zeros(DType.FLOAT32, Device.CPU, 64)), null);
        }
        byte[] all = Files.readAllBytes(good);
        Path cut = dir.resolve("cut.safetensors");
        Files.write(cut, Arrays.copyOf(all, all.length - 100));
        assertRejected(cut, "has tensor 'w' at bytes [0, 256), but the data section holds only 156 bytes "
                + "(truncated file, or offsets out of bounds)");
    }

    @Test
    void overlappingRanges() throws Exception {
        String h = "{" + tensor("a", "F32", "[4]", 0, 16) + "," + tensor("b", "F32", "[2]", 8, 16) + "}";
        assertRejected(writeRaw(dir, h, 16), "has overlapping tensors: 'b' [8, 16) overlaps 'a' [0, 16)");
    }

    @Test
    void negativeDimension() throws Exception {
        assertRejected(writeRaw(dir, "{" + tensor("w", "F32", "[-2,2]", 0, 16) + "}", 16),
                "has tensor 'w' with shape [-2, 2]: -2 is not a non-negative 64-bit integer");
    }

    @Test
    void duplicateKeys() throws Exception {
        String h = "{" + tensor("w", "F32", "[1]", 0, 4) + "," + tensor("w", "F32", "[1]", 4, 8) + "}";
        assertRejected(writeRaw(dir, h, 8), "has an unreadable JSON header: duplicate key \"w\"");
    }

    @Test
    void holeInTheData() throws Exception {
        String h = "{" + tensor("a", "F32", "[1]", 0, 4) + "," + tensor("b", "F32", "[1]", 8, 12) + "}";
        assertRejected(writeRaw(dir, h, 12),
                "leaves bytes [4, 8) of the data section outside every tensor (a hole before 'b')");
    }

    @Test
    void dataThatDoesNotStartAtZero() throws Exception {
        assertRejected(writeRaw(dir, "{" + tensor("a", "F32", "[1]", 4, 8) + "}", 8),
                "leaves bytes [0, 4) of the data section outside every tensor");
    }

    @Test
    void bytesAfterTheLastTensor() throws Exception {
        assertRejected(writeRaw(dir, "{" + tensor("a", "F32", "[1]", 0, 4) + "}", 12),
                "has 8 bytes after the last tensor's data");
    }

    @Test
    void offsetsThatEndBeforeTheyBegin() throws Exception {
        assertRejected(writeRaw(dir, "{" + tensor("a", "U8", "[0]", 4, 0) + "}", 4),
                "has tensor 'a' with data_offsets [4, 0] that end before they begin");
    }

    @Test
    void shapeWhoseSizeOverflows() throws Exception {
        assertRejected(writeRaw(dir, "{" + tensor("a", "F32", "[4294967296,4294967296]", 0, 0) + "}", 0),
                "has tensor 'a' with shape [4294967296, 4294967296] whose size overflows 64 bits");
    }

    @Test
    void missingField() throws Exception {
        assertRejected(writeRaw(dir, "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4),
                "has tensor 'a' without shape");
    }

    @Test
    void metadataThatIsNotStrings() throws Exception {
        assertRejected(writeRaw(dir, "{\"__metadata__\":{\"epoch\":3}}", 0),
                "has __metadata__ entry 'epoch' that is a number, expected a string");
    }

    @Test
    void missingFileAndDirectory() {
        Path missing = dir.resolve("none.safetensors");
        TensorFileException e = assertThrows(TensorFileException.class, () -> Safetensors.read(missing));
        assertEquals("safetensors file not found: " + missing.toAbsolutePath(), e.getMessage());
        e = assertThrows(TensorFileException.class, () -> Safetensors.read(dir));
        assertEquals("safetensors file " + dir.toAbsolutePath() + " is a directory", e.getMessage());
    }

    @Test
    void deepNestingIsAnErrorNotAStackOverflow() throws Exception {
        assertRejected(writeRaw(dir, "[".repeat(100_000), 0), "nesting deeper than 64");
    }
}
