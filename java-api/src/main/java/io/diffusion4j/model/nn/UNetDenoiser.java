package io.diffusion4j.model.nn;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * The {@link Architecture.Type#UNET} denoiser (the layout of the built-in digits model; see {@link Architecture}).
 * Parameter names follow that PyTorch module ({@code time_mlp.0}, {@code class_emb}, {@code emb_proj},
 * {@code conv_in}, {@code down_block.*}, {@code downsample}, {@code mid.N.*}, {@code upsample}, {@code up_block.*},
 * {@code norm_out}, {@code conv_out}), so its state dict is interchangeable with that module's; with
 * {@link Architecture#guidanceEmbedding()} also {@code w_mlp.0} and {@code w_mlp.2}, as test-models'
 * {@code DigitsGuidanceUNet} (make_guidance_student.py) names them.
 */
public final class UNetDenoiser extends NetDenoiser {

    /** {@code h = conv1(silu(norm1(x))) + emb; h = conv2(silu(norm2(h))); return h + skip(x)}. */
    private static final class ResBlock {
        final NnModule.Layer norm1;
        final NnModule.Layer conv1;
        final NnModule.Layer norm2;
        final NnModule.Layer conv2;
        final NnModule.Layer skip;

        ResBlock(NnModule net, String path, int cin, int cout, int groups) {
            norm1 = net.groupNorm(path + ".norm1", groups, cin);
            conv1 = net.conv2d(path + ".conv1", cin, cout, 3, 1, 1);
            norm2 = net.groupNorm(path + ".norm2", groups, cout);
            conv2 = net.conv2d(path + ".conv2", cout, cout, 3, 1, 1);
            skip = cin != cout ? net.conv2d(path + ".skip", cin, cout, 1, 1, 0) : null;
        }

        Tensor forward(Tensor x, Tensor emb) {
            Tensor h = conv1.forward(norm1.forward(x).silu()).add(emb.unsqueeze(2).unsqueeze(3));
            h = conv2.forward(norm2.forward(h).silu());
            return h.add(skip != null ? skip.forward(x) : x);
        }
    }

    private final int c;
    private final NnModule.Layer time0;
    private final NnModule.Layer time2;
    private final NnModule.Layer classEmb;
    private final NnModule.Layer guidance0;
    private final NnModule.Layer guidance2;
    private final NnModule.Layer embProj;
    private final NnModule.Layer convIn;
    private final ResBlock down;
    private final NnModule.Layer downsample;
    private final List<ResBlock> mid = new ArrayList<>();
    private final NnModule.Layer upsample;
    private final ResBlock up;
    private final NnModule.Layer normOut;
    private final NnModule.Layer convOut;

    /** The layer path of the guidance-scale MLP ({@code w_mlp.0}, {@code w_mlp.2}). */
    static final String GUIDANCE_MLP = "w_mlp";

    /** The guidance scale is embedded as {@code 100 w}, so that scales 1..10 spread over the sinusoid's range. */
    private static final double GUIDANCE_EMBEDDING_SCALE = 100.0;

    UNetDenoiser(Architecture a, Device device) {
        super(a, "unet", device, a.width());
        c = a.width();
        int e = a.timeEmbedding();
        int g = a.groups();
        int channels = (int) a.sampleShape()[0];
        time0 = net.linear("time_mlp.0", c, e);
        time2 = net.linear("time_mlp.2", e, e);
        classEmb = a.isConditional() ? net.embedding("class_emb", a.numClasses() + 1L, e) : null;
        guidance0 = a.guidanceEmbedding() ? net.linear(GUIDANCE_MLP + ".0", c, e) : null;
        guidance2 = a.guidanceEmbedding() ? net.linear(GUIDANCE_MLP + ".2", e, e) : null;
        embProj = net.linear("emb_proj", e, c + 2L * c * a.depth() + c);
        convIn = net.conv2d("conv_in", channels, c, 3, 1, 1);
        down = new ResBlock(net, "down_block", c, c, g);
        downsample = net.conv2d("downsample", c, 2L * c, 3, 2, 1);
        for (int i = 0; i < a.depth(); i++) {
            mid.add(new ResBlock(net, "mid." + i, 2 * c, 2 * c, g));
        }
        upsample = net.conv2d("upsample", 2L * c, 4L * c, 1, 1, 0);
        up = new ResBlock(net, "up_block", 2 * c, c, g);
        normOut = net.groupNorm("norm_out", g, c);
        convOut = net.conv2d("conv_out", c, channels, 3, 1, 1);
    }

    /** Zeroes the guidance MLP's last layer: the network then equals the same UNet without it, at every w. */
    @Override
    void zeroInitialise() {
        if (guidance2 != null) {
            try (NativeScope scope = new NativeScope()) {
                LinkedHashMap<String, Tensor> named = net.namedParameters();
                named.get(GUIDANCE_MLP + ".2.weight").fillInPlace(0.0);
                named.get(GUIDANCE_MLP + ".2.bias").fillInPlace(0.0);
            }
        }
    }

    @Override
    protected Tensor run(Tensor sample, Tensor timesteps, Tensor classLabels, Tensor guidanceScale) {
        long b = sample.size(0);
        Tensor e = time2.forward(time0.forward(timestepEmbedding(timesteps, b)).silu());
        if (classEmb != null) {
            e = e.add(classEmb.forward(classLabels));
        }
        if (guidance0 != null) {
            Tensor w = guidanceScale.to(DType.FLOAT32).mul(GUIDANCE_EMBEDDING_SCALE);
            e = e.add(guidance2.forward(guidance0.forward(timestepEmbedding(w, b)).silu()));
        }
        Tensor p = embProj.forward(e.silu());
        Tensor h1 = down.forward(convIn.forward(sample), p.narrow(1, 0, c));
        Tensor h = downsample.forward(h1);
        long o = c;
        for (ResBlock blk : mid) {
            h = blk.forward(h, p.narrow(1, o, 2L * c));
            o += 2L * c;
        }
        h = upsample.forward(h).pixelShuffle(2);
        h = up.forward(Tensor.cat(List.of(h, h1), 1), p.narrow(1, o, c));
        return convOut.forward(normOut.forward(h).silu());
    }
}
