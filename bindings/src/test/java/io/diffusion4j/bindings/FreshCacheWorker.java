package io.diffusion4j.bindings;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;

/**
 * A JVM started on an empty JavaCPP cache by {@link FreshCacheTest}: loads the natives the documented way
 * ({@link Torch#load()}), then uses the raw presets (the escape hatch) and a Python-written TorchScript model, and
 * prints which {@code libtorch_cpu} files the process mapped and the model's largest error against PyTorch.
 */
public final class FreshCacheWorker {
    private FreshCacheWorker() {
    }

    public static void main(String[] args) throws Exception {
        Torch.load();
        org.bytedeco.pytorch.JitModule raw = new org.bytedeco.pytorch.JitModule(
                new org.bytedeco.pytorch.QualifiedName("Twice"));
        raw.define("def forward(self, x: Tensor) -> Tensor:\n    return x * 2\n");
        double maxError;
        try (NativeScope scope = new NativeScope();
             TorchScriptModule m = TorchScriptModule.load(Fixtures.python("conv.pt"), Device.CPU)) {
            float[] got = m.forward(TensorFiles.read(Fixtures.python("conv_input.pt")),
                    TensorFiles.read(Fixtures.python("conv_timesteps.pt"))).toFloatArray();
            float[] expected = TensorFiles.read(Fixtures.python("conv_output.pt")).toFloatArray();
            maxError = 0;
            for (int i = 0; i < got.length; i++) {
                maxError = Math.max(maxError, Math.abs(got[i] - expected[i]));
            }
        }
        System.out.println("LIBTORCH_CPU " + mappedLibtorchCpu());
        System.out.println("MAX_ERROR " + maxError);
    }

    /** The files named libtorch_cpu* this process has mapped (Linux), sorted. */
    static TreeSet<String> mappedLibtorchCpu() throws java.io.IOException {
        TreeSet<String> out = new TreeSet<>();
        Path maps = Path.of("/proc/self/maps");
        if (!Files.exists(maps)) {
            return out;
        }
        List<String> lines = Files.readAllLines(maps);
        for (String line : lines) {
            int slash = line.indexOf('/');
            if (slash >= 0 && line.substring(slash).contains("/libtorch_cpu")) {
                out.add(line.substring(slash).trim());
            }
        }
        return out;
    }
}
