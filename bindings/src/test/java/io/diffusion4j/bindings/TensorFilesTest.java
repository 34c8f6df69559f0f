package io.diffusion4j.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TensorFilesTest {

    @Test
    void readsTensorsWrittenByPythonTorchSave() throws Exception {
        try (NativeScope scope = new NativeScope()) {
            Tensor x = TensorFiles.read(Fixtures.python("conv_input.pt"));
            assertArrayEquals(new long[] {2, 1, 8, 8}, x.shape());
            float[] v = x.toFloatArray();
            assertEquals(-1.0f, v[0], 0);
            assertEquals(1.0f, v[v.length - 1], 0);
            Tensor ts = TensorFiles.read(Fixtures.python("conv_timesteps.pt"));
            assertEquals(DType.INT64, ts.dtype());
            assertArrayEquals(new long[] {10, 500}, ts.toLongArray());
        }
    }

    @Test
    void writesFilesThatReadBackIdentically(@TempDir Path dir) throws Exception {
        try (NativeScope scope = new NativeScope()) {
            Tensor x = Tensor.fromFloats(new float[] {1.5f, -2, 3.25f, 0}, 2, 2);
            Path f = dir.resolve("sub/x.pt");
            TensorFiles.write(f, x);
            Tensor back = TensorFiles.read(f);
            assertArrayEquals(x.shape(), back.shape());
            assertArrayEquals(x.toFloatArray(), back.toFloatArray());
            // The format is PyTorch's zip archive (what torch.load reads); Python check: see README.
            byte[] head = Arrays.copyOf(Files.readAllBytes(f), 2);
            assertArrayEquals(new byte[] {'P', 'K'}, head);
            try (var files = Files.list(f.getParent())) {
                assertEquals(1, files.count(), "no temporary file left behind");
            }
        }
    }

    @Test
    void missingFileIsAClearError(@TempDir Path dir) {
        Path missing = dir.resolve("nope.pt");
        TensorFileException e = assertThrows(TensorFileException.class, () -> TensorFiles.read(missing));
        assertEquals("tensor file not found: " + missing.toAbsolutePath(), e.getMessage());
    }

    @Test
    void aFileThatIsNotATensorFileIsAClearError(@TempDir Path dir) throws Exception {
        Path text = dir.resolve("notes.pt");
        Files.writeString(text, "hello");
        TensorFileException e = assertThrows(TensorFileException.class, () -> TensorFiles.read(text));
        assertTrue(e.getMessage().startsWith(text + " is not a PyTorch tensor file"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
    }

    @Test
    void aFileHoldingADictIsRejectedWithWhatItHolds() {
        Path dict = Fixtures.python("dict_not_tensor.pt");
        TensorFileException e = assertThrows(TensorFileException.class, () -> TensorFiles.read(dict));
        assertTrue(e.getMessage().contains("holds a GenericDict, expected a single tensor"), e.getMessage());
    }
}
