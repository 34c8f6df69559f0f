package io.diffusion4j.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.diffusion4j.schedule.BetaSchedule;
import io.diffusion4j.schedule.NoiseSchedule;
import io.diffusion4j.scheduler.PredictionType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Min-SNR-gamma weights (Hang et al. 2023) against values worked out by hand. */
class MinSnrWeightingTest {

    @ParameterizedTest(name = "snr {0}, gamma {1}")
    @CsvSource({
        // snr, gamma, epsilon = min(snr, g) / snr, v = min(snr, g) / (snr + 1), sample = min(snr, g)
        "100,   5, 0.05,  0.04950495049504951, 5",
        "5,     5, 1.0,   0.8333333333333334,  5",
        "4,     5, 1.0,   0.8,                 4",
        "0.25,  5, 1.0,   0.2,                 0.25",
        "20,    1, 0.05,  0.047619047619047616, 1",
        "0,     5, 1.0,   0.0,                 0",
    })
    void weights(double snr, double gamma, double eps, double v, double sample) {
        assertEquals(eps, MinSnrWeighting.weight(PredictionType.EPSILON, snr, gamma), 1e-15);
        assertEquals(v, MinSnrWeighting.weight(PredictionType.V_PREDICTION, snr, gamma), 1e-15);
        assertEquals(sample, MinSnrWeighting.weight(PredictionType.SAMPLE, snr, gamma), 1e-15);
    }

    @Test
    void batchWeightsUseTheScheduleSnr() {
        NoiseSchedule s = NoiseSchedule.of(BetaSchedule.LINEAR, 1000, 1e-4, 0.02);
        long[] t = {0, 999};
        float[] w = MinSnrWeighting.weights(s, PredictionType.EPSILON, t, 5);
        double snr0 = s.alphaBar(0) / (1 - s.alphaBar(0));   // about 9999: clipped, weight 5 / snr
        assertArrayEquals(new float[] {(float) (5 / snr0), 1f}, w, 1e-9f);
    }

    @Test
    void badArguments() {
        assertEquals("snr must be >= 0, got -1.0", assertThrows(IllegalArgumentException.class,
                () -> MinSnrWeighting.weight(PredictionType.EPSILON, -1, 5)).getMessage());
        assertEquals("min-SNR gamma must be > 0, got 0.0", assertThrows(IllegalArgumentException.class,
                () -> MinSnrWeighting.weight(PredictionType.EPSILON, 1, 0)).getMessage());
    }
}
