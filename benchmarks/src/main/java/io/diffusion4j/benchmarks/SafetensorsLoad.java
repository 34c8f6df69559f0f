package io.diffusion4j.benchmarks;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Safetensors;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.Torch;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.Pointer;

/**
 * Load time and native memory of a 35.7M-parameter state dict (google/ddpm-cifar10-32's UNet2DModel shapes, 328
 * float32 tensors, 143 MB), made by {@code benchmarks/python/state_dict_load_baseline.py DIR}, which also times
 * Python's {@code torch.load} of the same state dict as a {@code .bin}. Run it first, then
 * <pre>
 *   java -cp ... io.diffusion4j.benchmarks.SafetensorsLoad DIR [runs] [warmup]
 * </pre>
 * Prints, for {@code Safetensors.read(DIR/unet_state.safetensors)} and {@code TensorFiles.readStateDict(DIR/
 * unet_state.bin)}: the median of {@code runs} loads after {@code warmup} (the files in the page cache, one intra-op
 * thread), and, for the first safetensors load of the process, the growth of resident memory
 * ({@link Pointer#physicalBytes()}) against the bytes of the weights.
 */
public final class SafetensorsLoad {
    private SafetensorsLoad() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 1) {
            System.err.println("usage: SafetensorsLoad DIR [runs] [warmup]   (DIR from state_dict_load_baseline.py)");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        int runs = args.length > 1 ? Integer.parseInt(args[1]) : 9;
        int warmup = args.length > 2 ? Integer.parseInt(args[2]) : 2;
        Path st = dir.resolve("unet_state.safetensors");
        Path bin = dir.resolve("unet_state.bin");
        if (!Files.isRegularFile(st) || !Files.isRegularFile(bin)) {
            System.err.println("missing " + st + " or " + bin + ": run benchmarks/python/state_dict_load_baseline.py "
                    + dir + " first");
            System.exit(2);
        }
        Torch.setThreads(1);
        warmPageCache(st); // as Python's baseline has it after its warm-up; not through the Java heap
        warmPageCache(bin);
        try (NativeScope scope = new NativeScope()) {
            Tensor.zeros(io.diffusion4j.bindings.DType.FLOAT32, io.diffusion4j.bindings.Device.CPU, 1);
        }

        // memory: the first load of this process, before any other allocation of that size
        long rssBefore = Pointer.physicalBytes();
        long weightBytes;
        long rssAfter;
        int tensors;
        try (NativeScope scope = new NativeScope()) {
            LinkedHashMap<String, Tensor> w = Safetensors.read(st);
            rssAfter = Pointer.physicalBytes();
            weightBytes = bytes(w);
            tensors = w.size();
        }
        long rssGrowth = rssAfter - rssBefore;
        System.out.printf("safetensors: %d tensors, %d parameter bytes; resident memory grew by %d bytes on the first "
                + "load (%.3f x the weights)%n", tensors, weightBytes, rssGrowth, rssGrowth / (double) weightBytes);

        double stMs = median(time(runs, warmup, () -> Safetensors.read(st)));
        double binMs = median(time(runs, warmup, () -> TensorFiles.readStateDict(bin)));
        System.out.printf("Safetensors.read:          median %.1f ms over %d runs%n", stMs, runs);
        System.out.printf("TensorFiles.readStateDict: median %.1f ms over %d runs (the .bin through LibTorch's "
                + "unpickler)%n", binMs, runs);
        System.out.println("compare with torch_load_ms of state_dict_load_baseline.py (same files, 1 thread)");
    }

    private static void warmPageCache(Path file) throws IOException {
        java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocateDirect(1 << 20);
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file)) {
            while (ch.read(buf) >= 0) {
                buf.clear();
            }
        }
    }

    private interface Load {
        Map<String, Tensor> run() throws IOException;
    }

    private static List<Double> time(int runs, int warmup, Load load) throws IOException {
        List<Double> ms = new ArrayList<>();
        for (int i = 0; i < warmup + runs; i++) {
            try (NativeScope scope = new NativeScope()) {
                long t0 = System.nanoTime();
                Map<String, Tensor> w = load.run();
                long t1 = System.nanoTime();
                if (w.size() != 328) {
                    throw new IllegalStateException("expected 328 tensors, got " + w.size());
                }
                if (i >= warmup) {
                    ms.add((t1 - t0) / 1e6);
                }
            }
        }
        return ms;
    }

    private static long bytes(Map<String, Tensor> w) {
        long b = 0;
        for (Tensor t : w.values()) {
            b += t.numel() * t.unwrap().element_size();
        }
        return b;
    }

    private static double median(List<Double> v) {
        List<Double> s = new ArrayList<>(v);
        Collections.sort(s);
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }
}
