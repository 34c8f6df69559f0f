package io.diffusion4j.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Runs every part of the suite for a few iterations so that none can rot; asserts shape, not speed. */
class BenchmarkSuiteSmokeTest {

    @Test
    void trainingOverheadComparesBothPaths() throws Exception {
        Map<String, Object> r = TrainingOverhead.measure("toy2d", 8, 3, 1);
        assertTrue((double) r.get("api_step_ms") > 0 && (double) r.get("raw_presets_step_ms") > 0, r.toString());
        assertEquals((double) r.get("api_step_ms") / (double) r.get("raw_presets_step_ms"), (double) r.get("overhead_ratio"), 1e-9);
    }

    @Test
    void memorySamplersReportGrowth() throws Exception {
        Map<String, Object> sampling = BenchmarkSuite.memory(2_000);
        assertEquals(2_000, sampling.get("steps"));
        assertTrue(sampling.containsKey("javacpp_bytes_growth_after_warmup"));
        Map<String, Object> training = TrainingMemory.measure("toy2d", 8, 20);
        assertEquals(10, ((List<?>) training.get("samples_step_rss_javacppbytes_heapcommitted")).size());
    }

    @Test
    void concurrencyReportsEveryThreadCount() throws Exception {
        List<Map<String, Object>> rows = BenchmarkSuite.concurrency(true);
        assertEquals(3, rows.size());
        for (Map<String, Object> row : rows) {
            assertTrue((double) row.get("p99_ms") >= (double) row.get("p50_ms"), row.toString());
        }
    }
}
