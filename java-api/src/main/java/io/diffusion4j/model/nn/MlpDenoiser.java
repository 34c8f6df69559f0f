package io.diffusion4j.model.nn;

import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.List;

/** The {@link Architecture.Type#MLP} denoiser: {@code net(cat(flatten(x), temb(t)))}, SiLU between layers. */
public final class MlpDenoiser extends NetDenoiser {
    private final List<NnModule.Layer> layers = new ArrayList<>();
    private final long flat;

    MlpDenoiser(Architecture a, Device device) {
        super(a, "mlp", device, a.timeEmbedding());
        long d = 1;
        for (long s : a.sampleShape()) {
            d *= s;
        }
        this.flat = d;
        long in = d + a.timeEmbedding();
        int index = 0;
        for (int i = 0; i < a.depth(); i++) {
            layers.add(net.linear("net." + index, in, a.width()));
            in = a.width();
            index += 2;   // nn.Sequential(Linear, SiLU, Linear, SiLU, ...): the SiLUs take the odd indices
        }
        layers.add(net.linear("net." + index, in, d));
    }

    @Override
    protected Tensor run(Tensor sample, Tensor timesteps, Tensor classLabels, Tensor guidanceScale) {
        long b = sample.size(0);
        Tensor h = Tensor.cat(List.of(sample.reshape(b, flat), timestepEmbedding(timesteps, b)), 1);
        for (int i = 0; i < layers.size() - 1; i++) {
            h = layers.get(i).forward(h).silu();
        }
        return layers.get(layers.size() - 1).forward(h).reshape(sample.shape());
    }
}
