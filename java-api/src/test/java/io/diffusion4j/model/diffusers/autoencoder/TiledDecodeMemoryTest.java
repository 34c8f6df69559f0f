package io.diffusion4j.model.diffusers.autoencoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Tiled decoding keeps native memory bounded: the peak resident memory of decoding a latent 4x the VAE's tile per side
 * (36 tiles) stays below twice the peak of an untiled decode of one tile. The untiled decode of the whole latent would
 * need the mid block's attention over 128 x 128 latent pixels, a 16384^2 float matrix (1 GB), 256 times one tile's.
 * Peaks are the kernel's VmHWM after resetting it (/proc/self/clear_refs), minus the resident size before the first
 * run; Linux only (skipped elsewhere).
 */
class TiledDecodeMemoryTest {
    private static final Path STATUS = Path.of("/proc/self/status");
    private static final Path CLEAR_REFS = Path.of("/proc/self/clear_refs");

    static long kb(String key) throws Exception {
        for (String line : Files.readAllLines(STATUS)) {
            if (line.startsWith(key + ":")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IllegalStateException(key + " not in " + STATUS);
    }


    @Test
    void tiledDecodeOfAFourTimesLargerLatentPeaksBelowTwiceOneUntiledTile() throws Exception {
        assumeTrue(Files.isWritable(CLEAR_REFS) && Files.isReadable(STATUS), "needs Linux /proc/self/clear_refs");
        // in a fresh JVM: this one's allocator holds whatever earlier tests freed, which hides any growth
        Process p = new ProcessBuilder(io.diffusion4j.training.LocalLauncher.javaCommand(
                TiledDecodeMemoryTest.class.getName(), List.of())).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        System.out.print(out);
        String[] last = out.strip().lines().reduce((x, y) -> y).orElseThrow().split(" ");
        long one = Long.parseLong(last[0]);
        long tiled = Long.parseLong(last[1]);
        assertTrue(one > 4_000_000, "one tile's decode should need its 4 MB attention matrix, measured " + one);
        assertTrue(tiled < 2 * one, "tiled peak " + tiled + " B is not below twice one tile's " + one + " B");
    }

    /** The measurement (run in its own JVM): prints "ONE TILED", the two peak growths in bytes, on its last line. */
    public static void main(String[] args) throws Exception {
        // sample_size 64: tiles of 32 latent pixels (one mid-block attention of 1024^2 floats, 4 MB, per tile)
        AutoencoderConfig c = new AutoencoderConfig(AutoencoderConfig.Kind.AUTOENCODER_KL, 3, 3,
                List.of("DownEncoderBlock2D", "DownEncoderBlock2D"), List.of("UpDecoderBlock2D", "UpDecoderBlock2D"),
                new int[] {8, 8}, 1, 4, 4, 64, 0.18215, 0, false, true, true, true, 0, 0, false);
        try (AutoencoderKL kl = new AutoencoderKL(c, Device.CPU);
             Generator g = Generator.cpu(3);
             InferenceGuard inference = Torch.inferenceMode();
             NativeScope outer = new NativeScope()) {
            Tensor tile = Tensor.randn(g, DType.FLOAT32, Device.CPU, 1, 4, 32, 32);
            Tensor large = Tensor.randn(g, DType.FLOAT32, Device.CPU, 1, 4, 128, 128);
            Tensor tiny = Tensor.randn(g, DType.FLOAT32, Device.CPU, 1, 4, 4, 4);
            try (NativeScope s = new NativeScope()) {
                kl.decode(tiny);   // loads and initialises what any first decode would, with next to no memory
            }
            // glibc keeps freed memory: resident size never drops below what a run left cached, so the second
            // run's peak, measured from the same base, is an upper bound of its own peak
            System.gc();
            Files.writeString(CLEAR_REFS, "5");
            long base = kb("VmRSS");
            try (NativeScope s = new NativeScope()) {
                kl.decode(tile);
            }
            long one = kb("VmHWM") - base;
            Files.writeString(CLEAR_REFS, "5");
            long t0 = System.nanoTime();
            long[] shape;
            try (NativeScope s = new NativeScope()) {
                shape = kl.decodeTiled(large).shape();
            }
            long tiled = kb("VmHWM") - base;
            if (!java.util.Arrays.equals(shape, new long[] {1, 3, 256, 256})) {
                throw new IllegalStateException("tiled decode shape " + java.util.Arrays.toString(shape));
            }
            System.out.printf("peak resident growth: untiled decode of one 32x32 latent tile %.1f MB, tiled decode "
                    + "of a 128x128 latent (36 tiles, %.1f s) %.1f MB, ratio %.2f%n", one / 1e6,
                    (System.nanoTime() - t0) / 1e9, tiled / 1e6, (double) tiled / one);
            System.out.println(one + " " + tiled);
        }
    }
}
