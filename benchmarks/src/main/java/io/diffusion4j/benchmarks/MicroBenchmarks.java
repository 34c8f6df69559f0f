package io.diffusion4j.benchmarks;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.image.Images;
import io.diffusion4j.image.ValueRange;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.scheduler.DdimScheduler;
import io.diffusion4j.scheduler.SamplerRun;
import io.diffusion4j.scheduler.SamplingPlan;
import java.awt.image.BufferedImage;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * JMH micro-benchmarks: one DDIM scheduler step (digits' config, with and without clipping) in its native scope,
 * and tensor↔image conversion of a batch of digits. Run: {@code java -cp ... org.openjdk.jmh.Main MicroBenchmarks}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class MicroBenchmarks {
    @Param({"true", "false"})
    public boolean clipSample;

    @Param({"1", "16"})
    public int batch;

    private SamplingPlan plan;
    private SamplerRun run;
    private Tensor sample;
    private Tensor modelOutput;
    private Tensor images;
    private List<BufferedImage> decoded;
    private InferenceGuard inference;
    private int step;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        Torch.setThreads(1);
        ModelFolder folder = ModelFolder.builtin("digits");
        plan = new DdimScheduler(folder.schedulerConfig().toBuilder().clipSample(clipSample)
                .className(DdimScheduler.CLASS_NAME).build()).plan(50);
        run = plan.start();
        inference = Torch.inferenceMode();
        try (Generator g = Generator.cpu(1)) {
            sample = Tensor.randn(g, DType.FLOAT32, Device.CPU, batch, 1, 8, 8);
            modelOutput = Tensor.randn(g, DType.FLOAT32, Device.CPU, batch, 1, 8, 8);
            images = sample.clamp(-1, 1);
        }
        decoded = Images.toImages(images, ValueRange.MINUS_ONE_TO_ONE);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        sample.close();
        modelOutput.close();
        images.close();
        plan.close();
        inference.close();
    }

    /** One scheduler step as the pipeline runs it: in its own scope, the result kept out of it. */
    @Benchmark
    public long schedulerStep() {
        try (NativeScope scope = new NativeScope()) {
            Tensor next = run.step(step++ % 50, modelOutput, sample, null);
            return next.numel();
        }
    }

    @Benchmark
    public int tensorToImages() {
        return Images.toImages(images, ValueRange.MINUS_ONE_TO_ONE).size();
    }

    @Benchmark
    public long imagesToTensor() {
        try (NativeScope scope = new NativeScope()) {
            return Images.toTensor(decoded, 1, ValueRange.MINUS_ONE_TO_ONE).numel();
        }
    }
}
