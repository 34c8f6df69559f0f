package io.diffusion4j.forward;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.diffusion4j.Reference;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.scheduler.PredictionType;
import io.diffusion4j.scheduler.SchedulerConfig;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class ForwardProcessTest {

    static Stream<JsonNode> addNoiseCases() {
        return Reference.cases("add_noise").stream();
    }

    @ParameterizedTest
    @MethodSource("addNoiseCases")
    void addNoiseAndVelocityMatchPyTorchWithMixedTimesteps(JsonNode c) throws Exception {
        SchedulerConfig config = SchedulerConfig.fromJson(c.get("scheduler_config").toString(), "case");
        ForwardProcess fp = new ForwardProcess(config.noiseSchedule());
        try (NativeScope scope = new NativeScope()) {
            Tensor x0 = Reference.tensor(c, "x0");
            Tensor noise = Reference.tensor(c, "noise");
            long[] t = Reference.tensor(c, "timesteps").toLongArray();
            Tensor noisy = fp.addNoise(x0, noise, t);
            Tensor v = fp.velocity(x0, noise, t);
            assertClose(Reference.tensor(c, "noisy").toFloatArray(), noisy.toFloatArray(), 1e-6);
            assertClose(Reference.tensor(c, "velocity").toFloatArray(), v.toFloatArray(), 1e-6);
            // conversions recover x0 and the noise from any prediction type (away from t = 999, where recovering x0
            // divides by sqrt(alphaBar) ~ 1e-4 and float32 rounding dominates)
            Tensor keep = Tensor.fromLongs(new long[] {0, 1, 2, 3, 5}, 5);
            x0 = x0.indexSelect(0, keep);
            noise = noise.indexSelect(0, keep);
            t = new long[] {t[0], t[1], t[2], t[3], t[5]};
            noisy = fp.addNoise(x0, noise, t);
            v = fp.velocity(x0, noise, t);
            for (PredictionType type : PredictionType.values()) {
                Tensor out = fp.target(type, x0, noise, t);
                assertClose(x0.toFloatArray(), fp.predictedOriginal(type, out, noisy, t).toFloatArray(), 2e-3);
                assertClose(noise.toFloatArray(), fp.predictedEpsilon(type, out, noisy, t).toFloatArray(), 2e-3);
                assertClose(v.toFloatArray(), fp.convert(out, type, PredictionType.V_PREDICTION, noisy, t).toFloatArray(), 2e-3);
            }
            Tensor x0f = x0;
            Tensor noisef = noise;
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> fp.addNoise(x0f, noisef, new long[] {0, 1, 2, 3, 1000}));
            assertTrue(e.getMessage().equals("timestep 1000 is outside 0..999"), e.getMessage());
        }
    }

    static void assertClose(float[] expected, float[] actual, double tol) {
        assertArrayEquals(expected, actual, (float) tol);
    }
}
