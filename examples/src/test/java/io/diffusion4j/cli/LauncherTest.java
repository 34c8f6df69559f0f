package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bin/diffusion4j} itself, on the CLI jar this build made: runs after {@code package} (the {@code launcher}
 * execution in examples/pom.xml, part of {@code verify}), and is skipped when run without that jar. The launcher is
 * copied into a temporary root beside a link to the jar, so its class-data archive is recorded there and never
 * touches the build's own; the native cache is the one the tests use.
 */
class LauncherTest {
    private static final String JAR = System.getProperty("d4j.cli.jar");
    private static final String LAUNCHER = System.getProperty("d4j.launcher");
    /** A line of the start-up trace: milliseconds, thread, phase. */
    private static final Pattern MARK = Pattern.compile("^\\s+([0-9.]+) ms  (\\S+)\\s+(.+)$");

    @TempDir
    Path root;

    private Path launcher;
    private Path archive;

    @BeforeEach
    void layOut() throws IOException {
        assumeTrue(JAR != null && LAUNCHER != null && Files.isRegularFile(Path.of(JAR)),
                "runs in the build's verify phase, on the CLI jar (d4j.cli.jar, d4j.launcher)");
        Path bin = Files.createDirectories(root.resolve("bin"));
        launcher = Files.copy(Path.of(LAUNCHER), bin.resolve("diffusion4j"));
        launcher.toFile().setExecutable(true);
        Path target = Files.createDirectories(root.resolve("examples/target"));
        Files.createSymbolicLink(target.resolve("diffusion4j-cli.jar"), Path.of(JAR).toAbsolutePath());
        archive = target.resolve("diffusion4j-cli.jsa");
    }

    @Test
    void samplesRecordsTheArchiveUsesItAndHonoursCdsOff() throws Exception {
        // a failed first run leaves neither an archive nor a half-written one
        Run bad = launch(Map.of(), "sample", "--model", "no-such-model", "--steps", "1");
        assertEquals(Main.EXIT_USAGE, bad.code(), bad.output());
        assertFalse(Files.exists(archive), "no archive from a failed run");
        assertEquals(List.of(), leftovers());

        // the first good run writes its file and records the archive
        Path first = root.resolve("first.pt");
        Run recorded = launch(Map.of(), "sample", "--model", "toy2d", "--steps", "1",
                "--save-tensor", first.toString());
        assertEquals(0, recorded.code(), recorded.output());
        assertSample(first);
        assertTrue(Files.size(archive) > 1_000_000, "an AppCDS archive after the first run");
        assertEquals(List.of(), leftovers());

        // the next run maps it: the CLI's own classes come from the archive
        Path classes = root.resolve("classes-archive.log");
        Path second = root.resolve("second.pt");
        Run mapped = launch(Map.of("DIFFUSION4J_JAVA_OPTS", classLog(classes) + " -Ddiffusion4j.trace.startup=true"),
                "sample", "--model", "toy2d", "--steps", "1", "--save-tensor", second.toString());
        assertEquals(0, mapped.code(), mapped.output());
        assertSample(second);
        assertTrue(Files.readString(classes).contains("io.diffusion4j.cli.Main source: shared objects file"),
                "Main loaded from the archive");
        assertTimeline(mapped.output());

        // DIFFUSION4J_CDS=off: the archive is there but not used, and left as it was
        long stamp = Files.getLastModifiedTime(archive).toMillis();
        Path plainClasses = root.resolve("classes-plain.log");
        Path third = root.resolve("third.pt");
        Run off = launch(Map.of("DIFFUSION4J_CDS", "off", "DIFFUSION4J_JAVA_OPTS", classLog(plainClasses)),
                "sample", "--model", "toy2d", "--steps", "1", "--save-tensor", third.toString());
        assertEquals(0, off.code(), off.output());
        assertSample(third);
        String plain = Files.readString(plainClasses);
        assertTrue(plain.contains("io.diffusion4j.cli.Main source: "), plain.lines().limit(3).toList().toString());
        assertFalse(plain.contains("io.diffusion4j.cli.Main source: shared objects file"), "DIFFUSION4J_CDS=off");
        assertEquals(stamp, Files.getLastModifiedTime(archive).toMillis());
    }

    /**
     * What the launcher hands to {@code java}: the real JVM is replaced by a script on the PATH that records its
     * environment and arguments (the runs above use the real one).
     */
    @Test
    void keepsTheUsersSettingsAndChoosesFlagsByCommand() throws Exception {
        Path fakeBin = Files.createDirectories(root.resolve("fake-bin"));
        Path record = root.resolve("java-call.txt");
        Path java = fakeBin.resolve("java");
        Files.writeString(java, "#!/usr/bin/env bash\n{ echo \"OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS-unset}\"; "
                + "printf '%s\\n' \"$@\"; } > \"$FAKE_JAVA_RECORD\"\n", StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        Map<String, String> env = Map.of("PATH", fakeBin + ":" + System.getenv("PATH"),
                "FAKE_JAVA_RECORD", record.toString());

        launch(env, "sample", "--model", "toy2d");
        List<String> sample = Files.readAllLines(record);
        assertEquals("OPENBLAS_NUM_THREADS=1", sample.get(0), "set to 1 when unset");
        assertTrue(sample.contains("-XX:TieredStopAtLevel=1"), sample.toString());
        assertTrue(sample.stream().anyMatch(a -> a.startsWith("-XX:DumpLoadedClassList=")), sample.toString());

        Map<String, String> user = new java.util.HashMap<>(env);
        user.put("OPENBLAS_NUM_THREADS", "3");
        user.put("DIFFUSION4J_JAVA_OPTS", "-XX:TieredStopAtLevel=4 -Dx=y");
        launch(user, "sample", "--model", "toy2d");
        List<String> own = Files.readAllLines(record);
        assertEquals("OPENBLAS_NUM_THREADS=3", own.get(0), "a user's OPENBLAS_NUM_THREADS is kept");
        assertTrue(own.indexOf("-XX:TieredStopAtLevel=4") > own.indexOf("-XX:TieredStopAtLevel=1"),
                "the user's JVM options come after the launcher's, so they win: " + own);
        assertTrue(own.indexOf("-Dx=y") < own.indexOf("-jar"), own.toString());

        launch(env, "serve", "--model", "toy2d");
        List<String> serve = Files.readAllLines(record);
        assertFalse(serve.stream().anyMatch(a -> a.contains("Archive") || a.contains("ClassList")),
                "serve neither records nor maps an archive: " + serve);
        assertFalse(serve.contains("-XX:TieredStopAtLevel=1"), "serve keeps the full JIT: " + serve);
        launch(env, "bench", "--model", "toy2d");
        assertFalse(Files.readAllLines(record).contains("-XX:TieredStopAtLevel=1"), "bench keeps the full JIT");
    }

    /** The start-up trace: every phase once, after the process started, main first and the exit last. */
    private static void assertTimeline(String output) {
        List<String> phases = new ArrayList<>();
        for (String line : output.lines().toList()) {
            Matcher m = MARK.matcher(line);
            if (m.matches()) {
                double ms = Double.parseDouble(m.group(1));
                assertTrue(ms > 0 && ms < 120_000, "milliseconds since the process started: " + line);
                phases.add(m.group(3).strip());
            }
        }
        assertTrue(output.contains("start-up trace"), output);
        assertEquals("main entered", phases.get(0), phases.toString());
        assertEquals("exiting", phases.get(phases.size() - 1), phases.toString());
        for (String phase : List.of("Torch.load entered", "LibTorch loaded (preloads, libjnitorch, JNI_OnLoad)",
                "command line parsed", "probe forward (the model takes its sample shape)", "generated (1 step(s))",
                "output written")) {
            assertEquals(1, phases.stream().filter(phase::equals).count(), phase + " in " + phases);
        }
        assertTrue(phases.indexOf("LibTorch loaded (preloads, libjnitorch, JNI_OnLoad)")
                < phases.indexOf("probe forward (the model takes its sample shape)"), phases.toString());
    }

    private static String classLog(Path file) {
        return "-Xlog:class+load=info:file=" + file;
    }

    private static void assertSample(Path file) {
        try (NativeScope scope = new NativeScope()) {
            Tensor t = TensorFiles.read(file);
            assertEquals("[1, 2]", java.util.Arrays.toString(t.shape()), file + ": " + t.describe());
            for (float v : t.toFloatArray()) {
                assertTrue(Float.isFinite(v), file + ": " + t.describe());
            }
        } catch (IOException e) {
            throw new AssertionError("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private List<Path> leftovers() throws IOException {
        try (Stream<Path> s = Files.list(archive.getParent())) {
            return s.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList();
        }
    }

    private record Run(int code, String output) {
    }

    private Run launch(Map<String, String> env, String... args) throws Exception {
        List<String> command = new ArrayList<>();
        command.add(launcher.toString());
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).directory(root.toFile()).redirectErrorStream(true);
        Map<String, String> e = pb.environment();
        e.remove("DIFFUSION4J_CDS");
        e.remove("DIFFUSION4J_JAVA_OPTS");
        e.remove("OPENBLAS_NUM_THREADS");
        e.putAll(env);
        String cache = System.getProperty("org.bytedeco.javacpp.cachedir");
        if (cache != null) {
            e.put("DIFFUSION4J_JAVA_OPTS", "-Dorg.bytedeco.javacpp.cachedir=" + cache + " "
                    + e.getOrDefault("DIFFUSION4J_JAVA_OPTS", ""));
        }
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the launcher finished");
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
