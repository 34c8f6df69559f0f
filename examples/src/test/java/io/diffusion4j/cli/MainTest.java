package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

class MainTest {

    record Result(int code, String out, String err) {
    }

    static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void infoPrintsVersionsAndCuda() {
        Result r = run("info");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("libtorch:       2.10."), r.out());
        assertTrue(r.out().contains("javacpp:        1.5.13"), r.out());
        assertTrue(r.out().matches("(?s).*cuda:\\s+(true|false).*"), r.out());
        assertTrue(r.out().contains("builtin models: "), r.out());
    }

    @Test
    void buildsOnlyTheNamedCommand() {
        assertEquals(java.util.Set.of("sample"), Main.commandLine(new String[] {"sample", "--model", "toy2d"})
                .getSubcommands().keySet());
        assertEquals(java.util.Set.of("tune-schedule"), Main.commandLine(new String[] {"tune-schedule", "--help"})
                .getSubcommands().keySet());
        java.util.List<String> all = java.util.List.of("info", "sample", "img2img", "inpaint", "bench", "serve", "train",
                "distill", "lint", "inspect", "tune-schedule", "evaluate", "help");
        for (String[] args : new String[][] {{}, {"--help"}, {"help", "sample"}, {"frobnicate"}, {"--verbose", "info"}}) {
            assertEquals(all, java.util.List.copyOf(Main.commandLine(args).getSubcommands().keySet()),
                    String.join(" ", args));
        }
        Result help = run("--help");
        for (String name : all) {
            assertTrue(help.out().contains("  " + name + " "), name + " in\n" + help.out());
        }
        Result sub = run("help", "sample");
        assertEquals(0, sub.code(), sub.err());
        assertTrue(sub.out().contains("Usage: diffusion4j sample"), sub.out());
    }

    @Test
    void helpOnEveryCommand() {
        assertEquals(0, run("--help").code());
        Result r = run("info", "--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("Usage: diffusion4j info"), r.out());
    }

    @Test
    void usageErrorsExitWithTwoAndOneLine() {
        Result unknown = run("info", "--bogus");
        assertEquals(Main.EXIT_USAGE, unknown.code());
        assertEquals(1, unknown.err().lines().count(), unknown.err());
        assertTrue(unknown.err().startsWith("diffusion4j: Unknown option: '--bogus'"), unknown.err());
        Result noCommand = run("frobnicate");
        assertEquals(Main.EXIT_USAGE, noCommand.code());
        assertEquals(1, noCommand.err().lines().count(), noCommand.err());
        Result none = run();
        assertEquals(Main.EXIT_USAGE, none.code());
        assertTrue(none.err().contains("missing command"), none.err());
    }

    @Test
    void startsLoadingNativesInTheBackgroundOnlyForCommandsThatUseThem() throws Exception {
        for (String[] args : new String[][] {{}, {"lint", "--model", "toy2d"}, {"--version"}, {"sample", "--help"},
            {"help", "sample"}}) {
            assertEquals(null, Main.preloadNatives(args), String.join(" ", args));
        }
        Thread loader = Main.preloadNatives(new String[] {"sample", "--model", "toy2d"});
        assertTrue(loader != null && loader.isDaemon() && loader.getName().equals("diffusion4j-load-natives"));
        loader.join(60_000);
        assertEquals(false, loader.isAlive());
    }
}
