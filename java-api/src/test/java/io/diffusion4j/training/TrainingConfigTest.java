package io.diffusion4j.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.training.TrainingConfig.Builder;
import io.diffusion4j.training.TrainingConfig.LrSchedule;
import io.diffusion4j.training.TrainingConfig.OptimizerType;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class TrainingConfigTest {

    @Test
    void defaults() {
        TrainingConfig c = TrainingConfig.defaults();
        assertEquals(1e-4, c.learningRate());
        assertEquals(1e-2, c.weightDecay());
        assertEquals(0.9, c.beta1());
        assertEquals(0.999, c.beta2());
        assertEquals(1e-8, c.eps());
        assertEquals(OptimizerType.ADAMW, c.optimizer());
        assertEquals(0, c.gradientClipNorm());
        assertEquals(1, c.gradientAccumulation());
        assertEquals(0, c.minSnrGamma());
        assertEquals(0, c.emaDecay());
        assertFalse(c.emaEnabled());
        assertEquals(LrSchedule.CONSTANT, c.lrSchedule());
        assertEquals(3, c.keepCheckpoints());
    }

    @Test
    void jsonRoundTrip() {
        TrainingConfig c = TrainingConfig.builder().learningRate(3e-4).weightDecay(0).beta1(0.8).beta2(0.99).eps(1e-6)
                .momentum(0.5).optimizer(OptimizerType.SGD).gradientClipNorm(1).gradientAccumulation(4)
                .minSnrGamma(5).offsetNoise(0.1).inputPerturbation(0.05).labelDropout(0.1).emaDecay(0.999)
                .emaWarmup(false).lrWarmupSteps(10).cosine(500).seed(-42).keepCheckpoints(2).build();
        assertEquals(c, TrainingConfig.fromJson(c.toJson()));
        assertTrue(c.toJson().contains("\"optimizer\" : \"sgd\""), c.toJson());
        assertEquals(c, c.toBuilder().build());
        assertEquals(TrainingConfig.defaults(), TrainingConfig.fromJson("{}"), "missing keys take defaults");
        assertEquals(TrainingConfig.defaults(), TrainingConfig.fromJson("{\"future_key\": 1}"), "unknown keys ignored");
    }

    @Test
    void badJson() {
        assertEquals("training config: learning_rate must be a number, got \"fast\"", assertThrows(
                IllegalArgumentException.class, () -> TrainingConfig.fromJson("{\"learning_rate\": \"fast\"}"))
                .getMessage());
        assertEquals("training config: optimizer must be one of adamw, adam, sgd, got \"lion\"", assertThrows(
                IllegalArgumentException.class, () -> TrainingConfig.fromJson("{\"optimizer\": \"lion\"}")).getMessage());
        assertEquals("training config: gradient_accumulation must be an integer, got 1.5", assertThrows(
                IllegalArgumentException.class, () -> TrainingConfig.fromJson("{\"gradient_accumulation\": 1.5}"))
                .getMessage());
        assertEquals("training config: ema_warmup must be true or false, got 1", assertThrows(
                IllegalArgumentException.class, () -> TrainingConfig.fromJson("{\"ema_warmup\": 1}")).getMessage());
        assertEquals("training config: learning_rate must be > 0 and finite, got -1.0", assertThrows(
                IllegalArgumentException.class, () -> TrainingConfig.fromJson("{\"learning_rate\": -1}")).getMessage());
        assertEquals("training config must be a JSON object", assertThrows(
                IllegalArgumentException.class, () -> TrainingConfig.fromJson("[1]")).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TrainingConfig.fromJson("{"))
                .getMessage().startsWith("training config is not valid JSON"));
    }

    @Test
    void learningRateSchedules() {
        TrainingConfig constant = TrainingConfig.builder().learningRate(1e-3).lrWarmupSteps(4).build();
        assertEquals(0.25e-3, constant.learningRateAt(0), 1e-15);
        assertEquals(1e-3, constant.learningRateAt(3), 1e-15);
        assertEquals(1e-3, constant.learningRateAt(1000), 0);
        TrainingConfig cosine = TrainingConfig.builder().learningRate(1e-3).lrWarmupSteps(10).cosine(110).build();
        assertEquals(1e-4, cosine.learningRateAt(0), 1e-15);
        assertEquals(1e-3, cosine.learningRateAt(10), 1e-15);
        assertEquals(0.5e-3, cosine.learningRateAt(60), 1e-12);
        assertEquals(0, cosine.learningRateAt(110), 1e-15);
        assertEquals(0, cosine.learningRateAt(500), 1e-15);
        assertThrows(IllegalArgumentException.class, () -> cosine.learningRateAt(-1));
    }

    static Stream<Arguments> invalid() {
        return Stream.of(
                bad(b -> b.learningRate(0), "learning_rate must be > 0 and finite, got 0.0"),
                bad(b -> b.learningRate(Double.NaN), "learning_rate must be > 0 and finite, got NaN"),
                bad(b -> b.learningRate(Double.POSITIVE_INFINITY), "learning_rate must be > 0 and finite, got Infinity"),
                bad(b -> b.weightDecay(-0.1), "weight_decay must be >= 0 and finite, got -0.1"),
                bad(b -> b.beta1(1), "beta1 must be in [0, 1), got 1.0"),
                bad(b -> b.beta2(-0.5), "beta2 must be in [0, 1), got -0.5"),
                bad(b -> b.eps(0), "eps must be > 0 and finite, got 0.0"),
                bad(b -> b.momentum(1.5), "momentum must be in [0, 1), got 1.5"),
                bad(b -> b.optimizer(null), "optimizer must be one of ADAMW, ADAM, SGD, got null"),
                bad(b -> b.gradientClipNorm(-1), "gradient_clip_norm must be >= 0 and finite, got -1.0"),
                bad(b -> b.gradientAccumulation(0), "gradient_accumulation must be >= 1, got 0"),
                bad(b -> b.minSnrGamma(-5), "min_snr_gamma must be >= 0 and finite, got -5.0"),
                bad(b -> b.offsetNoise(-0.1), "offset_noise must be >= 0 and finite, got -0.1"),
                bad(b -> b.inputPerturbation(Double.NaN), "input_perturbation must be >= 0 and finite, got NaN"),
                bad(b -> b.labelDropout(1.1), "label_dropout must be a probability in [0, 1], got 1.1"),
                bad(b -> b.emaDecay(1), "ema_decay must be in [0, 1), got 1.0"),
                bad(b -> b.lrWarmupSteps(-1), "lr_warmup_steps must be >= 0, got -1"),
                bad(b -> b.lrSchedule(null), "lr_schedule must be CONSTANT or COSINE, got null"),
                bad(b -> b.totalSteps(-3), "total_steps must be >= 0 (0 = not given), got -3"),
                bad(b -> b.lrSchedule(LrSchedule.COSINE), "the cosine lr_schedule needs total_steps > lr_warmup_steps, "
                        + "got total_steps 0 and lr_warmup_steps 0"),
                bad(b -> b.cosine(100).lrWarmupSteps(100), "the cosine lr_schedule needs total_steps > lr_warmup_steps, "
                        + "got total_steps 100 and lr_warmup_steps 100"),
                bad(b -> b.keepCheckpoints(0), "keep_checkpoints must be >= 1, got 0"));
    }

    private static Arguments bad(UnaryOperator<Builder> change, String message) {
        return Arguments.of(change, message);
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("invalid")
    void everyInvalidValueIsRejectedWithItsName(UnaryOperator<Builder> change, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> change.apply(TrainingConfig.builder()).build());
        assertEquals(message, e.getMessage());
    }
}
