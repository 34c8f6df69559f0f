package io.diffusion4j.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Collection;
import org.junit.jupiter.api.Test;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/** Runs every JMH benchmark once, briefly and in-process, so that none can rot (timings here mean nothing). */
class MicroBenchmarksSmokeTest {

    @Test
    void everyBenchmarkRuns() throws Exception {
        Options opts = new OptionsBuilder().include(MicroBenchmarks.class.getSimpleName()).forks(0)
                .warmupIterations(0).measurementIterations(1).measurementTime(TimeValue.milliseconds(50))
                .param("batch", "1").shouldFailOnError(true).build();
        Collection<RunResult> results = new Runner(opts).run();
        assertEquals(6, results.size(), "3 benchmarks x 2 clip settings");
    }
}
