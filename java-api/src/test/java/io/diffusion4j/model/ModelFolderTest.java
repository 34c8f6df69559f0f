package io.diffusion4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.models.BuiltinModels;
import io.diffusion4j.scheduler.SchedulerConfigException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Opening model folders (built-in and on disk) and the one-line errors for folders that are incomplete or wrong:
 * each message names the file and, where there is one, the field.
 */
class ModelFolderTest {
    private static final List<String> FOLDER_FILES = List.of(ModelFolder.MODEL_FILE, ModelFolder.SCHEDULER_FILE,
            ModelSpec.FILE_NAME);

    @TempDir
    Path tmp;

    @BeforeAll
    static void threads() {
        Torch.setThreads(2);
    }

    /** Copies the built-in model folder {@code name} from the classpath to {@code dir}. */
    static Path copyBuiltin(String name, Path dir) throws IOException {
        Files.createDirectories(dir);
        for (String file : FOLDER_FILES) {
            try (InputStream in = ModelFolderTest.class.getClassLoader()
                    .getResourceAsStream(BuiltinModels.ROOT + name + "/" + file)) {
                if (in != null) {
                    Files.copy(in, dir.resolve(file));
                }
            }
        }
        return dir;
    }

    private Path digitsCopy() throws IOException {
        return copyBuiltin("digits", tmp.resolve("digits"));
    }

    /** Replaces {@code "key": <old value>} in a JSON file written one key per line. */
    private static void replaceJsonValue(Path file, String key, String newValue) throws IOException {
        String text = Files.readString(file);
        String replaced = text.replaceFirst("(\"" + key + "\"\\s*:\\s*)(\"[^\"]*\"|\\[[^\\]]*\\])", "$1" + newValue);
        assertFalse(text.equals(replaced), key + " not found in " + file);
        Files.writeString(file, replaced);
    }

    private static void assertOneLine(Exception e) {
        assertNotNull(e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), "expected a one-line message, got: " + e.getMessage());
    }

    private static void assertMentions(Exception e, String... words) {
        assertOneLine(e);
        for (String w : words) {
            assertTrue(e.getMessage().contains(w), "message should mention '" + w + "': " + e.getMessage());
        }
    }

    // ---- errors ------------------------------------------------------------------------------------------

    @Test
    void missingModelFileIsNamed() throws IOException {
        Path dir = digitsCopy();
        Files.delete(dir.resolve(ModelFolder.MODEL_FILE));
        ModelFolderException e = assertThrows(ModelFolderException.class, () -> ModelFolder.open(dir));
        assertMentions(e, "model.pt", "missing", dir.toString());
    }

    @Test
    void schedulerConfigThatIsNotJson() throws IOException {
        Path dir = digitsCopy();
        Files.writeString(dir.resolve(ModelFolder.SCHEDULER_FILE), "{ \"num_train_timesteps\": 1000,\n oops }\n");
        SchedulerConfigException e = assertThrows(SchedulerConfigException.class, () -> ModelFolder.open(dir));
        assertMentions(e, "scheduler_config.json", "not valid JSON", "line 2");
    }

    @Test
    void unknownBetaScheduleListsTheValidOnes() throws IOException {
        Path dir = digitsCopy();
        replaceJsonValue(dir.resolve(ModelFolder.SCHEDULER_FILE), "beta_schedule", "\"cosine\"");
        SchedulerConfigException e = assertThrows(SchedulerConfigException.class, () -> ModelFolder.open(dir));
        assertMentions(e, "scheduler_config.json", "beta_schedule", "'cosine'", "squaredcos_cap_v2");
    }

    @Test
    void unknownPredictionTypeListsTheValidOnes() throws IOException {
        Path dir = digitsCopy();
        replaceJsonValue(dir.resolve(ModelFolder.SCHEDULER_FILE), "prediction_type", "\"x0\"");
        SchedulerConfigException e = assertThrows(SchedulerConfigException.class, () -> ModelFolder.open(dir));
        assertMentions(e, "scheduler_config.json", "prediction_type", "'x0'", "epsilon", "sample", "v_prediction");
    }

    @Test
    void diffusion4jJsonThatIsNotJson() throws IOException {
        Path dir = digitsCopy();
        Files.writeString(dir.resolve(ModelSpec.FILE_NAME), "{\"sample_shape\": [1, 8, 8],,}");
        ModelFolderException e = assertThrows(ModelFolderException.class, () -> ModelFolder.open(dir));
        assertMentions(e, "diffusion4j.json", "not valid JSON");
    }

    @Test
    void diffusion4jJsonWithABadSampleShape() throws IOException {
        Path dir = digitsCopy();
        replaceJsonValue(dir.resolve(ModelSpec.FILE_NAME), "sample_shape", "[1, 0, 8]");
        ModelFolderException e = assertThrows(ModelFolderException.class, () -> ModelFolder.open(dir));
        assertMentions(e, "diffusion4j.json", "sample_shape");
    }

    /** [3, 8, 8]: conv_in takes one channel; [1, 5, 5]: the 4x4 bottleneck and the 8x8 skip no longer line up. */
    @ParameterizedTest
    @ValueSource(strings = {"[3, 8, 8]", "[1, 5, 5]"})
    void sampleShapeTheModelRejects(String shape) throws IOException {
        Path dir = digitsCopy();
        replaceJsonValue(dir.resolve(ModelSpec.FILE_NAME), "sample_shape", shape);
        ModelFolder folder = ModelFolder.open(dir); // the JSON itself is fine
        assertArrayEquals(parseShape(shape), folder.spec().sampleShape());
        ModelFolderException e = assertThrows(ModelFolderException.class,
                () -> folder.loadDenoiser(Device.CPU, DType.FLOAT32).close());
        assertMentions(e, "sample_shape", "model.pt", "diffusion4j.json", shape);
    }

    private static long[] parseShape(String s) {
        String[] parts = s.replaceAll("[\\[\\] ]", "").split(",");
        long[] out = new long[parts.length];
        for (int i = 0; i < parts.length; i++) {
            out[i] = Long.parseLong(parts[i]);
        }
        return out;
    }

    @Test
    void folderThatDoesNotExist() {
        Path dir = tmp.resolve("nowhere");
        ModelFolderException e = assertThrows(ModelFolderException.class, () -> ModelFolder.open(dir));
        assertMentions(e, "not found", "nowhere");
    }

    @Test
    void aLocalModelFolderWinsOverTheBuiltinOfTheSameName() throws IOException {
        // a student written to --out toy2d-4step must be what --model toy2d-4step runs, not the built-in
        Path dir = copyBuiltin("digits", tmp.resolve("toy2d"));
        ModelFolder local = ModelFolder.resolve("toy2d", tmp);
        assertEquals(dir.toString(), local.location());
        assertArrayEquals(new long[] {1, 8, 8}, local.spec().sampleShape());
        ModelFolder forced = ModelFolder.resolve(ModelFolder.BUILTIN_PREFIX + "toy2d", tmp);
        assertEquals("builtin:toy2d", forced.location());
        assertArrayEquals(new long[] {2}, forced.spec().sampleShape());
    }

    @Test
    void aFolderWithoutModelFilesDoesNotHideTheBuiltin() throws IOException {
        Files.createDirectories(tmp.resolve("toy2d"));
        Files.writeString(tmp.resolve("toy2d").resolve("notes.txt"), "not a model");
        assertEquals("builtin:toy2d", ModelFolder.resolve("toy2d", tmp).location());
        assertEquals("builtin:toy2d", ModelFolder.resolve("toy2d").location());
        ModelFolderException e = assertThrows(ModelFolderException.class,
                () -> ModelFolder.resolve(ModelFolder.BUILTIN_PREFIX + "no-such-model", tmp));
        assertMentions(e, "no-such-model", "toy2d");
    }

    @Test
    void resolveOfAnUnknownNameListsTheBuiltinModels() {
        ModelFolderException e = assertThrows(ModelFolderException.class,
                () -> ModelFolder.resolve("no-such-model"));
        assertMentions(e, "no-such-model", "digits", "digits-v", "toy2d", "digits-unet", "digits-classifier");
        ModelFolderException b = assertThrows(ModelFolderException.class, () -> ModelFolder.builtin("no-such-model"));
        assertMentions(b, "no-such-model", "digits", "toy2d");
    }

    @Test
    void aClassifierIsNotADenoiser() throws IOException {
        ModelFolder folder = ModelFolder.builtin("digits-classifier");
        assertNull(folder.schedulerConfig());
        ModelFolderException e = assertThrows(ModelFolderException.class,
                () -> folder.loadDenoiser(Device.CPU, DType.FLOAT32));
        assertMentions(e, "scheduler_config.json", "missing", "digits-classifier");
    }

    @Test
    void corruptModelFileFailsWhenLoaded() throws IOException {
        Path dir = digitsCopy();
        Files.write(dir.resolve(ModelFolder.MODEL_FILE), new byte[] {'P', 'K', 3, 4, 1, 2, 3});
        ModelFolder folder = ModelFolder.open(dir); // the module is only read when loaded
        IOException e = assertThrows(IOException.class, () -> folder.loadDenoiser(Device.CPU, DType.FLOAT32));
        assertMentions(e, "model.pt");
    }

    // ---- loading -----------------------------------------------------------------------------------------

    @Test
    void builtinNamesAreTheIndex() {
        assertEquals(List.of("digits", "digits-v", "digits-latent", "toy2d", "digits-unet", "digits-classifier",
                "toy2d-4step", "digits-4step"),
                BuiltinModels.names());
    }

    @ParameterizedTest
    @ValueSource(strings = {"digits", "digits-v", "toy2d", "toy2d-4step", "digits-4step"})
    void builtinDenoiserRunsOnItsDocumentedShape(String name) throws IOException {
        ModelFolder folder = ModelFolder.builtin(name);
        assertEquals("builtin:" + name, folder.location());
        assertNotNull(folder.schedulerConfig());
        assertNotNull(folder.spec());
        assertForwardOnDocumentedShape(folder);
    }

    @Test
    void builtinClassifierReturnsLogits() throws IOException {
        ModelFolder folder = ModelFolder.builtin("digits-classifier");
        assertEquals("classifier", folder.spec().kind());
        assertArrayEquals(new long[] {1, 8, 8}, folder.spec().sampleShape());
        try (NativeScope scope = new NativeScope(); TorchScriptModule m = folder.loadModule(Device.CPU)) {
            Tensor x = Tensor.zeros(DType.FLOAT32, Device.CPU, folder.spec().batchShape(3));
            Tensor logits = m.forward(x);
            assertArrayEquals(new long[] {3, 10}, logits.shape());
            assertTrue(logits.allFinite());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"digits", "digits-v", "toy2d", "toy2d-4step", "digits-4step"})
    void diskCopyOpensLikeTheBuiltin(String name) throws IOException {
        Path dir = copyBuiltin(name, tmp.resolve(name));
        ModelFolder disk = ModelFolder.resolve(dir.toString());
        ModelFolder builtin = ModelFolder.builtin(name);
        assertEquals(dir.toString(), disk.location());
        assertEquals(builtin.spec(), disk.spec());
        assertEquals(builtin.schedulerConfig().toJson(), disk.schedulerConfig().toJson());
        assertForwardOnDocumentedShape(disk);
    }

    @Test
    void withoutDiffusion4jJsonTheSignatureComesFromTheModule() throws IOException {
        Path dir = digitsCopy();
        Files.delete(dir.resolve(ModelSpec.FILE_NAME));
        ModelFolder folder = ModelFolder.open(dir);
        assertNull(folder.spec());
        assertNotNull(folder.schedulerConfig());
        try (NativeScope scope = new NativeScope();
             Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32)) {
            assertTrue(d.isConditional(), "digits' forward takes (sample, timestep, class_labels)");
            assertEquals(DType.INT64, d.timestepDType());
            Tensor x = Tensor.zeros(DType.FLOAT32, Device.CPU, 2, 1, 8, 8);
            Tensor t = Tensor.full(500, DType.INT64, Device.CPU, 2);
            Tensor labels = Tensor.fromLongs(new long[] {3, 7}, 2);
            assertArrayEquals(new long[] {2, 1, 8, 8}, d.predict(x, t, labels).shape());
        }
    }

    @Test
    void toy2dWithoutDiffusion4jJsonIsUnconditional() throws IOException {
        Path dir = copyBuiltin("toy2d", tmp.resolve("toy2d"));
        Files.delete(dir.resolve(ModelSpec.FILE_NAME));
        try (Denoiser d = ModelFolder.open(dir).loadDenoiser(Device.CPU, DType.FLOAT32)) {
            assertFalse(d.isConditional());
        }
    }

    private static void assertForwardOnDocumentedShape(ModelFolder folder) throws IOException {
        ModelSpec spec = folder.spec();
        try (NativeScope scope = new NativeScope();
             Denoiser d = folder.loadDenoiser(Device.CPU, DType.FLOAT32)) {
            assertEquals(spec.isConditional(), d.isConditional(), folder.location());
            long[] shape = spec.batchShape(2);
            Tensor x = Tensor.zeros(DType.FLOAT32, Device.CPU, shape);
            Tensor t = Tensor.full(10, d.timestepDType(), Device.CPU, 2);
            Tensor labels = d.isConditional() ? Tensor.fromLongs(new long[] {0, d.nullClassId()}, 2) : null;
            Tensor out = d.predict(x, t, labels);
            assertArrayEquals(shape, out.shape(), folder.location());
            assertInstanceOf(DType.class, out.dtype());
            assertEquals(DType.FLOAT32, out.dtype());
            assertTrue(out.allFinite(), folder.location());
        }
    }
}
