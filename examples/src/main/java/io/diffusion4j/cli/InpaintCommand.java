package io.diffusion4j.cli;

import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.image.Images;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code diffusion4j inpaint}. */
@Command(name = "inpaint", mixinStandardHelpOptions = true,
        description = "Repaint the white area of --mask in --input; the rest of the image is kept.")
final class InpaintCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    GenerationOptions options = new GenerationOptions();

    @Option(names = "--input", required = true, paramLabel = "PNG", description = "Input image (PNG or JPEG).")
    Path input;

    @Option(names = "--mask", required = true, paramLabel = "PNG",
            description = "Mask of the input's size: white = repaint, black = keep.")
    Path mask;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "PNG", description = "PNG grid to write.")
    Path out;

    @Override
    public Integer call() throws Exception {
        return Generation.run(options, out, spec.commandLine().getOut(), spec.commandLine().getErr(), (ctx, req) -> {
            BufferedImage in = Images.readImage(input);
            BufferedImage m = Images.readImage(mask);
            if (m.getWidth() != in.getWidth() || m.getHeight() != in.getHeight()) {
                throw new UsageException("--mask is " + m.getWidth() + "x" + m.getHeight() + ", --input is "
                        + in.getWidth() + "x" + in.getHeight() + ": they must be the same size");
            }
            Tensor image = Img2ImgCommand.loadImage(input, ctx);
            long[] s = Img2ImgCommand.imageShape(ctx);
            if (m.getWidth() != s[2] || m.getHeight() != s[1]) {
                m = Images.resize(m, (int) s[2], (int) s[1]);
            }
            Tensor pixelMask = Images.toMask(m, (int) s[1], (int) s[2]);
            if (ctx.latent() != null) {   // encode, blend in latent space with the mask at the latent's size
                req.inpaint(ctx.latent().encodeImage(image), ctx.latent().latentMask(pixelMask));
            } else {
                req.inpaint(image, pixelMask);
            }
        });
    }
}
