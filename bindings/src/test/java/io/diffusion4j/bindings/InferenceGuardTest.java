package io.diffusion4j.bindings;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.InferenceMode;
import org.junit.jupiter.api.Test;

class InferenceGuardTest {

    @Test
    void closingAGuardInsideAScopeRestoresGradMode() {
        try (NativeScope scope = new NativeScope()) {
            assertTrue(GradMode.is_enabled());
            try (InferenceGuard g = Torch.noGrad()) {
                assertFalse(GradMode.is_enabled());
            }
            assertTrue(GradMode.is_enabled(), "no-grad must end when its guard closes, not with the scope");
            try (InferenceGuard g = Torch.inferenceMode()) {
                assertTrue(InferenceMode.is_enabled());
            }
            assertFalse(InferenceMode.is_enabled());
        }
    }
}
