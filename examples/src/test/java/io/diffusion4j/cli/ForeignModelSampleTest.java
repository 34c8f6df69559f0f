package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.TensorFiles;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A checkpoint from elsewhere: a TorchScript denoiser that embeds its timestep as a float, in a folder with only
 * {@code model.pt} + {@code scheduler_config.json} (no diffusion4j.json). Sampled through the CLI, it must land on
 * diffusers' own EulerDiscreteScheduler / HeunDiscreteScheduler / EulerAncestralDiscreteScheduler /
 * DPMSolverMultistepScheduler runs (test-models/make_float_timestep_refs.py), which pass the scheduler's float32
 * (or int64) timesteps to the model unchanged.
 */
class ForeignModelSampleTest {
    static final String ROOT = "io/diffusion4j/reference/float_timestep/";

    @TempDir
    static Path tmp;

    static JsonNode cases() throws IOException {
        try (InputStream in = ForeignModelSampleTest.class.getClassLoader().getResourceAsStream(ROOT + "cases.json")) {
            return new ObjectMapper().readTree(in);
        }
    }

    static Stream<JsonNode> referenceRuns() throws IOException {
        List<JsonNode> out = new ArrayList<>();
        cases().get("cases").forEach(out::add);
        return out.stream();
    }

    /** The model folder as a user has it: model.pt and scheduler_config.json, nothing else. */
    static synchronized Path modelFolder(Path parent) throws IOException {
        Path dir = parent.resolve("float-t-model");
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir);
            for (String f : new String[] {"model.pt", "scheduler_config.json"}) {
                copyResource(ROOT + "model/" + f, dir.resolve(f));
            }
        }
        return dir;
    }

    static void copyResource(String resource, Path to) throws IOException {
        try (InputStream in = ForeignModelSampleTest.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("missing test resource " + resource);
            }
            Files.copy(in, to);
        }
    }

    static String[] run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new String[] {Integer.toString(code), out.toString(), err.toString()};
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("referenceRuns")
    void sampleMatchesDiffusersWithoutADiffusion4jJson(JsonNode c) throws Exception {
        Path model = modelFolder(tmp);
        assertFalse(Files.exists(model.resolve("diffusion4j.json")));
        String name = c.get("name").asText();
        Path out = tmp.resolve(name + ".pt");
        List<String> args = new ArrayList<>(List.of("sample", "--model", model.toString(), "--steps",
                c.get("steps").asText(), "--scheduler", c.get("scheduler").asText(), "--save-tensor", out.toString(),
                "--threads", "1"));
        if (c.get("noisy").asBoolean()) {
            // ancestral steps draw noise: the same per-sample generators as the reference, initial noise first
            args.addAll(List.of("--seed", c.get("seed").asText(), "--batch", c.get("batch_size").asText(),
                    "--sample-shape", "3,8,8"));
        } else {
            Path noise = tmp.resolve(name + "-init.pt");
            copyResource(ROOT + c.get("files").get("init_noise").asText(), noise);
            args.addAll(List.of("--init-noise", noise.toString()));
        }
        String[] r = run(args.toArray(String[]::new));
        assertEquals("0", r[0], () -> "stdout: " + r[1] + "\nstderr: " + r[2]);
        try (NativeScope scope = new NativeScope()) {
            float[] got = TensorFiles.read(out).toFloatArray();
            float[] expected = TensorFiles.readResource(ROOT + c.get("files").get("result").asText()).toFloatArray();
            assertEquals(expected.length, got.length);
            double diff = 0;
            for (int i = 0; i < got.length; i++) {
                diff = Math.max(diff, Math.abs(got[i] - expected[i]));
            }
            System.out.printf("%s (%s, %s timesteps): max |java - diffusers| = %.3g (int64 timesteps would be %.3g)%n",
                    name, c.get("diffusers_class").asText(), c.get("timestep_dtype").asText(), diff,
                    c.get("max_abs_diff_if_timesteps_were_int64").asDouble());
            assertTrue(diff <= 1e-4, name + ": " + diff);
        }
    }

    /** diffusion4j.json's timestep_dtype still decides: int64 there makes Euler round, as the model's owner asked. */
    @Test
    void aDeclaredTimestepDtypeOverridesTheSchedulers() throws Exception {
        JsonNode euler = null;
        for (JsonNode c : cases().get("cases")) {
            if (c.get("scheduler").asText().equals("euler")) {
                euler = c;
            }
        }
        Path dir = tmp.resolve("declared-int64");
        Files.createDirectories(dir);
        Files.copy(modelFolder(tmp).resolve("model.pt"), dir.resolve("model.pt"));
        Files.copy(modelFolder(tmp).resolve("scheduler_config.json"), dir.resolve("scheduler_config.json"));
        Files.writeString(dir.resolve("diffusion4j.json"), "{\"sample_shape\": [3, 8, 8], \"value_range\": [-1, 1], "
                + "\"forward_signature\": [\"sample\", \"timestep\"], \"timestep_dtype\": \"int64\"}");
        Path noise = tmp.resolve("declared-init.pt");
        copyResource(ROOT + euler.get("files").get("init_noise").asText(), noise);
        Path out = tmp.resolve("declared.pt");
        String[] r = run("sample", "--model", dir.toString(), "--steps", "20", "--scheduler", "euler", "--init-noise",
                noise.toString(), "--save-tensor", out.toString(), "--out", tmp.resolve("declared.png").toString());
        assertEquals("0", r[0], () -> "stdout: " + r[1] + "\nstderr: " + r[2]);
        try (NativeScope scope = new NativeScope()) {
            float[] got = TensorFiles.read(out).toFloatArray();
            float[] expected = TensorFiles.readResource(ROOT + euler.get("files").get("result").asText()).toFloatArray();
            double diff = 0;
            for (int i = 0; i < got.length; i++) {
                diff = Math.max(diff, Math.abs(got[i] - expected[i]));
            }
            // rounded timesteps land where the reference's int64 experiment did, not on the float32 run
            double rounded = euler.get("max_abs_diff_if_timesteps_were_int64").asDouble();
            assertEquals(rounded, diff, rounded * 0.01, "int64 timesteps as declared");
        }
    }
}
