package io.diffusion4j.benchmarks;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.training.Trainer;
import io.diffusion4j.training.TrainingConfig;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.Pointer;

/** RSS and JavaCPP bytes every 1,000 training steps (EMA on, the state a long fine-tune carries). */
public final class TrainingMemory {
    private TrainingMemory() {
    }

    public static Map<String, Object> measure(String model, int batch, int steps) throws Exception {
        ModelFolder folder = ModelFolder.resolve(model);
        List<long[]> samples = new ArrayList<>();
        int every = Math.max(1, steps / 10);
        try (TorchScriptModule module = folder.loadModule(Device.CPU);
             NativeScope outer = new NativeScope();
             Generator g = Generator.cpu(5)) {
            Tensor x0 = Tensor.randn(g, DType.FLOAT32, Device.CPU, folder.spec().batchShape(batch)).clamp(-1, 1);
            try (Trainer trainer = new Trainer(module, folder.schedulerConfig(), folder.spec(),
                    TrainingConfig.builder().learningRate(1e-4).emaDecay(0.999).seed(2).build())) {
                for (int s = 1; s <= steps; s++) {
                    trainer.step(x0, null);
                    if (s % every == 0) {
                        samples.add(new long[] {s, Pointer.physicalBytes(), Pointer.totalBytes(),
                                Runtime.getRuntime().totalMemory()});
                    }
                }
            }
        }
        long[] warm = samples.get(Math.min(1, samples.size() - 1));
        long[] last = samples.get(samples.size() - 1);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model);
        m.put("batch", batch);
        m.put("steps", steps);
        m.put("samples_step_rss_javacppbytes_heapcommitted", samples);
        m.put("rss_growth_after_warmup_bytes", last[1] - warm[1]);
        m.put("rss_outside_heap_growth_after_warmup_bytes", (last[1] - last[3]) - (warm[1] - warm[3]));
        m.put("javacpp_bytes_growth_after_warmup", last[2] - warm[2]);
        System.out.printf("training memory over %d steps: RSS growth %d KB (outside heap %d KB), JavaCPP bytes %d%n",
                steps, (last[1] - warm[1]) / 1024, ((last[1] - last[3]) - (warm[1] - warm[3])) / 1024,
                last[2] - warm[2]);
        return m;
    }
}
