package io.diffusion4j.cli;

import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.image.Images;
import io.diffusion4j.model.ModelSpec;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code diffusion4j img2img}: SDEdit. */
@Command(name = "img2img", mixinStandardHelpOptions = true,
        description = "Noise an input image to the level --strength picks and denoise it back (SDEdit).")
final class Img2ImgCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    GenerationOptions options = new GenerationOptions();

    @Option(names = "--input", required = true, paramLabel = "PNG", description = "Input image (PNG or JPEG).")
    Path input;

    @Option(names = "--strength", defaultValue = "0.6", paramLabel = "S",
            description = "0 = return the input, 1 = ignore it (default: ${DEFAULT-VALUE}).")
    double strength;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "PNG", description = "PNG grid to write.")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (!(strength >= 0 && strength <= 1)) {
            throw new UsageException("--strength must be in [0, 1], got " + strength);
        }
        return Generation.run(options, out, spec.commandLine().getOut(), spec.commandLine().getErr(), (ctx, req) -> {
            Tensor image = loadImage(input, ctx);
            req.image(ctx.latent() == null ? image : ctx.latent().encodeImage(image), strength);
        });
    }

    /**
     * Reads an image as a [1, C, H, W] tensor in the model's value range, resized to its sample size; for a latent
     * model the autoencoder's image size (the latent's size times its downsampling factor), in [-1, 1].
     */
    static Tensor loadImage(Path file, Generation.RunContext ctx) throws java.io.IOException {
        if (ctx.latent() == null) {
            return loadImage(file, ctx.spec());
        }
        long[] s = imageShape(ctx);
        BufferedImage img = Images.readImage(file);
        if (img.getWidth() != s[2] || img.getHeight() != s[1]) {
            img = Images.resize(img, (int) s[2], (int) s[1]);
        }
        return Images.toTensor(img, (int) s[0], io.diffusion4j.image.ValueRange.MINUS_ONE_TO_ONE);
    }

    /** The image shape [C, H, W] a command's input is resized to: the sample's, or the decoded latent's. */
    static long[] imageShape(Generation.RunContext ctx) {
        long[] s = ctx.spec().sampleShape();
        if (ctx.latent() == null) {
            return s;
        }
        var c = ctx.latent().autoencoder().config();
        int f = c.downsamplingFactor();
        return new long[] {c.inChannels(), s[1] * f, s[2] * f};
    }

    /** Reads an image as a [1, C, H, W] tensor in the model's value range, resized to its sample size. */
    static Tensor loadImage(Path file, ModelSpec spec) throws java.io.IOException {
        if (spec == null || spec.valueRange() == null || spec.sampleShape().length != 3) {
            throw new UsageException("this model does not take images (its diffusion4j.json has no image sample_shape"
                    + " [C, H, W] with a value_range; without a diffusion4j.json give --sample-shape C,H,W)");
        }
        long[] s = spec.sampleShape();
        BufferedImage img = Images.readImage(file);
        if (img.getWidth() != s[2] || img.getHeight() != s[1]) {
            img = Images.resize(img, (int) s[2], (int) s[1]);
        }
        return Images.toTensor(img, (int) s[0], spec.valueRange());
    }
}
