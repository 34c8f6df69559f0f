package io.diffusion4j.cli;

import io.diffusion4j.bindings.StartupTrace;
import io.diffusion4j.bindings.Torch;
import java.io.PrintWriter;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The {@code diffusion4j} command line. */
@Command(name = "diffusion4j",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "Diffusion models on LibTorch: sample, noise and fine-tune PyTorch-trained denoisers.")
public final class Main implements Runnable {

    /**
     * The subcommands, in the order help lists them. Only the one a command line names is built (see
     * {@link #commandLine}): picocli's model of all of them took about twice as long to build as one (BENCHMARKS.md,
     * issue 20, third pass).
     */
    static final List<Class<?>> COMMANDS = List.of(InfoCommand.class, SampleCommand.class, Img2ImgCommand.class,
            InpaintCommand.class, BenchCommand.class, ServeCommand.class, TrainCommand.class, DistillCommand.class,
            LintCommand.class, InspectCommand.class, TuneScheduleCommand.class, EvaluateCommand.class,
            CommandLine.HelpCommand.class);

    /** Exit code for a usage error (unknown option, bad value). */
    public static final int EXIT_USAGE = 2;
    /** Exit code for a failure while running (bad model file, native error). */
    public static final int EXIT_FAILURE = 1;

    @Option(names = "--verbose", scope = CommandLine.ScopeType.INHERIT,
            description = "Print stack traces and debug logging.")
    boolean verbose;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command; try 'diffusion4j --help'");
    }

    public static void main(String[] args) {
        StartupTrace.mark("main entered");
        debugLoggingIfVerbose(args); // before the background load creates the first logger
        Thread loader = preloadNatives(args);
        int code = run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true));
        if (loader != null) {
            // a usage error can come before any native call: never exit while LibTorch's static initialisers run
            try {
                loader.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (StartupTrace.enabled()) {
            StartupTrace.mark("exiting");
            System.err.println("diffusion4j: start-up trace (ms since the process started, thread, phase ended)");
            StartupTrace.marks().forEach(m -> System.err.println("  " + m));
        }
        System.exit(code);
    }

    /** Commands that never touch LibTorch (or only to print a usage error first), so their start loads nothing. */
    private static final java.util.Set<String> WITHOUT_NATIVES = java.util.Set.of("lint", "help");

    /**
     * Starts loading LibTorch (about 0.3 s of dynamic linking and static initialisers, plus JavaCPP's class loading)
     * on a background thread, so that it overlaps with the JVM's own start, picocli's parsing and reading the model
     * folder; the first native call waits for it ({@link Torch#load()} is synchronised). Not for commands that do
     * not load natives, {@code --help} and {@code --version}. A failure here is ignored: the command's own first
     * native call fails again, with the usual message and exit code.
     *
     * @return the loading thread, or null if none was started
     */
    static Thread preloadNatives(String[] args) {
        if (args.length == 0 || WITHOUT_NATIVES.contains(args[0]) || args[0].startsWith("-")) {
            return null;
        }
        for (String a : args) {
            if (a.equals("--help") || a.equals("-h") || a.equals("--version") || a.equals("-V")) {
                return null;
            }
        }
        Thread t = new Thread(() -> {
            try {
                Torch.load();
            } catch (RuntimeException | LinkageError e) {
                // reported by the command's own first native call
            }
        }, "diffusion4j-load-natives");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** Runs the CLI and returns its exit code (for tests and embedding). */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        boolean verbose = debugLoggingIfVerbose(args);
        CommandLine cli = commandLine(args);
        cli.setOut(out);
        cli.setErr(err);
        cli.setParameterExceptionHandler((ex, a) -> {
            String sub = ex.getCommandLine().getCommandName();
            err.println("diffusion4j: " + ex.getMessage() + " (see '"
                    + ("diffusion4j".equals(sub) ? "diffusion4j" : "diffusion4j " + sub) + " --help')");
            err.flush();
            return EXIT_USAGE;
        });
        cli.setExecutionExceptionHandler((ex, c, parseResult) -> {
            if (ex instanceof CommandLine.ParameterException pe) {
                return c.getParameterExceptionHandler().handleParseException(pe, args);
            }
            if (ex instanceof UsageException) {
                err.println("diffusion4j: " + ex.getMessage());
                err.flush();
                return EXIT_USAGE;
            }
            err.println("diffusion4j: error: " + firstLine(ex));
            if (verbose) {
                ex.printStackTrace(err);
            } else {
                err.println("(run with --verbose for details)");
            }
            err.flush();
            return EXIT_FAILURE;
        });
        return cli.execute(args);
    }

    /**
     * The command line for {@code args}: with only the subcommand that {@code args[0]} names, or with all of them
     * (for help, a usage error naming no command, an option before the command).
     */
    static CommandLine commandLine(String[] args) {
        CommandLine cli = new CommandLine(new Main());
        Class<?> named = null;
        if (args.length > 0 && !args[0].equals("help")) {
            for (Class<?> c : COMMANDS) {
                if (c.getAnnotation(Command.class).name().equals(args[0])) {
                    named = c;
                    break;
                }
            }
        }
        for (Class<?> c : named != null ? List.of(named) : COMMANDS) {
            cli.addSubcommand(c);
        }
        return cli;
    }

    private static boolean debugLoggingIfVerbose(String[] args) {
        boolean verbose = java.util.Arrays.asList(args).contains("--verbose");
        if (verbose) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "debug");
        }
        return verbose;
    }

    private static String firstLine(Throwable ex) {
        String m = ex.getMessage();
        if (m == null || m.isBlank()) {
            return ex.getClass().getSimpleName();
        }
        return m.lines().findFirst().orElse(m);
    }
}
