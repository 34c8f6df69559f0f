package io.diffusion4j.cli;

import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.models.BuiltinModels;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code diffusion4j info}: what this installation runs on. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Print LibTorch and JavaCPP versions, platform, threads, CUDA devices and built-in models.")
final class InfoCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        Torch.load();
        out.println("libtorch:       " + Torch.libtorchVersion());
        out.println("javacpp:        " + Torch.javacppVersion());
        out.println("presets:        " + Torch.presetsVersion());
        out.println("platform:       " + Torch.platform() + (Torch.isGpuBuild() ? " (GPU build)" : " (CPU build)"));
        out.println("java:           " + System.getProperty("java.version") + " (" + System.getProperty("java.vendor") + ")");
        out.println("threads:        " + Torch.threads());
        boolean cuda = Torch.cudaAvailable();
        out.println("cuda:           " + cuda);
        out.println("devices:        " + Torch.devices().stream().map(Device::toString).collect(Collectors.joining(", ")));
        var models = BuiltinModels.names();
        out.println("builtin models: " + (models.isEmpty() ? "(none)" : String.join(", ", models)));
        out.flush();
        return 0;
    }
}
