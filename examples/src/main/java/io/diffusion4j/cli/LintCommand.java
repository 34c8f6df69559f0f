package io.diffusion4j.cli;

import io.diffusion4j.lint.ConfigCheck;
import io.diffusion4j.lint.Finding;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelNotFoundException;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code diffusion4j lint}: the configuration check, on its own. */
@Command(name = "lint", mixinStandardHelpOptions = true,
        description = "Check a model folder's scheduler_config.json for combinations known to give wrong images; "
                + "prints one line per problem with its fix, exits 1 when one is known to produce wrong images.")
final class LintCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, required = true, paramLabel = "NAME|DIR", description = "A built-in model or a model folder.")
    String model;

    @Option(names = "--scheduler", paramLabel = "NAME",
            description = "The scheduler to check for (default: the config's _class_name): " + "ddpm, ddim, euler, "
                    + "euler-a, heun, dpmsolver++, sde-dpmsolver++ or adaptive.")
    String scheduler;

    @Option(names = "--guidance", paramLabel = "G", defaultValue = "1",
            description = "The classifier-free guidance scale to check for (default: ${DEFAULT-VALUE}).")
    double guidance;

    @Override
    public Integer call() throws Exception {
        ModelFolder folder;
        try {
            folder = ModelFolder.resolve(model);
        } catch (ModelNotFoundException e) {
            throw new UsageException("--model: " + e.getMessage());
        }
        SchedulerConfig config = folder.schedulerConfig();
        if (config == null) {
            throw new UsageException(folder.location() + " has no scheduler_config.json: it is not a denoiser");
        }
        String name = scheduler != null ? scheduler.trim().toLowerCase(Locale.ROOT) : Schedulers.nameOf(config);
        if (!Schedulers.NAMES.contains(name)) {
            throw new UsageException((scheduler != null ? "--scheduler" : "the config's _class_name") + " '" + name
                    + "' is not one of " + String.join(", ", Schedulers.NAMES));
        }
        if (!(guidance >= 0) || Double.isInfinite(guidance)) {
            throw new UsageException("--guidance must be >= 0, got " + guidance);
        }
        List<Finding> findings = ConfigCheck.check(config, name, guidance, folder.spec());
        PrintWriter out = spec.commandLine().getOut();
        for (Finding f : findings) {
            out.println(f);
        }
        if (findings.isEmpty()) {
            out.printf("%s: no known problems with %s, guidance %s%n", folder.location(), name, guidance);
        }
        out.flush();
        return ConfigCheck.hasErrors(findings) ? Main.EXIT_FAILURE : 0;
    }

    /** Prints each finding as one warning line, as every command does at its start. */
    static void warn(List<Finding> findings, PrintWriter err) {
        for (Finding f : findings) {
            err.println("diffusion4j: warning: " + f.message());
        }
        err.flush();
    }
}
