package io.diffusion4j.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.scheduler.AdaptiveScheduler;
import io.diffusion4j.scheduler.SamplingPlan;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import java.util.Map;
import java.util.stream.Stream;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The contract every scheduler keeps (diffusers' shared scheduler tests, in our terms), over every name in
 * {@link Schedulers#NAMES} plus option variants: its config round-trips through JSON to the same scheduler, a plan
 * is immutable (timesteps copied out), the same seed gives the same samples bit for bit, and native memory stays flat
 * over repeated runs of its multistep history.
 */
class SchedulerContractTest {
    private static ModelFolder toyFolder;
    private static Denoiser toy;

    @BeforeAll
    static void load() throws Exception {
        toyFolder = ModelFolder.builtin("toy2d");
        toy = toyFolder.loadDenoiser(Device.CPU, DType.FLOAT32);
    }

    @AfterAll
    static void free() {
        toy.close();
    }

    /** Every CLI name, and the option variants that change a solver's state (orders, correctors, warm-ups). */
    static Stream<Arguments> schedulers() {
        Stream<Arguments> names = Schedulers.NAMES.stream().map(n -> Arguments.of(n, Map.of()));
        Stream<Arguments> variants = Stream.of(
                Arguments.of("unipc", Map.of("solver_order", 3, "solver_type", "bh1")),
                Arguments.of("unipc", Map.of("predict_x0", false, "final_sigmas_type", "sigma_min")),
                Arguments.of("pndm", Map.of("skip_prk_steps", true)),
                Arguments.of("dpmsolver++", Map.of("thresholding", true, "use_lu_lambdas", true)),
                Arguments.of("dpmsolver-single", Map.of("solver_order", 3, "algorithm_type", "sde-dpmsolver++",
                        "solver_type", "heun")));
        return Stream.concat(names, variants);
    }

    private static Scheduler scheduler(String name, Map<String, Object> options) throws Exception {
        SchedulerConfig.Builder b = toyFolder.schedulerConfig().toBuilder();
        options.forEach((k, v) -> {
            if (k.equals("thresholding")) {
                b.thresholding((Boolean) v);
            } else {
                b.putExtra(k, v);
            }
        });
        return Schedulers.byName(name, b.build(), 0.5);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("schedulers")
    void configRoundTripsToTheSameScheduler(String name, Map<String, Object> options) throws Exception {
        Scheduler s = scheduler(name, options);
        SchedulerConfig back = SchedulerConfig.fromJson(s.config().toJson(), name);
        assertEquals(s.config(), back);
        Scheduler again = Schedulers.fromConfig(back, 0.5);
        assertEquals(s.getClass(), again.getClass());
        assertEquals(Schedulers.nameOf(back), again.name());
        if (!(s instanceof AdaptiveScheduler)) {
            try (SamplingPlan a = s.plan(12); SamplingPlan b = again.plan(12)) {
                assertArrayEquals(a.timesteps(), b.timesteps());
                a.timesteps()[0] = -1; // a copy: the plan is immutable
                assertTrue(a.timesteps()[0] >= 0);
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("schedulers")
    void theSameSeedGivesTheSameSamples(String name, Map<String, Object> options) throws Exception {
        Scheduler s = scheduler(name, options);
        try (NativeScope scope = new NativeScope();
             DiffusionPipeline p = new DiffusionPipeline(toy, s, toyFolder.spec().sampleShape())) {
            GenerationRequest r = GenerationRequest.builder().steps(12).seed(7).batchSize(3).build();
            float[] a = p.generate(r).toFloatArray();
            float[] b = p.generate(r).toFloatArray();
            assertArrayEquals(a, b);
            for (float v : a) {
                assertTrue(Float.isFinite(v), name);
            }
        }
    }

    /**
     * Runs of 300 steps (two warm-ups, then three measured; LCM: runs of 50, eighteen measured): JavaCPP's native byte count does not grow by more
     * than 64 kB and resident memory outside the Java heap by less than 16 MB; multistep histories are freed.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("schedulers")
    void nativeMemoryStaysFlat(String name, Map<String, Object> options) throws Exception {
        Scheduler s = scheduler(name, options);
        try (DiffusionPipeline p = new DiffusionPipeline(toy, s, toyFolder.spec().sampleShape())) {
            // LCM plans at most original_inference_steps (50): more runs of fewer steps, 900 steps in all as for the rest
            int steps = name.equals("lcm") ? 50 : 300;
            int runs = 900 / steps;
            GenerationRequest r = GenerationRequest.builder().steps(steps).seed(3).batchSize(4).build();
            for (int warm = 0; warm < 2; warm++) {
                try (NativeScope scope = new NativeScope()) {
                    p.generate(r);
                }
            }
            System.gc();
            long baseTotal = Pointer.totalBytes();
            long basePhysical = PipelineTest.nativeResident();
            long maxTotal = 0;
            long maxPhysical = 0;
            for (int run = 0; run < runs; run++) {
                try (NativeScope scope = new NativeScope()) {
                    p.generate(r);
                }
                maxTotal = Math.max(maxTotal, Pointer.totalBytes());
                maxPhysical = Math.max(maxPhysical, PipelineTest.nativeResident());
            }
            long totalGrowth = maxTotal - baseTotal;
            long physicalGrowth = maxPhysical - basePhysical;
            System.out.printf("%s %s: 900 steps, totalBytes growth %d B, resident growth %d B%n", name, options,
                    totalGrowth, physicalGrowth);
            assertTrue(totalGrowth <= 64 * 1024, name + ": JavaCPP-tracked native memory grew by " + totalGrowth + " B");
            assertTrue(physicalGrowth <= 16L * 1024 * 1024, name + ": resident memory grew by " + physicalGrowth + " B");
        }
    }
}
