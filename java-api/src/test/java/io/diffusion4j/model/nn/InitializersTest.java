package io.diffusion4j.model.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.model.ModelFolder;
import java.io.IOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link Initializers#reinit}: re-initialising the built-in TorchScript models by parameter role (PyTorch's default
 * inits), seeded. The roles of digits' parameters come from the TorchScript classes of their submodules.
 */
class InitializersTest {

    private static float[] values(Tensor t) {
        return t.detach().reshape(-1).toFloatArray();
    }

    private static double[] meanStd(float[] v) {
        double s = 0;
        double s2 = 0;
        for (float x : v) {
            s += x;
            s2 += (double) x * x;
        }
        double m = s / v.length;
        return new double[] {m, Math.sqrt(s2 / v.length - m * m)};
    }

    @Test
    void digitsRolesComeFromTheSubmoduleClasses() throws IOException {
        try (TorchScriptModule m = ModelFolder.builtin("digits").loadModule(Device.CPU);
             NativeScope scope = new NativeScope()) {
            Map<String, Initializers.Role> roles = Initializers.roles(m, m.namedParameters());
            assertEquals(Initializers.Role.EMBEDDING, roles.get("class_emb.weight"));
            assertEquals(Initializers.Role.WEIGHT, roles.get("emb_proj.weight"));   // a Linear, though named "emb"
            assertEquals(Initializers.Role.BIAS, roles.get("emb_proj.bias"));
            assertEquals(Initializers.Role.WEIGHT, roles.get("conv_in.weight"));
            assertEquals(Initializers.Role.NORM_WEIGHT, roles.get("mid.1.norm2.weight"));
            assertEquals(Initializers.Role.NORM_BIAS, roles.get("norm_out.bias"));
        }
    }

    @Test
    void reinitFollowsPyTorchDefaultsAndIsSeeded() throws IOException {
        try (TorchScriptModule m = ModelFolder.builtin("digits").loadModule(Device.CPU);
             TorchScriptModule m2 = ModelFolder.builtin("digits").loadModule(Device.CPU);
             NativeScope scope = new NativeScope()) {
            LinkedHashMap<String, Tensor> before = new LinkedHashMap<>();
            m.namedParameters().forEach((k, v) -> before.put(k, v.detach().copy()));
            Initializers.reinit(m, 7);
            LinkedHashMap<String, Tensor> p = m.namedParameters();
            // trained weights are gone
            assertFalse(Arrays.equals(values(before.get("conv_in.weight")), values(p.get("conv_in.weight"))));
            // Linear / Conv weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); std = bound / sqrt(3)
            for (String name : new String[] {"mid.0.conv1.weight", "emb_proj.weight", "time_mlp.2.weight"}) {
                Tensor w = p.get(name);
                long[] s = w.shape();
                long fanIn = s[1] * (s.length == 4 ? s[2] * s[3] : 1);
                double bound = 1 / Math.sqrt(fanIn);
                float[] v = values(w);
                double max = 0;
                for (float x : v) {
                    max = Math.max(max, Math.abs(x));
                }
                double[] ms = meanStd(v);
                assertTrue(max <= bound && max > 0.95 * bound, name + ": max |w| " + max + ", bound " + bound);
                assertEquals(bound / Math.sqrt(3), ms[1], 0.05 * bound / Math.sqrt(3), name + " std");
                assertEquals(0, ms[0], 0.05 * bound, name + " mean");
                float[] b = values(p.get(name.replace("weight", "bias")));
                for (float x : b) {
                    assertTrue(Math.abs(x) <= bound, name + " bias " + x + " outside +-" + bound);
                }
            }
            for (float x : values(p.get("norm_out.weight"))) {
                assertEquals(1f, x);
            }
            for (float x : values(p.get("down_block.norm1.bias"))) {
                assertEquals(0f, x);
            }
            double[] emb = meanStd(values(p.get("class_emb.weight")));   // N(0, 1), 704 values
            assertEquals(0, emb[0], 0.12);
            assertEquals(1, emb[1], 0.08);
            // seeded: same seed, same weights; another seed, others
            Initializers.reinit(m2, 7);
            LinkedHashMap<String, Tensor> q = m2.namedParameters();
            for (String k : p.keySet()) {
                assertArrayEquals(values(p.get(k)), values(q.get(k)), k);
            }
            Initializers.reinit(m2, 8);
            assertFalse(Arrays.equals(values(p.get("conv_in.weight")), values(m2.namedParameters().get("conv_in.weight"))));
        }
    }

    @Test
    void parametersWithoutAKnownDefaultAreRejected() {
        try (NativeScope scope = new NativeScope()) {
            LinkedHashMap<String, Tensor> named = new LinkedHashMap<>();
            named.put("scale", Tensor.zeros(io.diffusion4j.bindings.DType.FLOAT32, Device.CPU, 3));
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> Initializers.reinit(named, Map.of(), 1));
            assertTrue(e.getMessage().contains("scale"), e.getMessage());
        }
    }
}
