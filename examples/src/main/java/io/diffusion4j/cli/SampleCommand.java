package io.diffusion4j.cli;

import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code diffusion4j sample}. */
@Command(name = "sample", mixinStandardHelpOptions = true,
        description = "Generate samples with DDPM or DDIM; write a PNG grid (image models) and/or a tensor file.")
final class SampleCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    GenerationOptions options = new GenerationOptions();

    @Option(names = {"-o", "--out"}, paramLabel = "PNG",
            description = "PNG grid to write (default for image models: sample.png).")
    Path out;

    @Option(names = "--init-noise", paramLabel = "FILE",
            description = "Initial noise x_T as a tensor file (what torch.save writes); fixes the shape and batch.")
    Path initNoise;

    @Override
    public Integer call() throws Exception {
        return Generation.run(options, out, spec.commandLine().getOut(), spec.commandLine().getErr(), (ctx, req) -> {
            if (initNoise != null) {
                Tensor noise = TensorFiles.read(initNoise);
                if (noise.dim() < 2) {
                    throw new UsageException("--init-noise " + initNoise + " holds " + noise.describe()
                            + "; expected [batch, ...sample shape]");
                }
                if (options.batch != 1 && options.batch != noise.size(0)) {
                    throw new UsageException("--batch " + options.batch + " does not match --init-noise batch "
                            + noise.size(0));
                }
                options.batch = (int) noise.size(0);
                req.batchSize(options.batch).initNoise(noise);
            }
        });
    }
}
