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
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.parameter_iterator;
import org.bytedeco.pytorch.parameter_list;
import org.bytedeco.pytorch.global.torch;

/**
 * Training-step overhead: one step through the public {@link Trainer} (uniform timesteps, noise, forward process,
 * MSE, backward, AdamW) against the same work written directly against the presets (the one place outside
 * {@code bindings} that imports org.bytedeco, by definition of the measurement: it reaches the natives through the
 * documented {@code unwrap()} escape hatches).
 */
public final class TrainingOverhead {
    private TrainingOverhead() {
    }

    /** Median step times (ms) of both, interleaved in blocks, and their ratio. */
    public static Map<String, Object> measure(String model, int batch, int steps, int warmup) throws IOException {
        ModelFolder folder = ModelFolder.resolve(model);
        long[] shape = folder.spec().batchShape(batch);
        boolean conditional = folder.spec().isConditional();
        double[] alphaBar = folder.schedulerConfig().noiseSchedule().alphasCumprod();
        double[] apiTimes = new double[steps];
        double[] rawTimes = new double[steps];
        try (TorchScriptModule apiModule = folder.loadModule(Device.CPU);
             TorchScriptModule rawModule = folder.loadModule(Device.CPU);
             NativeScope outer = new NativeScope();
             Generator dataGen = Generator.cpu(7)) {
            Tensor x0 = Tensor.randn(dataGen, DType.FLOAT32, Device.CPU, shape).clamp(-1, 1);
            Tensor labels = conditional ? Tensor.full(3, DType.INT64, Device.CPU, batch) : null;
            Trainer trainer = new Trainer(apiModule, folder.schedulerConfig(), folder.spec(),
                    TrainingConfig.builder().learningRate(1e-4).seed(1).build());
            RawStep raw = new RawStep(rawModule.unwrap(), alphaBar, shape, conditional);
            for (int i = -warmup; i < steps; i++) {
                long t0 = System.nanoTime();
                trainer.step(x0, labels);
                long t1 = System.nanoTime();
                raw.step(x0.unwrap(), labels == null ? null : labels.unwrap());
                long t2 = System.nanoTime();
                if (i >= 0) {
                    apiTimes[i] = (t1 - t0) / 1e6;
                    rawTimes[i] = (t2 - t1) / 1e6;
                }
            }
            trainer.close();
            raw.close();
        }
        double api = SamplingOverhead.median(apiTimes);
        double rawMs = SamplingOverhead.median(rawTimes);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model);
        m.put("batch", batch);
        m.put("steps", steps);
        m.put("api_step_ms", api);
        m.put("raw_presets_step_ms", rawMs);
        m.put("overhead_ratio", api / rawMs);
        System.out.printf("training %s batch %d: API %.3f ms/step, raw presets %.3f ms/step, ratio %.4f%n", model, batch,
                api, rawMs, api / rawMs);
        return m;
    }

    /** Forward + MSE + backward + AdamW step on the raw presets, with the same random draws' shapes. */
    static final class RawStep implements AutoCloseable {
        private final JitModule module;
        private final double[] alphaBar;
        private final long[] shape;
        private final boolean conditional;
        private final AdamW optimizer;
        private final org.bytedeco.pytorch.Generator generator = torch.make_generator_cpu(11);
        private final SplittableRandom rng = new SplittableRandom(3);

        RawStep(JitModule module, double[] alphaBar, long[] shape, boolean conditional) {
            this.module = module;
            this.alphaBar = alphaBar;
            this.shape = shape;
            this.conditional = conditional;
            module.train(true);
            TensorVector params = new TensorVector();
            parameter_list pl = module.parameters(true);
            for (parameter_iterator it = pl.begin(); it.notEquals(pl.end()); it = it.increment()) {
                it.access().set_requires_grad(true); // the built-in models are saved frozen
                params.push_back(it.access());
            }
            AdamWOptions options = new AdamWOptions(1e-4);
            this.optimizer = new AdamW(params, options);
        }

        void step(org.bytedeco.pytorch.Tensor x0, org.bytedeco.pytorch.Tensor labels) {
            try (PointerScope scope = new PointerScope()) {
                int b = (int) shape[0];
                long[] ts = new long[b];
                float[] ca = new float[b];
                float[] cb = new float[b];
                for (int i = 0; i < b; i++) {
                    ts[i] = rng.nextInt(alphaBar.length);
                    ca[i] = (float) Math.sqrt(alphaBar[(int) ts[i]]);
                    cb[i] = (float) Math.sqrt(1 - alphaBar[(int) ts[i]]);
                }
                long[] coefShape = new long[shape.length];
                java.util.Arrays.fill(coefShape, 1);
                coefShape[0] = b;
                TensorOptions f32 = new TensorOptions(torch.ScalarType.Float);
                org.bytedeco.pytorch.Tensor a = torch.from_blob(new FloatPointer(ca), coefShape, f32).clone();
                org.bytedeco.pytorch.Tensor c = torch.from_blob(new FloatPointer(cb), coefShape, f32).clone();
                org.bytedeco.pytorch.Tensor t = torch.from_blob(new LongPointer(ts), new long[] {b},
                        new TensorOptions(torch.ScalarType.Long)).clone();
                org.bytedeco.pytorch.Tensor noise = torch.randn(shape, new GeneratorOptional(generator), f32);
                org.bytedeco.pytorch.Tensor xt = x0.mul(a).add(noise.mul(c));
                IValueVector in = new IValueVector();
                in.push_back(new IValue(xt));
                in.push_back(new IValue(t));
                if (conditional) {
                    in.push_back(new IValue(labels));
                }
                org.bytedeco.pytorch.Tensor pred = module.forward(in).toTensor();
                org.bytedeco.pytorch.Tensor loss = torch.mse_loss(pred, noise);
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                loss.item_double();
            }
        }

        @Override
        public void close() {
            optimizer.close();
        }
    }
}
