package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.model.ModelFolder;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code diffusion4j lint}, and the warning line every command prints for a known-bad configuration. */
class LintCommandTest {
    @TempDir
    Path tmp;

    static String[] run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new String[] {Integer.toString(code), out.toString(), err.toString()};
    }

    /** The digits model as it shipped before: clip_sample true. */
    private Path clippedDigits() throws Exception {
        Path dir = tmp.resolve("digits-clip");
        Files.createDirectories(dir);
        ModelFolder digits = ModelFolder.builtin("digits");
        digits.schedulerConfig().toBuilder().clipSample(true).build().write(dir.resolve("scheduler_config.json"));
        for (String f : new String[] {"model.pt", "diffusion4j.json"}) {
            try (var in = LintCommandTest.class.getClassLoader()
                    .getResourceAsStream("io/diffusion4j/models/digits/" + f)) {
                Files.copy(in, dir.resolve(f));
            }
        }
        return dir;
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"ddim", "ddpm", "dpmsolver++", "euler", "heun"})
    void theBuiltInDigitsPassWithGuidance(String scheduler) {
        String[] r = run("lint", "--model", "digits", "--scheduler", scheduler, "--guidance", "3");
        assertEquals("0", r[0], r[1] + r[2]);
        assertTrue(r[1].contains("no known problems"), r[1]);
    }

    @Test
    void clipSampleWithGuidedDdimFailsTheLint() throws Exception {
        Path dir = clippedDigits();
        String[] r = run("lint", "--model", dir.toString(), "--scheduler", "ddim", "--guidance", "3");
        assertEquals("1", r[0], r[1] + r[2]);
        assertEquals(1, r[1].lines().count(), r[1]);
        assertTrue(r[1].startsWith("error: clip_sample true with guidance 3 under ddim"), r[1]);
        assertTrue(r[1].contains("\"clip_sample\": false"), r[1]);
        // unguided, the same config is fine
        assertEquals("0", run("lint", "--model", dir.toString(), "--scheduler", "ddim")[0]);
    }

    @Test
    void sampleWarnsOnceAndStillRuns() throws Exception {
        Path dir = clippedDigits();
        String[] r = run("sample", "--model", dir.toString(), "--scheduler", "ddim", "--steps", "2", "--class", "7",
                "--guidance", "3", "--out", tmp.resolve("x.png").toString());
        assertEquals("0", r[0], r[1] + r[2]);
        assertEquals(1, r[2].lines().filter(l -> l.startsWith("diffusion4j: warning: clip_sample")).count(), r[2]);
    }

    @Test
    void usageErrorsExitTwo() {
        assertEquals("2", run("lint", "--model", "digits", "--scheduler", "nope")[0]);
        assertEquals("2", run("lint", "--model", "no-such-model-dir")[0]);
        assertEquals("2", run("lint", "--model", "digits-classifier")[0]);
        assertEquals("2", run("lint")[0]);
    }
}
