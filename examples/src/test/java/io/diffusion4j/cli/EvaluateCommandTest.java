package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code diffusion4j evaluate}: the digits FD of a saved tensor, against test-models' scipy reference. */
class EvaluateCommandTest {
    @TempDir
    Path tmp;

    private Path resource(String resource, Path to) throws IOException {
        try (InputStream in = getClass().getClassLoader().getResourceAsStream(resource)) {
            Files.copy(in, to);
        }
        return to;
    }

    @Test
    void printsTheDigitsFdOfSavedSamplesAndTheirAccuracy() throws Exception {
        Path samples = resource("io/diffusion4j/reference/digits_fd/noisy_samples.pt", tmp.resolve("noisy.pt"));
        JsonNode ref;
        try (InputStream in = getClass().getClassLoader().getResourceAsStream("io/diffusion4j/reference/digits_fd.json")) {
            ref = new ObjectMapper().readTree(in);
        }
        double scipy = ref.get("cases").get(0).get("fd").asDouble(); // noisy vs real
        assertEquals("noisy", ref.get("cases").get(0).get("x").asText());
        CommandsTest.Result r = CommandsTest.run("evaluate", "--samples", samples.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(String.format(Locale.ROOT, "digits FD %.4f (200 samples vs 1797 real digits)", scipy),
                r.out().strip());
        // the noisy set is x[0:1797:9][:200]: its labels are those of the real digits at those indices
        StringBuilder classes = new StringBuilder();
        try (NativeScope scope = new NativeScope()) {
            long[] y = TensorFiles.readResource("io/diffusion4j/reference/training/digits_labels.pt").toLongArray();
            for (int i = 0; i < 200; i++) {
                classes.append(i > 0 ? "," : "").append(y[9 * i]);
            }
        }
        r = CommandsTest.run("evaluate", "--samples", samples.toString(), "--class", classes.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("accuracy 0."), r.out());
    }

    @Test
    void badInputIsAOneLineError() throws Exception {
        TimestepsOptionTest.assertUsageError(CommandsTest.run("evaluate", "--samples", tmp.resolve("none.pt")
                .toString()), "--samples: file not found");
        Path features = resource("io/diffusion4j/reference/digits_fd/noisy_features.pt", tmp.resolve("f.pt"));
        TimestepsOptionTest.assertUsageError(CommandsTest.run("evaluate", "--samples", features.toString()),
                "must be [N, 1, 8, 8], got [200, 128]");
        Path samples = resource("io/diffusion4j/reference/digits_fd/noisy_samples.pt", tmp.resolve("noisy.pt"));
        TimestepsOptionTest.assertUsageError(CommandsTest.run("evaluate", "--samples", samples.toString(), "--class",
                "1,2,3"), "one per sample; got 3 for 200 samples");
        TimestepsOptionTest.assertUsageError(CommandsTest.run("evaluate", "--samples", samples.toString(), "--class",
                "12"), "classes are 0-9, got 12");
        Path one = tmp.resolve("one.pt");
        Path nan = tmp.resolve("nan.pt");
        try (NativeScope scope = new NativeScope()) {
            Tensor x = TensorFiles.read(samples);
            TensorFiles.write(one, x.narrow(0, 0, 1));
            Tensor bad = x.copy();
            bad.narrow(0, 7, 1).fillInPlace(Double.NaN);
            TensorFiles.write(nan, bad);
        }
        TimestepsOptionTest.assertUsageError(CommandsTest.run("evaluate", "--samples", one.toString()),
                "at least 2 samples, got 1");
        CommandsTest.Result r = CommandsTest.run("evaluate", "--samples", nan.toString());
        assertEquals(Main.EXIT_FAILURE, r.code(), r.err());
        assertTrue(r.err().startsWith("diffusion4j: error: digits samples [200, 1, 8, 8]")
                || r.err().contains("contain NaN or infinite values"), r.err());
        Files.writeString(tmp.resolve("text.pt"), "not a tensor");
        TimestepsOptionTest.assertUsageError(CommandsTest.run("evaluate", "--samples", tmp.resolve("text.pt")
                .toString()), "--samples:");
    }
}
