package io.diffusion4j.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Runs the quality-per-step table on a few samples so it cannot rot; asserts shape and counts, not quality. */
class QualityPerStepSmokeTest {

    @Test
    void everyRowHasAccuracyDistanceAndEvaluationCounts() throws Exception {
        Map<String, Object> r = QualityPerStep.run(true);
        List<?> rows = (List<?>) r.get("rows");
        assertEquals(3, rows.size());
        for (Object o : rows) {
            Map<?, ?> row = (Map<?, ?>) o;
            double accuracy = (double) row.get("digits_guided_accuracy");
            assertTrue(accuracy >= 0 && accuracy <= 1, row.toString());
            assertTrue((double) row.get("toy2d_energy_distance") > 0, row.toString());
        }
        Map<?, ?> heun = (Map<?, ?>) rows.get(1);
        assertEquals(9, heun.get("toy2d_model_evaluations")); // 2N - 1
        assertEquals(9, heun.get("digits_label_only_model_evaluations"));
        Map<?, ?> adaptive = (Map<?, ?>) rows.get(2);
        assertTrue((int) adaptive.get("toy2d_model_evaluations") >= 3, adaptive.toString());
    }
}
