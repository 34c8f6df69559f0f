package io.diffusion4j.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Runs only where LibTorch sees a CUDA device (the {@code -Dcuda} build on a GPU machine); skipped elsewhere. */
@Tag("gpu")
class CudaTest {

    @BeforeEach
    void requireCuda() {
        assumeTrue(Torch.cudaAvailable(), "no CUDA device: skipped");
    }

    @Test
    void tensorsMoveToTheGpuAndBack() {
        try (NativeScope scope = new NativeScope()) {
            Device gpu = Torch.device("cuda:0");
            Tensor a = Tensor.fromFloats(new float[] {1, 2, 3}, 3).to(gpu);
            assertEquals(gpu, a.device());
            assertArrayEquals(new float[] {2, 4, 6}, a.mul(2.0).toFloatArray());
        }
    }

    @Test
    void seededNoiseIsTheSameOnCpuAndGpu() {
        try (NativeScope scope = new NativeScope(); Generator g1 = Generator.cpu(3); Generator g2 = Generator.cpu(3)) {
            float[] cpu = Tensor.randn(g1, DType.FLOAT32, Device.CPU, 64).toFloatArray();
            float[] gpu = Tensor.randn(g2, DType.FLOAT32, Device.cuda(0), 64).toFloatArray();
            assertArrayEquals(cpu, gpu);
        }
    }
}
