package io.diffusion4j.cli;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;

/** {@code train}: which model is trained, an existing one (--model) or a new Java-built network (--arch ...). */
final class TrainModelOptions {
    @Option(names = {"-m", "--model"}, paramLabel = "NAME|DIR",
            description = "A built-in model or a model folder to fine-tune (not needed with --resume or --arch).")
    String model;

    @Option(names = "--arch", paramLabel = "mlp|unet",
            description = "Train a new Java-built network instead of a model.pt: mlp (any sample shape, e.g. 2-D points) "
                    + "or unet ([C, H, W] images, class-conditional with a null class when the data has labels). "
                    + "Exported as weights.pt (a PyTorch state dict) + its architecture in diffusion4j.json.")
    String arch;

    @Option(names = "--sample-shape", paramLabel = "D[,D...]",
            description = "Sample shape, e.g. 2 or 3,32,32: images are resized to it (default: diffusion4j.json's, a "
                    + "tensor file's, or an image folder's first image's; required for --arch with an image folder).")
    String sampleShape;

    @Option(names = "--value-range", paramLabel = "MIN,MAX",
            description = "The range images are mapped to, for a model folder without diffusion4j.json "
                    + "(default: -1,1, diffusers' convention; written to the exported diffusion4j.json).")
    String valueRange;

    @Option(names = "--width", paramLabel = "N",
            description = "--arch width: hidden units (mlp, default 128) or base channels (unet, default 32).")
    Integer width;

    @Option(names = "--depth", paramLabel = "N",
            description = "--arch depth: hidden layers (mlp, default 3) or middle ResBlocks (unet, default 2).")
    Integer depth;

    @Option(names = "--prediction-type", paramLabel = "T", defaultValue = "epsilon",
            description = "What a new --arch network predicts: epsilon, v_prediction or sample (default: "
                    + "${DEFAULT-VALUE}); its scheduler is DDPM, 1000 steps, linear betas 1e-4..0.02.")
    String predictionType;

    @Option(names = "--reinit",
            description = "Re-initialise the model's weights before training (PyTorch's default initialisation by "
                    + "layer, seeded by --seed): train the architecture from scratch.")
    boolean reinit;

    void check(ParseResult given, boolean resuming) {
        if (reinit && resuming) {
            throw new UsageException("--reinit starts from new weights; it cannot be combined with --resume");
        }
        if (arch != null && !arch.equals("mlp") && !arch.equals("unet")) {
            throw new UsageException("--arch must be mlp or unet, got " + arch);
        }
        if (arch != null && (model != null || resuming)) {
            throw new UsageException("--arch builds a new network; it cannot be combined with "
                    + (model != null ? "--model" : "--resume"));
        }
        if (arch == null && (width != null || depth != null || given.hasMatchedOption("--prediction-type"))) {
            throw new UsageException("--width, --depth and --prediction-type describe a new --arch network");
        }
        if (resuming && (sampleShape != null || valueRange != null)) {
            throw new UsageException("--sample-shape and --value-range cannot change a resumed run's model");
        }
        if (width != null && width < 1 || depth != null && depth < 0) {
            throw new UsageException("--width must be >= 1 and --depth >= 0, got " + width + " and " + depth);
        }
        if (model == null && !resuming && arch == null) {
            throw new UsageException("--model NAME|DIR is required (or --resume DIR, or --arch mlp|unet)");
        }
    }

    /** {@code --sample-shape} as sizes, or null when not given. */
    long[] sampleShape() {
        if (sampleShape == null) {
            return null;
        }
        long[] shape;
        try {
            shape = Arrays.stream(sampleShape.split(",")).mapToLong(x -> Long.parseLong(x.trim())).toArray();
        } catch (NumberFormatException e) {
            throw new UsageException("--sample-shape must be sizes separated by commas, e.g. 1,8,8, got "
                    + sampleShape);
        }
        if (Arrays.stream(shape).anyMatch(d -> d < 1)) {
            throw new UsageException("--sample-shape sizes must be >= 1, got " + sampleShape);
        }
        return shape;
    }

    /** How the run's model was made, for the run record (provenance; a resume keeps its checkpoint's model). */
    Map<String, String> settings(String modelLocation) {
        Map<String, String> s = new LinkedHashMap<>();
        if (arch != null) {
            s.put("arch", arch);
            s.put("prediction-type", predictionType);
            if (width != null) {
                s.put("width", width.toString());
            }
            if (depth != null) {
                s.put("depth", depth.toString());
            }
        } else if (modelLocation != null) {
            s.put("model", modelLocation);
            s.put("reinit", Boolean.toString(reinit));
        }
        if (sampleShape != null) {
            s.put("sample-shape", sampleShape);
        }
        if (valueRange != null) {
            s.put("value-range", valueRange);
        }
        return s;
    }
}
