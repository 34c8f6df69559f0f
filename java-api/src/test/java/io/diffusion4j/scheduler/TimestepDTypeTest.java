package io.diffusion4j.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.diffusion4j.bindings.DType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Each scheduler's timesteps travel to the model in the dtype diffusers gives them. */
class TimestepDTypeTest {

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({"ddpm, int64", "ddim, int64", "dpmsolver++, int64", "sde-dpmsolver++, int64", "euler, float32",
        "euler-a, float32", "heun, float32", "adaptive, float32"})
    void schedulersNameTheirNaturalTimestepDType(String name, String dtype) {
        Scheduler s = Schedulers.byName(name, SchedulerConfig.builder().build(), 0);
        assertEquals(DType.parse(dtype), s.timestepDType());
    }
}
