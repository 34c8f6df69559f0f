package io.diffusion4j.tuning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.evaluation.EnergyDistance;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Learned step schedules on the built-in toy2d model, measured by toy2d's quality protocol (energy distance of 2000
 * samples, seeds 20000 + i, to data.pt[0:2000]); the calibration noises (seeds 1000000 + i) are other noises.
 * {@code -Dd4j.tune.solvers=ddim,dpmsolver++,euler -Dd4j.tune.steps=4,5,8} prints the BENCHMARKS.md rows.
 */
class ScheduleTunerTest {
    static final int SAMPLES = 2000;
    static final long SEED = 20000;
    static final long CALIBRATION_SEED = 1_000_000;

    @TempDir
    Path tmp;

    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void restore() {
        Torch.setThreads(2);
    }

    static double energyDistance(Denoiser d, Scheduler scheduler, int steps) throws IOException {
        try (NativeScope scope = new NativeScope();
             DiffusionPipeline p = new DiffusionPipeline(d, scheduler, new long[] {2})) {
            Tensor samples = p.generate(GenerationRequest.builder().steps(steps).seed(SEED).batchSize(SAMPLES).build());
            Tensor data = TensorFiles.readResource("io/diffusion4j/models/toy2d/data.pt").narrow(0, 0, SAMPLES);
            return EnergyDistance.of(samples.toDoubleArray(), data.toDoubleArray(), 2);
        }
    }

    @Test
    void learnedFiveStepScheduleBeatsTheDefaultSpacing() throws IOException {
        ModelFolder toy = ModelFolder.builtin("toy2d");
        SchedulerConfig sc = toy.schedulerConfig();
        String[] solvers = System.getProperty("d4j.tune.solvers", "ddim").split(",");
        int[] stepCounts = Arrays.stream(System.getProperty("d4j.tune.steps", "5").split(","))
                .mapToInt(Integer::parseInt).toArray();
        int budget = Integer.getInteger("d4j.tune.evaluations", 120);
        try (NativeScope scope = new NativeScope();
             Denoiser d = toy.loadDenoiser(Device.CPU, DType.FLOAT32)) {
            double ddpm1000 = Boolean.getBoolean("d4j.tune.ddpm") ? energyDistance(d,
                    Schedulers.byName("ddpm", sc, 0), 1000) : Double.NaN;
            for (String solver : solvers) {
                for (int steps : stepCounts) {
                    Scheduler plain = Schedulers.byName(solver, sc, 0);
                    ScheduleTuner.Config config = new ScheduleTuner.Config(steps, 256, CALIBRATION_SEED, 1000, budget,
                            null, 1);
                    ScheduleTuner.Result r = new ScheduleTuner(config).tune(d, plain, new long[] {2}, null);
                    assertArrayEquals(ScheduleTuner.defaultTimesteps(plain, steps), r.initial());
                    assertTrue(r.error() <= r.initialError(), r.toString());
                    assertTrue(r.evaluations() <= budget);
                    double before = energyDistance(d, plain, steps);
                    Scheduler learned = Schedulers.fromConfig(plain.config().withTimesteps(r.timesteps()), 0);
                    double after = energyDistance(d, learned, steps);
                    System.out.printf("learned schedule toy2d %s %d steps: %s (default %s): calibration error %.5f -> "
                                    + "%.5f, energy distance %.5f -> %.5f (%d runs, %.1f s)%s%n", solver, steps,
                            Arrays.toString(r.timesteps()), Arrays.toString(r.initial()), r.initialError(), r.error(),
                            before, after, r.evaluations(), r.seconds(),
                            Double.isNaN(ddpm1000) ? "" : String.format("; DDPM-1000 %.5f", ddpm1000));
                    if (solver.equals("ddim") && steps == 5) {
                        assertTrue(after < 0.8 * before, "learned " + after + " vs default spacing " + before);
                    }
                }
            }
        }
    }

    @Test
    void tunedFolderSamplesItsScheduleByDefault() throws IOException {
        ModelFolder toy = ModelFolder.builtin("toy2d");
        Scheduler euler = Schedulers.byName("euler", toy.schedulerConfig(), 0);
        ScheduleTuner.Config config = new ScheduleTuner.Config(3, 32, 7, 100, 6, null, 1);
        ScheduleTuner.Result r;
        try (NativeScope scope = new NativeScope();
             Denoiser d = toy.loadDenoiser(Device.CPU, DType.FLOAT32)) {
            r = new ScheduleTuner(config).tune(d, euler, new long[] {2}, null);
        }
        assertEquals(6, r.evaluations());
        Path out = tmp.resolve("tuned");
        TunedFolder.write(toy, out, euler.config(), "euler", config, r);
        ModelFolder tuned = ModelFolder.open(out);
        assertArrayEquals(r.timesteps(), tuned.schedulerConfig().timesteps());
        assertEquals("euler", Schedulers.nameOf(tuned.schedulerConfig()));
        assertEquals(toy.spec().sampleShape()[0], tuned.spec().sampleShape()[0]);
        assertTrue(Files.readString(out.resolve(TunedFolder.RECORD_FILE)).contains("\"calibration_size\" : 32"));
        try (var files = Files.list(tmp)) {
            assertEquals(1, files.count(), "no temporary folder left behind");
        }
    }

    @Test
    void solversThatDrawNoiseAreRefused() throws IOException {
        SchedulerConfig sc = ModelFolder.builtin("toy2d").schedulerConfig();
        for (String name : new String[] {"ddpm", "euler-a", "sde-dpmsolver++", "lcm"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ScheduleTuner.defaultTimesteps(Schedulers.byName(name, sc, 0), 4));
            assertTrue(e.getMessage().contains("draws noise"), e.getMessage());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new ScheduleTuner.Config(0, 8, 0, 100, 10, null, 1));
        assertTrue(e.getMessage().contains("steps must be >= 1, got 0"), e.getMessage());
    }

    @Test
    void searchMemoryStaysFlat() throws IOException {
        ModelFolder toy = ModelFolder.builtin("toy2d");
        Scheduler ddim = Schedulers.byName("ddim", toy.schedulerConfig(), 0);
        try (NativeScope scope = new NativeScope();
             Denoiser d = toy.loadDenoiser(Device.CPU, DType.FLOAT32)) {
            ScheduleTuner.Config config = new ScheduleTuner.Config(4, 16, 3, 50, 150, null, 1);
            new ScheduleTuner(config).tune(d, ddim, new long[] {2}, null); // warm-up: the same search once
            System.gc();
            long bytes = Pointer.totalBytes();
            long count = Pointer.totalCount();
            ScheduleTuner.Result r = new ScheduleTuner(config).tune(d, ddim, new long[] {2}, null);
            long grownBytes = Pointer.totalBytes() - bytes;
            long grownCount = Pointer.totalCount() - count;
            System.out.printf("schedule search, %d few-step runs: JavaCPP totalBytes growth %d B, live native objects "
                    + "growth %d%n", r.evaluations(), grownBytes, grownCount);
            assertTrue(r.evaluations() > 100, "the search ran " + r.evaluations() + " runs");
            // measured: 0 B and 0 objects (before plans were scoped in defaultTimesteps: 100 Scalars per search)
            assertTrue(grownBytes <= 16 * 1024, "native memory grew by " + grownBytes + " B");
            assertTrue(grownCount <= 10, "live native objects grew by " + grownCount);
        }
    }
}
