package io.diffusion4j.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs the digits few-step table on a few samples so it cannot rot; asserts shape and counts, not quality. */
class DigitsFewStepQualitySmokeTest {
    @TempDir
    Path tmp;

    @Test
    void rowsCarryFdAccuracyAndGuidedEvaluationCounts() throws Exception {
        Path out = tmp.resolve("digits.json");
        DigitsFewStepQuality.main(new String[] {out.toString(), "--samples=20", "--only=DDIM-2,DDIM learned-1",
            "--calibration=4", "--reference-steps=10", "--tune-runs=3"});
        JsonNode r = new ObjectMapper().readTree(out.toFile());
        JsonNode rows = r.get("rows");
        assertEquals(2, rows.size(), rows.toString());
        JsonNode ddim2 = rows.get(0);
        assertEquals("DDIM-2", ddim2.get("sampler").asText());
        assertEquals(4, ddim2.get("nfe").asInt(), "a guided step is two model evaluations");
        assertTrue(ddim2.get("digits_fd").asDouble() > 0, ddim2.toString());
        JsonNode learned = rows.get(1);
        assertEquals(1, learned.get("learned_timesteps").size(), learned.toString());
        assertTrue(learned.get("tune_runs").asInt() <= 3, learned.toString());
        assertTrue(r.get("real_vs_real_fd").get("all_1797_vs_all").asDouble() < 1e-6);
    }
}
