package io.diffusion4j.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.Device;
import org.junit.jupiter.api.Test;

/** Runs the benchmark for a few iterations so that it cannot rot; asserts shape, not speed. */
class SamplingOverheadSmokeTest {

    @Test
    void measuresFloorAndFullRun() throws Exception {
        SamplingOverhead.Result r = SamplingOverhead.measure("toy2d", "ddim", 5, 2, 3, 1, Device.CPU);
        assertEquals(5, r.steps());
        assertTrue(r.forwardOnlyMs() > 0 && r.samplingMs() > 0, r.toString());
        assertTrue(r.forwardOnlyMinMs() <= r.forwardOnlyMs() && r.forwardOnlyMs() <= r.forwardOnlyMaxMs());
        assertEquals(r.samplingMs() / r.forwardOnlyMs(), r.overheadRatio(), 1e-9);
        assertTrue(r.toMap().keySet().containsAll(java.util.List.of("forward_only_ms", "sampling_ms", "overhead_ratio",
                "overhead_us_per_step")));
    }
}
