package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.TensorFiles;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code sample --timesteps}: the listed run, and one-line usage errors for lists that cannot run. */
class TimestepsOptionTest {
    @TempDir
    Path tmp;

    static void assertUsageError(CommandsTest.Result r, String... mentions) {
        assertEquals(Main.EXIT_USAGE, r.code(), () -> "stdout: " + r.out() + "\nstderr: " + r.err());
        assertEquals(1, r.errLines().size(), r.err());
        for (String m : mentions) {
            assertTrue(r.err().contains(m), () -> "stderr should mention '" + m + "': " + r.err());
        }
    }

    @Test
    void sampleRunsTheListedTimesteps() throws Exception {
        Path a = tmp.resolve("a.pt");
        Path b = tmp.resolve("b.pt");
        // DDIM's own 4 leading timesteps given as a list: the same samples as --steps 4
        CommandsTest.Result r = CommandsTest.run("sample", "--model", "toy2d", "--scheduler", "ddim", "--timesteps",
                "750,500,250,0", "--batch", "3", "--save-tensor", a.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("4 ddim steps"), r.out());
        assertEquals(0, CommandsTest.run("sample", "--model", "toy2d", "--scheduler", "ddim", "--steps", "4",
                "--batch", "3", "--save-tensor", b.toString()).code());
        try (NativeScope scope = new NativeScope()) {
            assertArrayEquals(TensorFiles.read(b).toFloatArray(), TensorFiles.read(a).toFloatArray());
        }
    }

    @Test
    void listsThatCannotRunAreUsageErrors() {
        assertUsageError(CommandsTest.run("sample", "--model", "toy2d", "--timesteps", "999,10,500", "--save-tensor",
                tmp.resolve("x.pt").toString()), "--timesteps", "strictly decreasing", "10 then 500");
        assertUsageError(CommandsTest.run("sample", "--model", "toy2d", "--timesteps", "1000,10", "--save-tensor",
                tmp.resolve("x.pt").toString()), "--timesteps", "outside 0..999");
        assertUsageError(CommandsTest.run("sample", "--model", "toy2d", "--timesteps", "999,500", "--steps", "3",
                "--save-tensor", tmp.resolve("x.pt").toString()), "--steps 3", "2 timesteps");
        assertUsageError(CommandsTest.run("sample", "--model", "toy2d", "--scheduler", "adaptive", "--timesteps",
                "999,500", "--save-tensor", tmp.resolve("x.pt").toString()), "picks its own timesteps");
        assertUsageError(CommandsTest.run("sample", "--model", "toy2d", "--scheduler", "euler", "--karras",
                "--timesteps", "999,500", "--save-tensor", tmp.resolve("x.pt").toString()), "--karras");
    }
}
