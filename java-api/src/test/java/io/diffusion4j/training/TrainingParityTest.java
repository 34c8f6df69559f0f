package io.diffusion4j.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.bindings.TorchScriptRuntime;
import io.diffusion4j.model.ModelFolder;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Trainer's loss path against PyTorch: for the reference cases of test-models/make_training_refs.py (a fixed
 * batch, per-example timesteps and noise; epsilon and v targets, min-SNR-gamma 5, given labels and the null class),
 * {@link Trainer#lossAndGradients} (what {@link Trainer#step} runs after its random draws) must give PyTorch's loss
 * and the gradient of one named parameter within 1e-5 relative.
 */
class TrainingParityTest {
    private static final String ROOT = "io/diffusion4j/reference/";

    static JsonNode index() throws IOException {
        try (InputStream in = TrainingParityTest.class.getClassLoader().getResourceAsStream(ROOT + "training.json")) {
            assertNotNull(in, "training.json is not on the classpath");
            return new ObjectMapper().readTree(in);
        }
    }

    static Stream<JsonNode> cases() throws IOException {
        List<JsonNode> out = new ArrayList<>();
        index().get("cases").forEach(out::add);
        return out.stream();
    }

    static Tensor file(JsonNode c, String key) throws IOException {
        return TensorFiles.readResource(ROOT + c.get("files").get(key).asText());
    }

    @AfterAll
    static void restore() {
        TorchScriptRuntime.setGraphOptimization(true);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void lossAndGradientMatchPyTorch(JsonNode c) throws IOException {
        ModelFolder folder = ModelFolder.builtin(c.get("model").asText());
        TrainingConfig config = TrainingConfig.builder().minSnrGamma(c.get("min_snr_gamma").asDouble()).build();
        try (TorchScriptModule module = folder.loadModule(Device.CPU);
             Trainer trainer = new Trainer(module, folder.schedulerConfig(), folder.spec(), config);
             NativeScope scope = new NativeScope()) {
            Tensor x0 = file(c, "x0");
            long[] timesteps = file(c, "timesteps").toLongArray();
            Tensor noise = file(c, "noise");
            Tensor labels = c.get("files").has("class_labels") ? file(c, "class_labels") : null;
            double loss = trainer.lossAndGradients(x0, labels, timesteps, noise);
            double expected = c.get("loss").asDouble();
            double lossRel = Math.abs(loss - expected) / Math.abs(expected);

            String param = c.get("param").asText();
            Tensor p = module.namedParameters().get(param);
            assertNotNull(p, "no parameter " + param);
            Tensor grad = p.grad();
            assertNotNull(grad, param + " has no gradient");
            Tensor ref = file(c, "grad");
            assertArrayEquals(ref.shape(), grad.shape());
            float[] g = grad.toFloatArray();
            float[] r = ref.toFloatArray();
            double maxRef = 0;
            double maxDiff = 0;
            for (int i = 0; i < r.length; i++) {
                maxRef = Math.max(maxRef, Math.abs(r[i]));
                maxDiff = Math.max(maxDiff, Math.abs((double) g[i] - r[i]));
            }
            double gradRel = maxDiff / maxRef;
            System.out.printf("training parity %s: loss %.8f vs PyTorch %.8f (rel %.2e), grad %s max |diff| %.2e "
                    + "(rel to max |grad| %.2e)%n", c.get("name").asText(), loss, expected, lossRel, param, maxDiff,
                    gradRel);
            assertTrue(lossRel <= 1e-5, "loss " + loss + " vs PyTorch " + expected + ": relative " + lossRel);
            assertTrue(gradRel <= 1e-5, "gradient of " + param + ": max |diff| " + maxDiff + " is " + gradRel
                    + " of its max |value| " + maxRef);
            assertEquals(0, trainer.step(), "lossAndGradients must not step the optimizer");
        }
    }
}
