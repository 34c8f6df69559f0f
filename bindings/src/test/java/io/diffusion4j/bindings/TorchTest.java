package io.diffusion4j.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import org.junit.jupiter.api.Test;

class TorchTest {

    @Test
    void reportsVersionsAndPlatform() {
        assertTrue(Torch.libtorchVersion().startsWith("2.10."), Torch.libtorchVersion());
        assertEquals("1.5.13", Torch.javacppVersion());
        assertEquals("2.10.0-1.5.13", Torch.presetsVersion());
        assertEquals("linux-x86_64", Torch.platform());
    }

    @Test
    void smallForwardsDefaultToOneThread() {
        assertEquals(1, Torch.defaultThreads(2));          // toy2d, batch 1
        assertEquals(1, Torch.defaultThreads(2 * 256));    // toy2d, batch 256
        assertEquals(1, Torch.defaultThreads(64 * 8));     // digits, batch 8
        int cores = Runtime.getRuntime().availableProcessors();
        assertEquals(Math.min(2, cores), Torch.defaultThreads(64 * 16)); // digits, batch 16
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Torch.defaultThreads(0));
        assertTrue(e.getMessage().contains("got 0"), e.getMessage());
    }

    @Test
    void threadCountIsSettable() {
        int before = Torch.threads();
        try {
            Torch.setThreads(1);
            assertEquals(1, Torch.threads());
        } finally {
            Torch.setThreads(before);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Torch.setThreads(0));
        assertTrue(e.getMessage().contains("threads must be >= 1"), e.getMessage());
    }

    /**
     * OpenBLAS's pool stays at one thread, however many LibTorch uses: both at 2 on 2 cores made a batch-1 digits
     * run 250x slower (BENCHMARKS.md). Loading sets it unless OPENBLAS_NUM_THREADS is given.
     */
    @Test
    void openBlasKeepsOneThreadUnlessAskedOtherwise() {
        if (System.getenv("OPENBLAS_NUM_THREADS") == null) {
            assertEquals(1, Torch.blasThreads(), "after loading");
        }
        int before = Torch.threads();
        try {
            Torch.setBlasThreads(2);
            assertEquals(2, Torch.blasThreads());
            Torch.setThreads(2);
            assertEquals(1, Torch.blasThreads(), "setThreads keeps OpenBLAS at one thread");
        } finally {
            Torch.setThreads(before);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Torch.setBlasThreads(0));
        assertEquals("BLAS threads must be >= 1, got 0", e.getMessage());
    }

    @Test
    void parsesDevices() {
        assertEquals(Device.CPU, Device.parse("cpu"));
        assertEquals(Device.cuda(0), Device.parse("cuda"));
        assertEquals(Device.cuda(1), Device.parse(" CUDA:1 "));
        assertEquals("cuda:1", Device.cuda(1).toString());
        for (String bad : new String[] {"gpu", "cuda:", "cuda:-1", "cuda:x", "", "cpu:0"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Device.parse(bad));
            assertTrue(e.getMessage().startsWith("device must be 'cpu', 'cuda' or 'cuda:N'"), e.getMessage());
        }
    }

    @Test
    void anUnavailableCudaDeviceIsAClearError() {
        assumeFalse(Torch.cudaAvailable(), "this machine has CUDA");
        assertFalse(Torch.devices().stream().anyMatch(Device::isCuda));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Torch.device("cuda:1"));
        assertTrue(e.getMessage().startsWith("device cuda:1 is not available"), e.getMessage());
        assertTrue(e.getMessage().contains("use --device cpu"), e.getMessage());
        assertEquals(Device.CPU, Torch.device("cpu"));
    }

    @Test
    void dtypesParseFromPyTorchNames() {
        assertEquals(DType.FLOAT32, DType.parse("torch.float32"));
        assertEquals(DType.FLOAT16, DType.parse("half"));
        assertEquals(DType.BFLOAT16, DType.parse("bf16"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DType.parse("float8"));
        assertTrue(e.getMessage().contains("expected one of float32"), e.getMessage());
    }
}
