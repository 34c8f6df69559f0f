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
import java.util.LinkedHashMap;
import java.util.Map;

/** RSS and JavaCPP bytes every 1,000 training steps (EMA on, the state a long fine-tune carries). */
public final class TrainingMemory {
    private TrainingMemory() {
    }

    public static Map<String, Object> measure(String model, int batch, int steps) throws Exception {
        ModelFolder folder = ModelFolder.resolve(model);
        MemorySamples samples = new MemorySamples();
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
                        samples.take(s);
                    }
                }
            }
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model);
        m.put("batch", batch);
        m.put("steps", steps);
        samples.putGrowth(m, 1, "training memory over " + steps + " steps");
        return m;
    }
}
