package io.diffusion4j.model.diffusers.autoencoder;

import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;

/**
 * diffusers' {@code VectorQuantizer} as VQModel builds it ({@code quantize.embedding.weight}: {@code num_vq_embeddings}
 * rows of width {@code vq_embed_dim}; no remapping): every latent pixel becomes its nearest codebook entry by
 * Euclidean distance. The straight-through estimator and the commitment loss ({@code beta} 0.25, {@code legacy}) only
 * matter for training a VQModel, which is not done here; at inference {@code z + (z_q - z).detach()} is {@code z_q}
 * up to rounding.
 */
final class VectorQuantizer {
    private final Tensor codebook;

    VectorQuantizer(NnModule net, String path, int entries, int dim) {
        codebook = net.parameter(path + ".embedding.weight", false, entries, dim);
    }

    /** The index of the nearest entry of each pixel of {@code z} {@code [B, D, h, w]}, as {@code [B * h * w]}. */
    Tensor nearest(Tensor z) {
        long d = z.size(1);
        Tensor flat = z.permute(0, 2, 3, 1).reshape(-1, d);
        Tensor e = codebook.to(flat.dtype());
        // |z - e|^2 = |z|^2 - 2 z.e + |e|^2; |z|^2 is the same for every entry of a row, so the argmin skips it
        Tensor distance = e.square().sum(false, 1).unsqueeze(0).sub(flat.matmul(e.transpose(0, 1)).mul(2.0));
        return distance.neg().argmax(1);
    }

    /** {@code z} with every pixel replaced by its nearest codebook entry, {@code [B, D, h, w]}. */
    Tensor quantize(Tensor z) {
        return lookup(nearest(z), z.shape());
    }

    /** The codebook entries of {@code indices} in the layout {@code shape} ({@code [B, D, h, w]}). */
    Tensor lookup(Tensor indices, long[] shape) {
        Tensor q = codebook.to(indices.device()).indexSelect(0, indices.reshape(-1));
        return q.reshape(shape[0], shape[2], shape[3], shape[1]).permute(0, 3, 1, 2).contiguous();
    }
}
