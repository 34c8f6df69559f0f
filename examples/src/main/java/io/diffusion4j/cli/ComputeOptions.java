package io.diffusion4j.cli;

import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Torch;
import picocli.CommandLine.Option;

/** {@code --device} and {@code --threads} of the commands that train or tune against a model (a picocli mixin). */
final class ComputeOptions {
    @Option(names = "--device", paramLabel = "D", defaultValue = "cpu",
            description = "cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--threads", paramLabel = "N",
            description = "LibTorch intra-op threads (default: LibTorch's; 1 is fastest for small models).")
    Integer threads;

    /** Sets LibTorch's intra-op threads when {@code --threads} was given and parses {@code --device}. */
    Device apply() {
        if (threads != null) {
            if (threads < 1) {
                throw new UsageException("--threads must be >= 1, got " + threads);
            }
            Torch.setThreads(threads);
        }
        try {
            return Torch.device(device);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--device: " + e.getMessage());
        }
    }
}
