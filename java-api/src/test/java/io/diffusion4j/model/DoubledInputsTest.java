package io.diffusion4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import org.junit.jupiter.api.Test;

/** Guidance's doubled inputs: made once per input tensor, outliving the step that asked first, freed on close. */
class DoubledInputsTest {

    @Test
    void makesEachInputOnceAndKeepsItPastTheStepScope() {
        try (NativeScope run = new NativeScope(); DoubledInputs inputs = new DoubledInputs()) {
            Tensor t = Tensor.fromLongs(new long[] {7, 9}, 2);
            Tensor first;
            try (NativeScope step = new NativeScope()) {
                first = inputs.doubled(t);
            }
            try (NativeScope step = new NativeScope()) {
                assertSame(first, inputs.doubled(t), "the second step reuses the first one's tensor");
                assertArrayEquals(new long[] {7, 9, 7, 9}, first.toLongArray());
            }
            assertEquals(1, inputs.size());
            inputs.close();
            assertThrows(IllegalStateException.class, () -> inputs.doubled(t));
        }
    }

    @Test
    void pastItsCapacityItMakesThemPerCallInTheCallersScope() {
        try (NativeScope run = new NativeScope(); DoubledInputs inputs = new DoubledInputs()) {
            for (int i = 0; i < DoubledInputs.CAPACITY + 5; i++) {
                try (NativeScope step = new NativeScope()) {
                    assertEquals(2, inputs.doubled(Tensor.zeros(DType.INT64, Device.CPU, 1)).size(0));
                }
            }
            assertEquals(DoubledInputs.CAPACITY, inputs.size());
        }
    }
}
