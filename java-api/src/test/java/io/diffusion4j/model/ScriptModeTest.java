package io.diffusion4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptRuntime;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.Schedulers;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The inference default (a frozen TorchScript module) gives the images the plain module gives, to 1e-6. */
class ScriptModeTest {

    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @ParameterizedTest
    @ValueSource(strings = {"toy2d", "digits"})
    void frozenSamplesEqualThePlainModules(String model) throws Exception {
        ModelFolder folder = ModelFolder.builtin(model);
        float[] plain = sample(folder, ScriptMode.PLAIN);
        float[] frozen = sample(folder, ScriptMode.DEFAULT);
        assertEquals(plain.length, frozen.length);
        double worst = 0;
        for (int i = 0; i < plain.length; i++) {
            worst = Math.max(worst, Math.abs(plain[i] - frozen[i]));
        }
        assertEquals(0.0, worst, 1e-6, model + ": largest difference between frozen and plain samples");
    }

    @ParameterizedTest
    @ValueSource(strings = {"toy2d"})
    void theDefaultIsFrozenAndPlainKeepsTheLoadedModule(String model) throws Exception {
        ModelFolder folder = ModelFolder.builtin(model);
        try (NativeScope scope = new NativeScope();
             Denoiser frozen = folder.loadDenoiser(Device.CPU, DType.FLOAT32);
             Denoiser plain = folder.loadDenoiser(Device.CPU, DType.FLOAT32, ScriptMode.PLAIN);
             io.diffusion4j.bindings.TorchScriptModule loaded = folder.loadModule(Device.CPU)) {
            TorchScriptDenoiser f = assertInstanceOf(TorchScriptDenoiser.class, frozen);
            TorchScriptDenoiser p = assertInstanceOf(TorchScriptDenoiser.class, plain);
            assertEquals(ScriptMode.FROZEN, f.scriptMode());
            assertEquals(0, f.module().parameters().size());
            assertEquals(ScriptMode.PLAIN, p.scriptMode());
            assertEquals(loaded.parameters().size(), p.module().parameters().size());
        }
        assertThrows(IllegalArgumentException.class, () -> folder.loadDenoiser(Device.CPU, DType.FLOAT32, null));
    }

    @org.junit.jupiter.api.Test
    void predictLeavesATrainersPerThreadSwitchAsItFoundIt() throws Exception {
        ModelFolder folder = ModelFolder.builtin("toy2d");
        boolean before = TorchScriptRuntime.graphOptimization();
        try (NativeScope scope = new NativeScope();
             Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32)) {
            TorchScriptRuntime.setGraphOptimization(false); // as a Trainer leaves its thread
            boolean[] elsewhere = new boolean[1];
            Thread other = new Thread(() -> elsewhere[0] = TorchScriptRuntime.graphOptimization());
            other.start();
            other.join();
            assertTrue(elsewhere[0], "LibTorch's switch is per thread");
            Tensor x = Tensor.zeros(DType.FLOAT32, Device.CPU, 3, 2);
            Tensor t = Tensor.full(10, DType.INT64, Device.CPU, 3);
            float[] first = d.predict(x, t, null).toFloatArray();
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(first, d.predict(x, t, null).toFloatArray());
                assertFalse(TorchScriptRuntime.graphOptimization(), "predict restores the thread's setting");
            }
        } finally {
            TorchScriptRuntime.setGraphOptimization(before);
        }
    }

    /** A guided (digits) or plain (toy2d) DDIM-20 run of batch 4, enough steps for the optimized plans to kick in. */
    private static float[] sample(ModelFolder folder, ScriptMode mode) throws Exception {
        Scheduler s = Schedulers.byName("ddim", folder.schedulerConfig(), 0.0);
        try (NativeScope scope = new NativeScope();
             Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32, mode);
             DiffusionPipeline pipeline = new DiffusionPipeline(d, s, folder.spec().sampleShape())) {
            GenerationRequest.Builder b = GenerationRequest.builder().steps(20).seed(7).batchSize(4);
            if (d.isConditional()) {
                b.classLabels(3).guidanceScale(2.0);
            }
            Tensor x = pipeline.generate(b.build());
            return x.toFloatArray();
        }
    }
}
