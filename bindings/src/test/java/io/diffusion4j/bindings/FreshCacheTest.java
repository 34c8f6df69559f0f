package io.diffusion4j.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.io.TempDir;

/** The first native load on an empty JavaCPP cache, as on a fresh machine (issue 17). */
@EnabledOnOs(OS.LINUX)
class FreshCacheTest {

    @Test
    void twoJvmsStartingTogetherOnOneEmptyCacheBothLoadAndRunAModel(@TempDir Path dir) throws Exception {
        Path cache = dir.resolve("javacpp-cache");
        runWorkers(dir, cache, 2);
        assertEquals(sizeInJar("libtorch_cpu.so"), Files.size(find(cache, "libtorch_cpu.so")),
                "libtorch_cpu.so completely extracted");
        Path marker;
        try (var s = Files.list(cache)) {
            marker = s.filter(p -> p.getFileName().toString().startsWith("diffusion4j-natives-")).findFirst()
                    .orElseThrow(() -> new AssertionError("no extraction marker in " + cache));
        }
        assertTrue(Files.readString(marker).contains("libtorch_cpu.so\t" + sizeInJar("libtorch_cpu.so")),
                "the marker lists libtorch_cpu.so");

        // A warm start trusts the marker only while the files it lists are there: with libtorch_cpu.so gone, the next
        // start must extract it again before loading (else issue 17's wrong LibTorch could be loaded).
        Files.delete(find(cache, "libtorch_cpu.so"));
        runWorkers(dir, cache, 1);
        assertEquals(sizeInJar("libtorch_cpu.so"), Files.size(find(cache, "libtorch_cpu.so")),
                "libtorch_cpu.so extracted again");
    }

    private static void runWorkers(Path dir, Path cache, int count) throws Exception {
        List<Process> procs = new ArrayList<>();
        List<Path> logs = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Path log = dir.resolve("worker" + i + ".log");
            logs.add(log);
            procs.add(new ProcessBuilder(Fixtures.javaCommand(FreshCacheWorker.class,
                    List.of("-Dorg.bytedeco.javacpp.cachedir=" + cache)))
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start());
        }
        for (int i = 0; i < count; i++) {
            Process p = procs.get(i);
            boolean done = p.waitFor(300, TimeUnit.SECONDS);
            if (!done) {
                procs.forEach(Process::destroyForcibly);
            }
            String out = Files.readString(logs.get(i), StandardCharsets.UTF_8);
            assertTrue(done, "worker " + i + " did not finish within 300 s:\n" + out);
            assertEquals(0, p.exitValue(), "worker " + i + " failed:\n" + out);
            assertTrue(out.contains("MAX_ERROR "), out);
            double err = Double.parseDouble(out.substring(out.indexOf("MAX_ERROR ") + 10).trim().split("\\s")[0]);
            assertTrue(err <= 1e-6, "worker " + i + ": max error " + err);
            String libs = out.substring(out.indexOf("LIBTORCH_CPU ") + 13, out.indexOf("MAX_ERROR ")).trim();
            assertTrue(libs.contains(cache.toString()), "worker " + i + " mapped " + libs);
            assertFalse(libs.contains("libtorch_cpu.so.1"), "worker " + i + " mapped a system LibTorch: " + libs);
        }
    }

    @Test
    void thisTestJvmLoadedOnlyThePresetsLibTorch() throws IOException {
        Torch.load();
        TreeSet<String> libs = FreshCacheWorker.mappedLibtorchCpu();
        assertFalse(libs.isEmpty(), "no libtorch_cpu mapped");
        for (String lib : libs) {
            assertTrue(lib.contains("org/bytedeco/pytorch/"), "mapped a LibTorch from outside JavaCPP's cache: " + lib);
        }
    }

    private static Path find(Path root, String name) throws IOException {
        try (var s = Files.walk(root)) {
            return s.filter(p -> p.getFileName().toString().equals(name)).findFirst()
                    .orElseThrow(() -> new AssertionError(name + " not in " + root));
        }
    }

    private static long sizeInJar(String name) throws IOException {
        var url = Torch.class.getResource("/org/bytedeco/pytorch/" + Torch.platform() + "/" + name);
        assertTrue(url != null, name + " not on the class path");
        try (var in = url.openStream()) {
            return in.transferTo(java.io.OutputStream.nullOutputStream());
        }
    }
}
