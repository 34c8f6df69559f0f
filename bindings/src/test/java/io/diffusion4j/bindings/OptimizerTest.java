package io.diffusion4j.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.QualifiedName;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Autograd on our tensor handle, the LibTorch optimizers, gradient clipping and shadow weights, on a tiny
 * TorchScript module compiled from source ({@code y = x @ w + b}).
 */
class OptimizerTest {
    private static final float[] X = {1, 2, -1, 0.5f, 0, 1, 2, -2, 1, 1, 1, 1};   // [4, 3]
    private static final float[] Y = {1, -1, 0.5f, 2, 0, 1, -1, 0};                // [4, 2]

    @TempDir
    static Path dir;
    private static Path moduleFile;

    @BeforeAll
    static void makeModule() throws Exception {
        Torch.load();
        JitModule raw = new JitModule(new QualifiedName("Linear"));
        try (NativeScope scope = new NativeScope()) {
            Tensor w = Tensor.fromFloats(new float[] {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f}, 3, 2);
            Tensor b = Tensor.fromFloats(new float[] {0.05f, -0.05f}, 2);
            raw.register_parameter("w", w.unwrap(), false);
            raw.register_parameter("b", b.unwrap(), false);
        }
        raw.define("def forward(self, x: Tensor) -> Tensor:\n    return x @ self.w + self.b\n");
        moduleFile = dir.resolve("linear.pt");
        raw.save(moduleFile.toString());
    }

    private static TorchScriptModule load() throws Exception {
        TorchScriptModule m = TorchScriptModule.load(moduleFile, Device.CPU);
        m.train(true);
        try (NativeScope scope = new NativeScope()) {
            for (Tensor p : m.parameters()) {
                p.requiresGrad(true);
            }
        }
        return m;
    }

    /** One forward + backward of the MSE loss; returns the loss. */
    private static double lossAndBackward(TorchScriptModule m) {
        try (NativeScope scope = new NativeScope()) {
            Tensor loss = Tensor.mseLoss(m.forward(Tensor.fromFloats(X, 4, 3)), Tensor.fromFloats(Y, 4, 2));
            loss.backward();
            return loss.item();
        }
    }

    private static float[] weights(TorchScriptModule m) {
        try (NativeScope scope = new NativeScope()) {
            List<Tensor> ps = m.parameters();
            List<Tensor> flat = new ArrayList<>();
            for (Tensor p : ps) {
                flat.add(p.detach().reshape(-1));
            }
            return Tensor.cat(flat, 0).toFloatArray();
        }
    }

    @Test
    void autogradGivesTheAnalyticGradient() {
        try (NativeScope scope = new NativeScope()) {
            Tensor w = Tensor.fromFloats(new float[] {1, 2, 3}, 3).requiresGrad(true);
            assertTrue(w.requiresGrad());
            assertNull(w.grad(), "no gradient before backward");
            Tensor x = Tensor.fromFloats(new float[] {2, -1, 0.5f}, 3);
            // loss = sum((w * x)^2) -> d/dw = 2 w x^2
            Tensor loss = w.mul(x).square().sum();
            loss.backward();
            assertArrayEquals(new float[] {8, 4, 1.5f}, w.grad().toFloatArray(), 1e-6f);
            assertFalse(x.requiresGrad());
            assertThrows(IllegalStateException.class, () -> w.mul(x).backward(), "backward needs a scalar");
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> x.sum().backward());
            assertTrue(e.getMessage().contains("does not require grad"), e.getMessage());
        }
    }

    @Test
    void mseLossesMatchHandComputedValues() {
        try (NativeScope scope = new NativeScope()) {
            Tensor p = Tensor.fromFloats(new float[] {1, 2, 3, 4}, 2, 2);
            Tensor t = Tensor.fromFloats(new float[] {0, 2, 5, 4}, 2, 2);
            assertEquals((1 + 0 + 4 + 0) / 4.0, Tensor.mseLoss(p, t).item(), 1e-7);
            assertArrayEquals(new float[] {0.5f, 2f}, p.mseLossPerSample(t).toFloatArray(), 1e-7f);
            Tensor p3 = p.reshape(2, 1, 2);
            assertArrayEquals(new float[] {0.5f, 2f}, p3.mseLossPerSample(t.reshape(2, 1, 2)).toFloatArray(), 1e-7f);
            assertArrayEquals(new float[] {1, 0, 4, 0},
                    p.reshape(4).mseLossPerSample(t.reshape(4)).toFloatArray(), 0f, "1-d: per element");
            NativeOperationException e = assertThrows(NativeOperationException.class,
                    () -> p.mseLossPerSample(Tensor.zeros(DType.FLOAT32, Device.CPU, 3, 3)));
            assertTrue(e.getMessage().contains("float32[2, 2], float32[3, 3]"), e.getMessage());
        }
    }

    @Test
    void adamStepsDecreaseTheLoss() throws Exception {
        for (Optimizer.Kind kind : Optimizer.Kind.values()) {
            try (TorchScriptModule m = load(); NativeScope scope = new NativeScope()) {
                List<Tensor> params = m.parameters();
                try (Optimizer opt = switch (kind) {
                    case ADAMW -> Optimizer.adamW(params, 0.05, 0.9, 0.999, 1e-8, 0.01);
                    case ADAM -> Optimizer.adam(params, 0.05, 0.9, 0.999, 1e-8, 0);
                    case SGD -> Optimizer.sgd(params, 0.05, 0.9, 0);
                }) {
                    assertEquals(kind, opt.kind());
                    assertEquals(2, opt.parameterCount());
                    double first = Double.NaN;
                    double last = Double.NaN;
                    for (int i = 0; i < 30; i++) {
                        opt.zeroGrad();
                        last = lossAndBackward(m);
                        if (i == 0) {
                            first = last;
                        }
                        opt.step();
                    }
                    assertTrue(last < 0.7 * first, kind + ": loss " + first + " -> " + last);
                }
            }
        }
    }

    @Test
    void zeroGradClearsGradients() throws Exception {
        try (TorchScriptModule m = load(); NativeScope scope = new NativeScope();
             Optimizer opt = Optimizer.adamW(m.parameters(), 1e-3, 0.9, 0.999, 1e-8, 0)) {
            lossAndBackward(m);
            assertNotNull(m.parameters().get(0).grad());
            opt.zeroGrad();
            assertNull(m.parameters().get(0).grad());
        }
    }

    @Test
    void learningRateCanBeReadAndChanged() throws Exception {
        try (TorchScriptModule m = load(); NativeScope scope = new NativeScope();
             Optimizer opt = Optimizer.adamW(m.parameters(), 1e-3, 0.9, 0.999, 1e-8, 0)) {
            assertEquals(1e-3, opt.learningRate(), 0);
            opt.setLearningRate(2.5e-4);
            assertEquals(2.5e-4, opt.learningRate(), 0);
            opt.setLearningRate(0);
            float[] before = weights(m);
            lossAndBackward(m);
            opt.step();
            assertArrayEquals(before, weights(m), 1e-6f, "lr 0 (weight decay 0) leaves the weights alone");
            assertThrows(IllegalArgumentException.class, () -> opt.setLearningRate(-1));
        }
    }

    @Test
    void savedStateGivesIdenticalNextSteps() throws Exception {
        for (Optimizer.Kind kind : Optimizer.Kind.values()) {
            float[] afterThree;
            byte[] state;
            float[] straight;
            try (TorchScriptModule m = load(); NativeScope scope = new NativeScope();
                 Optimizer opt = make(kind, m.parameters())) {
                for (int i = 0; i < 3; i++) {
                    opt.zeroGrad();
                    lossAndBackward(m);
                    opt.step();
                }
                afterThree = weights(m);
                state = opt.saveState();
                for (int i = 0; i < 2; i++) {
                    opt.zeroGrad();
                    lossAndBackward(m);
                    opt.step();
                }
                straight = weights(m);
            }
            assertTrue(state.length > 0);
            assertArrayEquals(straight, continueFrom(kind, afterThree, state), 0f, kind + ": resumed steps");
            float[] fresh = continueFrom(kind, afterThree, null);
            assertFalse(Arrays.equals(straight, fresh), kind + ": a fresh optimizer must step differently");
        }
    }

    private static Optimizer make(Optimizer.Kind kind, List<Tensor> params) {
        return switch (kind) {
            case ADAMW -> Optimizer.adamW(params, 0.01, 0.9, 0.99, 1e-8, 0.01);
            case ADAM -> Optimizer.adam(params, 0.01, 0.8, 0.999, 1e-7, 0.001);
            case SGD -> Optimizer.sgd(params, 0.01, 0.9, 0.001);
        };
    }

    /** Loads the module, sets its weights to {@code weights}, restores {@code state} (if any) and takes 2 steps. */
    private static float[] continueFrom(Optimizer.Kind kind, float[] weights, byte[] state) throws Exception {
        try (TorchScriptModule m = load(); NativeScope scope = new NativeScope()) {
            List<Tensor> params = m.parameters();
            // the guard gets its own scope: a NoGradGuard made inside a NativeScope lives until that scope closes
            try (NativeScope inner = new NativeScope(); InferenceGuard g = Torch.noGrad()) {
                params.get(0).copyFrom(Tensor.fromFloats(Arrays.copyOfRange(weights, 0, 6), 3, 2));
                params.get(1).copyFrom(Tensor.fromFloats(Arrays.copyOfRange(weights, 6, 8), 2));
            }
            try (Optimizer opt = make(kind, params)) {
                if (state != null) {
                    opt.loadState(state);
                }
                for (int i = 0; i < 2; i++) {
                    opt.zeroGrad();
                    lossAndBackward(m);
                    opt.step();
                }
            }
            return weights(m);
        }
    }

    @Test
    void clipGlobalNormReturnsTheNormAndScalesGradients() {
        try (NativeScope scope = new NativeScope()) {
            Tensor a = Tensor.zeros(DType.FLOAT32, Device.CPU, 2).requiresGrad(true);
            Tensor b = Tensor.zeros(DType.FLOAT32, Device.CPU, 1).requiresGrad(true);
            Tensor unused = Tensor.zeros(DType.FLOAT32, Device.CPU, 3).requiresGrad(true);
            // loss = 3 a0 + 4 a1 + 12 b -> gradients (3, 4) and (12): global norm 13
            a.mul(Tensor.fromFloats(new float[] {3, 4}, 2)).sum().add(b.mul(12.0).sum()).backward();
            double norm = Gradients.clipGlobalNorm(List.of(a, b, unused), 6.5);
            assertEquals(13.0, norm, 1e-5);
            double scale = 6.5 / (13.0 + 1e-6);
            assertArrayEquals(new float[] {(float) (3 * scale), (float) (4 * scale)}, a.grad().toFloatArray(), 1e-5f);
            assertArrayEquals(new float[] {(float) (12 * scale)}, b.grad().toFloatArray(), 1e-5f);
            assertNull(unused.grad());
            assertEquals(6.5, Gradients.clipGlobalNorm(List.of(a, b), 100), 1e-4, "below the limit: unchanged");
            assertArrayEquals(new float[] {(float) (12 * scale)}, b.grad().toFloatArray(), 1e-5f);
            assertEquals(0.0, Gradients.clipGlobalNorm(List.of(unused), 1), 0, "no gradients: norm 0");
        }
    }

    @Test
    void badArgumentsGiveClearMessages() throws Exception {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Optimizer.adamW(List.of(), 1e-3, 0.9, 0.999, 1e-8, 0));
        assertEquals("an optimizer needs at least one parameter tensor, got none", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Gradients.clipGlobalNorm(List.of(), 1));
        assertEquals("clipGlobalNorm needs at least one parameter tensor, got none", e.getMessage());
        try (TorchScriptModule m = load(); NativeScope scope = new NativeScope()) {
            List<Tensor> ps = m.parameters();
            e = assertThrows(IllegalArgumentException.class, () -> Optimizer.adamW(ps, 0, 0.9, 0.999, 1e-8, 0));
            assertEquals("learning rate must be > 0 and finite, got 0.0", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Optimizer.sgd(ps, -1e-3, 0, 0));
            assertEquals("learning rate must be > 0 and finite, got -0.001", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Optimizer.adam(ps, Double.NaN, 0.9, 0.999, 1e-8, 0));
            assertEquals("learning rate must be > 0 and finite, got NaN", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Optimizer.adam(ps, 1e-3, 1.0, 0.999, 1e-8, 0));
            assertEquals("beta1 must be in [0, 1), got 1.0", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Optimizer.adam(ps, 1e-3, 0.9, -0.1, 1e-8, 0));
            assertEquals("beta2 must be in [0, 1), got -0.1", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Optimizer.adam(ps, 1e-3, 0.9, 0.999, 0, 0));
            assertEquals("eps must be > 0, got 0.0", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Optimizer.adamW(ps, 1e-3, 0.9, 0.999, 1e-8, -1));
            assertEquals("weight decay must be >= 0 and finite, got -1.0", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Optimizer.sgd(ps, 1e-3, 1.0, 0));
            assertEquals("momentum must be in [0, 1), got 1.0", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Optimizer.sgd(
                    List.of(Tensor.fromLongs(new long[] {1}, 1)), 1e-3, 0, 0));
            assertTrue(e.getMessage().startsWith("parameter 0 (int64[1]) is not floating point"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Gradients.clipGlobalNorm(ps, 0));
            assertEquals("max gradient norm must be > 0 and finite, got 0.0", e.getMessage());
            Optimizer opt = Optimizer.adamW(ps, 1e-3, 0.9, 0.999, 1e-8, 0);
            e = assertThrows(IllegalArgumentException.class, () -> opt.loadState(new byte[] {1, 2, 3}));
            assertTrue(e.getMessage().startsWith("not a ADAMW optimizer state for these 2 parameters: "), e.getMessage());
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> opt.loadState(new byte[0]));
            assertEquals("optimizer state is empty", e.getMessage());
            opt.close();
            opt.close();
            IllegalStateException closed = assertThrows(IllegalStateException.class, opt::step);
            assertEquals("ADAMW optimizer is closed", closed.getMessage());
        }
    }

    @Test
    void shadowWeightsAreCopiesThatAverageSwapAndCopyBack() throws Exception {
        try (TorchScriptModule m = load(); NativeScope scope = new NativeScope()) {
            List<Tensor> ps = m.parameters();
            float[] initial = weights(m);
            try (ShadowWeights shadow = ShadowWeights.copyOf(ps)) {
                assertEquals(2, shadow.size());
                try (NativeScope inner = new NativeScope(); InferenceGuard g = Torch.noGrad()) {
                    ps.get(1).copyFrom(Tensor.fromFloats(new float[] {1.05f, 0.95f}, 2));
                }
                List<Tensor> sh = shadow.tensors();
                assertArrayEquals(new float[] {0.05f, -0.05f}, sh.get(1).toFloatArray(), "a copy, not a view");
                assertFalse(sh.get(1).requiresGrad());
                shadow.lerpTowards(ps, 0.25);   // 0.05 + 0.25 * (1.05 - 0.05) = 0.3
                assertArrayEquals(new float[] {0.3f, 0.2f}, sh.get(1).toFloatArray(), 1e-6f);
                shadow.swapWith(ps);
                assertArrayEquals(new float[] {0.3f, 0.2f}, ps.get(1).toFloatArray(), 1e-6f);
                assertArrayEquals(new float[] {1.05f, 0.95f}, sh.get(1).toFloatArray(), 1e-6f);
                shadow.swapWith(ps);
                shadow.copyTo(ps);
                assertArrayEquals(new float[] {0.3f, 0.2f}, ps.get(1).toFloatArray(), 1e-6f);
                assertArrayEquals(Arrays.copyOfRange(initial, 0, 6), Arrays.copyOfRange(weights(m), 0, 6), 1e-6f);
                assertTrue(ps.get(1).requiresGrad(), "copying under no-grad keeps the parameter trainable");
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> shadow.copyTo(List.of(ps.get(0))));
                assertEquals("expected 2 parameter tensors, got 1", e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> shadow.lerpTowards(List.of(ps.get(1), ps.get(0)), 0.5));
                assertEquals("parameter 0 has shape [2], its shadow [3, 2]", e.getMessage());
            }
        }
    }
}
