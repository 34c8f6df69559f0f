package io.diffusion4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.diffusion4j.benchmarks.SamplingOverhead;
import io.diffusion4j.bindings.Torch;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code diffusion4j bench}: sampling overhead over the model's own forward passes. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure a full sampling run against N bare forward calls of the same model (same process).")
final class BenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, defaultValue = "digits", description = "Model (default: ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--scheduler", defaultValue = "ddim", description = "ddpm or ddim (default: ${DEFAULT-VALUE}).")
    String scheduler;

    @Option(names = "--steps", defaultValue = "50", description = "Steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = {"-b", "--batch"}, defaultValue = "16", description = "Batch (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--repeats", defaultValue = "10", description = "Measured repeats (default: ${DEFAULT-VALUE}).")
    int repeats;

    @Option(names = "--warmup", defaultValue = "3", description = "Warm-up repeats (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--threads", description = "LibTorch intra-op threads (default: as sample chooses, 1 when batch x "
            + "sample elements < 1024, else up to 2); printed and recorded with the result.")
    Integer threads;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu or cuda[:N] (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--noise", defaultValue = "per-sample", paramLabel = "KIND", description = "per-sample (diffusers' "
            + "seeds, the default) or shared (one generator for the batch, as the Python baseline draws).")
    String noise;

    @Option(names = "--json", paramLabel = "FILE", description = "Write the result as JSON.")
    Path json;

    @Override
    public Integer call() throws Exception {
        if (steps < 1 || batch < 1 || repeats < 1 || warmup < 0) {
            throw new UsageException("--steps, --batch and --repeats must be >= 1, --warmup >= 0");
        }
        if (!noise.equals("per-sample") && !noise.equals("shared")) {
            throw new UsageException("--noise must be per-sample or shared, got " + noise);
        }
        if (threads != null) {
            if (threads < 1) {
                throw new UsageException("--threads must be >= 1, got " + threads);
            }
            Torch.setThreads(threads);
        } else {
            try {
                io.diffusion4j.model.ModelSpec ms = io.diffusion4j.model.ModelFolder.resolve(model).spec();
                if (ms != null && ms.sampleShape() != null) {
                    long elements = batch;
                    for (long d : ms.sampleShape()) {
                        elements *= d;
                    }
                    Torch.setThreads(Torch.defaultThreads(elements));
                }
            } catch (java.io.IOException | IllegalArgumentException e) {
                throw new UsageException("--model: " + e.getMessage());
            }
        }
        SamplingOverhead.Result r;
        try {
            r = SamplingOverhead.measure(model, scheduler, steps, batch, repeats, warmup, Torch.device(device),
                    noise.equals("shared"));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        PrintWriter out = spec.commandLine().getOut();
        out.printf("%s %s-%d batch %d, %d threads, %s, %s noise, %d repeats (median [min..max]):%n", r.model(),
                r.scheduler(), r.steps(), r.batch(), r.threads(), r.device(), r.noise(), r.repeats());
        out.printf("  forward only  %10.3f ms [%.3f..%.3f]%n", r.forwardOnlyMs(), r.forwardOnlyMinMs(), r.forwardOnlyMaxMs());
        out.printf("  full sampling %10.3f ms [%.3f..%.3f]%n", r.samplingMs(), r.samplingMinMs(), r.samplingMaxMs());
        out.printf("  overhead ratio %.4f, %.1f us per step%n", r.overheadRatio(), r.overheadUsPerStep());
        if (json != null) {
            Path parent = json.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(json.toFile(), r.toMap());
            out.println("wrote " + json);
        }
        out.flush();
        return 0;
    }
}
