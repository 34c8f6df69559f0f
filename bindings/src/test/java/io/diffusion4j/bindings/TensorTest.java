package io.diffusion4j.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class TensorTest {

    @Test
    void arithmeticMatchesJavaArithmetic() {
        try (NativeScope scope = new NativeScope()) {
            Tensor a = Tensor.fromFloats(new float[] {1, 2, 3, 4}, 2, 2);
            Tensor b = Tensor.fromFloats(new float[] {0.5f, -1, 2, 8}, 2, 2);
            assertArrayEquals(new float[] {1.5f, 1, 5, 12}, a.add(b).toFloatArray());
            assertArrayEquals(new float[] {2, 0, 7, 20}, a.add(b, 2.0).toFloatArray());
            assertArrayEquals(new float[] {0.5f, 3, 1, -4}, a.sub(b).toFloatArray());
            assertArrayEquals(new float[] {0.5f, -2, 6, 32}, a.mul(b).toFloatArray());
            assertArrayEquals(new float[] {2, -2, 1.5f, 0.5f}, a.div(b).toFloatArray());
            assertArrayEquals(new float[] {1, 2, 2, 2}, a.clamp(0, 2).toFloatArray());
            assertEquals(10.0, a.sum().item(), 0);
            assertEquals(2.5, a.mean().item(), 0);
            assertArrayEquals(new long[] {2, 2}, a.shape());
            assertEquals(DType.FLOAT32, a.dtype());
            assertEquals(Device.CPU, a.device());
            try (Scalar two = Scalar.of(2); Scalar three = Scalar.of(3)) {
                assertArrayEquals(new float[] {3.5f, 1, 12, 32}, Tensor.linearCombination(a, two, b, three).toFloatArray());
                Tensor c = a.copy().mulInPlace(two).addInPlace(b, three);
                assertArrayEquals(new float[] {3.5f, 1, 12, 32}, c.toFloatArray());
                assertArrayEquals(new float[] {1, 2, 3, 4}, a.toFloatArray(), "copy() must not alias");
            }
        }
    }

    @Test
    void shapesIndexingAndConversions() {
        try (NativeScope scope = new NativeScope()) {
            Tensor a = Tensor.fromFloats(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            List<Tensor> halves = a.chunk(2, 0);
            assertEquals(2, halves.size());
            assertArrayEquals(new float[] {4, 5, 6}, halves.get(1).toFloatArray());
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6},
                    Tensor.cat(List.of(a, a), 0).toFloatArray());
            assertArrayEquals(new long[] {2, 2, 3}, Tensor.stack(List.of(a, a), 0).shape());
            Tensor idx = Tensor.fromLongs(new long[] {2, 0}, 2);
            assertArrayEquals(new float[] {3, 1, 6, 4}, a.indexSelect(1, idx).toFloatArray());
            assertArrayEquals(new long[] {3, 2}, a.reshape(3, 2).shape());
            assertArrayEquals(new double[] {1, 2, 3, 4, 5, 6}, a.to(DType.FLOAT64).toDoubleArray());
            assertArrayEquals(new long[] {1, 2, 3, 4, 5, 6}, a.to(DType.INT64).toLongArray());
            assertEquals(DType.FLOAT16, a.to(DType.FLOAT16).dtype());
            assertArrayEquals(new long[] {2, 2}, a.argmax(1).unsqueeze(0).expand(2, 2).shape());
            assertArrayEquals(new float[] {3, 6}, a.quantile(1.0, 1, false).toFloatArray());
            assertTrue(a.allFinite());
            assertFalse(a.div(0.0).allFinite());
        }
    }

    @Test
    void shapeErrorsAreOneLineMessagesNamingTheOperands() {
        try (NativeScope scope = new NativeScope()) {
            Tensor a = Tensor.zeros(DType.FLOAT32, Device.CPU, 2, 3);
            Tensor b = Tensor.zeros(DType.FLOAT32, Device.CPU, 4, 5);
            NativeOperationException e = assertThrows(NativeOperationException.class, () -> a.add(b));
            String first = e.getMessage().lines().findFirst().orElseThrow();
            assertEquals(e.getMessage(), first, "message must be one line");
            assertTrue(first.startsWith("add(float32[2, 3], float32[4, 5]) failed: "), first);
            assertTrue(first.contains("must match"), first);
            assertTrue(e.getCause().getMessage().contains("Exception raised from"), "native backtrace kept as cause");
            IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                    () -> Tensor.fromFloats(new float[3], 2, 2));
            assertTrue(bad.getMessage().contains("holds 4 values, but 3 were given"), bad.getMessage());
        }
    }

    @ParameterizedTest(name = "seed {0}, shape {1}")
    @CsvSource({"42, 1x3x8x8", "1234, 4x2", "7, 2x1x8x8", "0, 1000"})
    void seededNoiseMatchesPythonTorchRandn(long seed, String shapeName) throws Exception {
        long[] shape = java.util.Arrays.stream(shapeName.split("x")).mapToLong(Long::parseLong).toArray();
        String base = "randn_seed" + seed + "_" + shapeName;
        try (NativeScope scope = new NativeScope(); Generator g = Generator.cpu(seed)) {
            Tensor expected = TensorFiles.read(Fixtures.python(base + ".pt"));
            Tensor expected2 = TensorFiles.read(Fixtures.python(base + "_second.pt"));
            assertArrayEquals(expected.toFloatArray(), Tensor.randn(g, DType.FLOAT32, Device.CPU, shape).toFloatArray());
            assertArrayEquals(expected2.toFloatArray(), Tensor.randn(g, DType.FLOAT32, Device.CPU, shape).toFloatArray());
        }
    }

    @Test
    void generatorStateRoundTrips() {
        try (NativeScope scope = new NativeScope(); Generator g = Generator.cpu(5)) {
            Tensor state = g.state();
            float[] first = Tensor.randn(g, DType.FLOAT32, Device.CPU, 16).toFloatArray();
            g.setState(state);
            assertArrayEquals(first, Tensor.randn(g, DType.FLOAT32, Device.CPU, 16).toFloatArray());
        }
    }

    @Test
    void wrapAndUnwrapShareStorageButNotOwnership() {
        try (NativeScope scope = new NativeScope()) {
            Tensor a = Tensor.fromFloats(new float[] {1, 2}, 2);
            org.bytedeco.pytorch.Tensor raw = a.unwrap();
            Tensor b = Tensor.wrap(raw);
            b.close();
            assertFalse(a.isClosed());
            assertArrayEquals(new float[] {1, 2}, a.toFloatArray(), "closing a wrapper leaves the original intact");
            try (Scalar s = Scalar.of(10)) {
                Tensor c = Tensor.wrap(raw);
                c.mulInPlace(s);
                assertArrayEquals(new float[] {10, 20}, a.toFloatArray(), "storage is shared");
            }
        }
    }

    @Test
    void closedTensorsAndScalarsRefuseUse() {
        Tensor a = Tensor.zeros(DType.FLOAT32, Device.CPU, 1);
        a.close();
        a.close();
        assertThrows(IllegalStateException.class, a::toFloatArray);
        Scalar s = Scalar.of(1);
        s.close();
        try (Tensor b = Tensor.zeros(DType.FLOAT32, Device.CPU, 1)) {
            assertThrows(IllegalStateException.class, () -> b.mul(s));
        }
    }
}
