package io.diffusion4j.model.diffusers;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Tensor;
import java.util.List;

/**
 * diffusers' {@code Timesteps} ({@code get_timestep_embedding}): frequencies {@code exp(-ln(10000) i / (half -
 * freq_shift))} in float32, {@code cat(sin(t f), cos(t f))}, halves swapped when {@code flip_sin_to_cos}, a zero
 * column appended for an odd dimension. No parameters.
 */
final class Timesteps {
    private final int dim;
    private final boolean flipSinToCos;
    private final double freqShift;

    Timesteps(int dim, boolean flipSinToCos, double freqShift) {
        this.dim = dim;
        this.flipSinToCos = flipSinToCos;
        this.freqShift = freqShift;
    }

    Tensor forward(Tensor timesteps) {
        int half = dim / 2;
        float[] k = new float[half];
        for (int i = 0; i < half; i++) {
            k[i] = i;
        }
        Tensor freqs = Tensor.fromFloats(k, 1, half).mul(-Math.log(10000.0)).div(half - freqShift).exp();
        if (!timesteps.device().equals(io.diffusion4j.bindings.Device.CPU)) {
            freqs = freqs.to(timesteps.device());
        }
        Tensor a = timesteps.to(DType.FLOAT32).unsqueeze(1).mul(freqs);
        Tensor emb = flipSinToCos ? Tensor.cat(List.of(a.cos(), a.sin()), 1) : Tensor.cat(List.of(a.sin(), a.cos()), 1);
        return dim % 2 == 1 ? emb.pad2d(0, 1, 0, 0) : emb;
    }
}
