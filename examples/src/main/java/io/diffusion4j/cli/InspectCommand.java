package io.diffusion4j.cli;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.image.ValueRange;
import io.diffusion4j.inspect.Inspection;
import io.diffusion4j.inspect.ModelInspector;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelNotFoundException;
import io.diffusion4j.model.ModelSpec;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code diffusion4j inspect}: what a TorchScript denoiser takes, found by calling it. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Probe a model folder's model.pt: forward signature, class labels, output shape for a sample "
                + "shape, accepted timestep dtypes; --write saves what it found as diffusion4j.json.")
final class InspectCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, required = true, paramLabel = "NAME|DIR", description = "A built-in model or a model folder.")
    String model;

    @Option(names = "--sample-shape", paramLabel = "D[,D...]",
            description = "Shape of one sample to probe with, e.g. 3,32,32 (default: diffusion4j.json's sample_shape).")
    String sampleShape;

    @Option(names = "--value-range", paramLabel = "MIN,MAX",
            description = "The data's range, for --write (default: -1,1 for [C, H, W] samples, none otherwise).")
    String valueRange;

    @Option(names = "--null-class-id", paramLabel = "K",
            description = "For --write, a class-conditional model's unconditional class id (default: none).")
    Integer nullClassId;

    @Option(names = "--write", description = "Save what was found as the folder's diffusion4j.json (refused if it has one).")
    boolean write;

    @Override
    public Integer call() throws Exception {
        ModelFolder folder;
        try {
            folder = ModelFolder.resolve(model);
        } catch (ModelNotFoundException e) {
            throw new UsageException("--model: " + e.getMessage());
        }
        if (folder.architecture() != null) {
            throw new UsageException(folder.location() + " holds a Java-built " + folder.architecture().type().name()
                    .toLowerCase(java.util.Locale.ROOT) + " network, described by its diffusion4j.json already");
        }
        long[] shape = SampleShapes.parse("--sample-shape", sampleShape);
        if (shape == null && folder.spec() != null) {
            shape = folder.spec().sampleShape();
        }
        ValueRange range = ValueRanges.parse("--value-range", valueRange);
        Path specFile = null;
        if (write) {
            if (!folder.location().equals(model) || !Files.isDirectory(Path.of(model))) {
                throw new UsageException("--write needs a model folder on disk, not the built-in " + folder.location());
            }
            specFile = Path.of(model).resolve(ModelSpec.FILE_NAME);
            if (Files.exists(specFile)) {
                throw new UsageException(specFile + " exists; --write does not replace it (remove it first)");
            }
            if (shape == null) {
                throw new UsageException("--write needs --sample-shape D[,D...] (diffusion4j.json's sample_shape)");
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        Inspection found;
        try (TorchScriptModule module = folder.loadModule(Device.CPU)) {
            found = ModelInspector.inspect(module, shape);
        }
        out.println("model: " + folder.location() + "/" + ModelFolder.MODEL_FILE);
        out.println("forward: (" + found.arguments().stream().map(Object::toString).collect(Collectors.joining(", "))
                + ")");
        out.println("class labels: " + (!found.takesClassLabels() ? "no"
                : found.classIds() > 0 ? "yes, ids 0.." + (found.classIds() - 1) + " accepted" : "yes"));
        if (shape == null) {
            out.println("output shape: not probed (give --sample-shape D[,D...])");
        } else if (found.outputShape() == null) {
            out.println("sample shape " + Arrays.toString(shape) + ": not accepted (" + found.failure() + ")");
        } else {
            out.println("output shape for " + Arrays.toString(batch(shape)) + ": " + Arrays.toString(found.outputShape())
                    + (found.ok() ? "" : " (not the sample's shape)"));
            out.println("timestep dtypes accepted: " + found.timestepDTypes().stream().map(DType::label)
                    .collect(Collectors.joining(", ")) + (found.embedsFractionalTimesteps()
                    ? " (fractional timesteps change the output: it embeds them as floats)" : ""));
            out.println("timestep_dtype: " + (found.declaredTimestepDType() != null ? found.declaredTimestepDType()
                    .label() : "null (the scheduler's own: float32 for euler, euler-a, heun, adaptive; int64 for "
                    + "ddpm, ddim, dpmsolver++)"));
        }
        out.println("diffusion4j.json: " + (folder.spec() != null ? "present" : "none"));
        if (write) {
            if (!found.ok()) {
                throw new UsageException("cannot write " + specFile + ": the model does not take samples "
                        + Arrays.toString(shape) + (found.failure() != null ? " (" + found.failure() + ")" : ""));
            }
            if (range == null && shape.length == 3) {
                range = ValueRange.MINUS_ONE_TO_ONE;
            }
            ModelSpec written;
            try {
                written = found.toSpec(Path.of(model).toAbsolutePath().getFileName().toString(), range,
                        nullClassId != null ? nullClassId : -1);
            } catch (IllegalArgumentException e) {
                throw new UsageException("--null-class-id: " + e.getMessage());
            }
            Path tmp = Files.createTempFile(specFile.getParent(), ModelSpec.FILE_NAME, ".tmp");
            try {
                Files.writeString(tmp, written.toJson());
                Files.move(tmp, specFile, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
            out.println("wrote " + specFile);
        }
        out.flush();
        return 0;
    }

    private static long[] batch(long[] shape) {
        long[] b = new long[shape.length + 1];
        b[0] = 2;
        System.arraycopy(shape, 0, b, 1, shape.length);
        return b;
    }
}
