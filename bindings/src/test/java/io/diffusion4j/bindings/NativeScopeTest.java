package io.diffusion4j.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;

class NativeScopeTest {

    @Test
    void tensorsMadeInAScopeAreFreedWhenItCloses() {
        Tensor inside;
        try (NativeScope scope = new NativeScope()) {
            inside = Tensor.zeros(DType.FLOAT32, Device.CPU, 4, 4);
            assertFalse(inside.isClosed());
        }
        assertTrue(inside.isClosed());
        IllegalStateException e = assertThrows(IllegalStateException.class, inside::shape);
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }

    @Test
    void keptTensorsOutliveTheScopeAndMoveToTheEnclosingOne() {
        Tensor kept;
        try (NativeScope outer = new NativeScope()) {
            try (NativeScope inner = new NativeScope()) {
                Tensor a = Tensor.fromFloats(new float[] {1, 2, 3}, 3);
                kept = inner.keep(a.mul(2.0));
            }
            assertFalse(kept.isClosed());
            assertArrayEquals(new float[] {2, 4, 6}, kept.toFloatArray());
        }
        assertTrue(kept.isClosed(), "the outer scope owns the kept tensor and frees it");
    }

    @Test
    void aTensorKeptFromTheOutermostScopeBelongsToTheCaller() {
        Tensor kept;
        try (NativeScope scope = new NativeScope()) {
            kept = scope.keep(Tensor.full(3.0, DType.FLOAT32, Device.CPU, 2));
        }
        try (kept) {
            assertArrayEquals(new float[] {3, 3}, kept.toFloatArray());
        }
        assertTrue(kept.isClosed());
    }

    @Test
    void keepRejectsATensorOfAnotherScope() {
        try (NativeScope outer = new NativeScope()) {
            Tensor a = Tensor.zeros(DType.FLOAT32, Device.CPU, 1);
            try (NativeScope inner = new NativeScope()) {
                assertThrows(IllegalArgumentException.class, () -> inner.keep(a));
            }
        }
    }

    @Test
    void scopesMustCloseInReverseOrder() {
        NativeScope outer = new NativeScope();
        NativeScope inner = new NativeScope();
        assertThrows(IllegalStateException.class, outer::close);
        inner.close();
        outer.close();
    }

    /**
     * 10,000 iterations of a few ops, each in its own scope, with one tensor carried across iterations: native
     * memory (JavaCPP's physical and total byte counts) stays flat after warm-up.
     */
    @Test
    void tenThousandScopedIterationsKeepNativeMemoryFlat() {
        Torch.setThreads(1);
        Tensor x = Tensor.fromFloats(new float[64 * 64], 64, 64);
        Scalar half = Scalar.of(0.5);
        long warmTotal = 0;
        long warmPhysical = 0;
        long maxTotal = 0;
        long maxPhysical = 0;
        for (int i = 0; i < 10_000; i++) {
            try (NativeScope scope = new NativeScope()) {
                Tensor noise = Tensor.full(0.001 * (i % 7), DType.FLOAT32, Device.CPU, 64, 64);
                Tensor next = Tensor.linearCombination(x, half, noise.exp(), half).clamp(-10, 10);
                next = next.add(noise.sqrt(), 0.1);
                x.close();
                x = scope.keep(next);
            }
            if (i == 1_000) {
                System.gc();
                warmTotal = Pointer.totalBytes();
                warmPhysical = Pointer.physicalBytes();
            } else if (i > 1_000 && i % 500 == 0) {
                maxTotal = Math.max(maxTotal, Pointer.totalBytes());
                maxPhysical = Math.max(maxPhysical, Pointer.physicalBytes());
            }
        }
        x.close();
        half.close();
        long totalGrowth = maxTotal - warmTotal;
        long physicalGrowth = maxPhysical - warmPhysical;
        System.out.printf("native memory after warm-up: totalBytes growth %d B, physicalBytes growth %d B%n",
                totalGrowth, physicalGrowth);
        // JavaCPP's own count of native allocations it tracks: exactly flat when every object is scoped.
        assertTrue(totalGrowth <= 64 * 1024, "JavaCPP totalBytes grew by " + totalGrowth + " bytes");
        // The process's resident set: allow for allocator and JIT noise, far below the ~160 MB that 10k
        // iterations of unscoped 16 KiB tensors would hold.
        assertTrue(physicalGrowth < 32L * 1024 * 1024, "physicalBytes grew by " + physicalGrowth + " bytes");
    }

    @Test
    void scopesAreConfinedToTheirThread() throws Exception {
        NativeScope scope = new NativeScope();
        try {
            Throwable[] seen = new Throwable[1];
            Thread t = new Thread(() -> {
                try {
                    scope.close();
                } catch (Throwable e) {
                    seen[0] = e;
                }
            });
            t.start();
            t.join();
            assertEquals(IllegalStateException.class, seen[0].getClass());
        } finally {
            scope.close();
        }
    }
}
