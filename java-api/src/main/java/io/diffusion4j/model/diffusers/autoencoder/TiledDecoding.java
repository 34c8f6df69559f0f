package io.diffusion4j.model.diffusers.autoencoder;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * diffusers' tiled decoding ({@code AutoencoderKL.tiled_decode}, {@code tile_overlap_factor} 0.25): latent tiles of
 * {@code latentTile} starting every {@code int(latentTile * 0.75)}, each decoded alone to a tile of about
 * {@code sampleTile}; the first {@code int(sampleTile * 0.25)} rows (columns) of a tile are blended linearly with the
 * last ones of the tile above (to the left), as diffusers blends in place (so the tile below sees the tile above
 * after its left blend); each tile is cropped to {@code sampleTile - blend} and the crops are joined.
 *
 * <p>Each tile is decoded in its own native scope (only the blended tile outlives it), each row in another; only the
 * previous row's blended tiles and the finished output rows outlive that.
 */
final class TiledDecoding {
    static final double OVERLAP = 0.25;

    private TiledDecoding() {
    }

    static Tensor decode(Tensor latent, int latentTile, int sampleTile, UnaryOperator<Tensor> decoder) {
        int stride = (int) (latentTile * (1 - OVERLAP));
        int blend = (int) (sampleTile * OVERLAP);
        int limit = sampleTile - blend;
        long h = latent.size(2);
        long w = latent.size(3);
        List<Tensor> previous = null;
        List<Tensor> outputRows = new ArrayList<>();
        for (long i = 0; i < h; i += stride) {
            List<Tensor> row = new ArrayList<>();
            try (NativeScope scope = new NativeScope()) {
                List<Tensor> crops = new ArrayList<>();
                for (long j = 0; j < w; j += stride) {
                    Tensor tile;
                    try (NativeScope tileScope = new NativeScope()) {   // the decoder's activations die here
                        Tensor z = latent.narrow(2, i, Math.min(latentTile, h - i))
                                .narrow(3, j, Math.min(latentTile, w - j));
                        tile = decoder.apply(z);
                        if (previous != null) {
                            tile = blendVertical(previous.get(row.size()), tile, blend);
                        }
                        if (!row.isEmpty()) {
                            tile = blendHorizontal(row.get(row.size() - 1), tile, blend);
                        }
                        tile = tileScope.keep(tile.contiguous());
                    }
                    row.add(tile);
                    crops.add(tile.narrow(2, 0, Math.min(limit, tile.size(2)))
                            .narrow(3, 0, Math.min(limit, tile.size(3))));
                }
                outputRows.add(scope.keep(Tensor.cat(crops, 3)));
                row.replaceAll(scope::keep);
            }
            if (previous != null) {
                previous.forEach(Tensor::close);
            }
            previous = row;
        }
        if (previous != null) {
            previous.forEach(Tensor::close);
        }
        return Tensor.cat(outputRows, 2);
    }

    /** {@code b[:, :, y] = a[:, :, y - e] * (1 - y / e) + b[:, :, y] * (y / e)} for the first {@code e} rows. */
    static Tensor blendVertical(Tensor a, Tensor b, int extent) {
        int e = (int) Math.min(Math.min(a.size(2), b.size(2)), extent);
        if (e <= 0) {
            return b;
        }
        Tensor[] w = weights(e, new long[] {1, 1, e, 1}, b);
        Tensor top = a.narrow(2, a.size(2) - e, e).mul(w[0]).add(b.narrow(2, 0, e).mul(w[1]));
        return b.size(2) == e ? top : Tensor.cat(List.of(top, b.narrow(2, e, b.size(2) - e)), 2);
    }

    /** The same along the columns. */
    static Tensor blendHorizontal(Tensor a, Tensor b, int extent) {
        int e = (int) Math.min(Math.min(a.size(3), b.size(3)), extent);
        if (e <= 0) {
            return b;
        }
        Tensor[] w = weights(e, new long[] {1, 1, 1, e}, b);
        Tensor left = a.narrow(3, a.size(3) - e, e).mul(w[0]).add(b.narrow(3, 0, e).mul(w[1]));
        return b.size(3) == e ? left : Tensor.cat(List.of(left, b.narrow(3, e, b.size(3) - e)), 3);
    }

    private static Tensor[] weights(int e, long[] shape, Tensor like) {
        float[] wa = new float[e];
        float[] wb = new float[e];
        for (int y = 0; y < e; y++) {
            wa[y] = (float) (1 - (double) y / e);
            wb[y] = (float) ((double) y / e);
        }
        return new Tensor[] {Tensor.fromFloats(wa, shape).to(like.device(), like.dtype()),
                Tensor.fromFloats(wb, shape).to(like.device(), like.dtype())};
    }
}
