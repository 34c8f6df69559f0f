package io.diffusion4j.training.latent;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.diffusers.autoencoder.Autoencoder;
import io.diffusion4j.training.data.Dataset;
import java.io.IOException;
import java.util.Arrays;

/**
 * An image dataset seen through a frozen autoencoder: example {@code i} is the scaled latent
 * {@code (encode(image_i) - shift_factor) * scaling_factor} of image {@code i}, so a latent denoiser trains on what it
 * samples. The encoding is the posterior mean of an AutoencoderKL (diffusers' training scripts draw a posterior sample
 * per batch instead; the mean keeps a run, and a resumed run, a function of its seed alone, and the posterior's
 * spread is small next to the diffusion noise added on top), the unquantized latent of a VQModel.
 *
 * <p>{@link #onTheFly} encodes each example when it is read (on the batch loader's thread, in its own native scope and
 * inference mode), so augmentations such as flips reach the latents; {@link #cached} encodes every image once, in
 * batches, and keeps the latents in Java memory ({@code --cache-latents}).
 */
public final class EncodedDataset implements Dataset {
    private final Dataset images;
    private final Autoencoder autoencoder;
    private final long[] latentShape;
    private final float[] cache;

    private EncodedDataset(Dataset images, Autoencoder autoencoder, float[] cache) {
        this.images = images;
        this.autoencoder = autoencoder;
        long[] s = images.sampleShape();
        int f = autoencoder.config().downsamplingFactor();
        if (s.length != 3 || s[0] != autoencoder.config().inChannels() || s[1] % f != 0 || s[2] % f != 0) {
            throw new IllegalArgumentException("images of shape " + Arrays.toString(s) + " do not fit the "
                    + autoencoder.config().kind().className() + " ([" + autoencoder.config().inChannels()
                    + ", H, W], H and W multiples of " + f + ")");
        }
        this.latentShape = new long[] {autoencoder.config().diffusionChannels(), s[1] / f, s[2] / f};
        this.cache = cache;
    }

    /** Encodes each example as it is read (the autoencoder is borrowed and must stay open while this is used). */
    public static EncodedDataset onTheFly(Dataset images, Autoencoder autoencoder) {
        return new EncodedDataset(images, autoencoder, null);
    }

    /** Encodes every example once (epoch 0: no augmentation), {@code batch} at a time, and keeps the latents. */
    public static EncodedDataset cached(Dataset images, Autoencoder autoencoder, int batch) throws IOException {
        EncodedDataset shape = onTheFly(images, autoencoder);
        int numel = shape.sampleNumel();
        float[] all = new float[Math.multiplyExact(numel, images.size())];
        for (int start = 0; start < images.size(); start += batch) {
            int n = Math.min(batch, images.size() - start);
            int[] idx = new int[n];
            for (int i = 0; i < n; i++) {
                idx[i] = start + i;
            }
            float[] px = images.load(idx).values();
            float[] z = shape.encode(px, n);
            System.arraycopy(z, 0, all, start * numel, z.length);
        }
        return new EncodedDataset(images, autoencoder, all);
    }

    private float[] encode(float[] pixels, int n) {
        long[] s = images.sampleShape();
        try (NativeScope scope = new NativeScope(); InferenceGuard inference = Torch.inferenceMode()) {
            Tensor x = Tensor.fromFloats(pixels, n, s[0], s[1], s[2]).to(autoencoder.device());
            return autoencoder.toDiffusionLatent(autoencoder.encode(x)).to(Device.CPU, DType.FLOAT32).toFloatArray();
        }
    }

    @Override
    public int size() {
        return images.size();
    }

    @Override
    public long[] sampleShape() {
        return latentShape.clone();
    }

    @Override
    public int numClasses() {
        return images.numClasses();
    }

    @Override
    public long label(int index) {
        return images.label(index);
    }

    @Override
    public void read(int index, long epoch, float[] into, int offset) throws IOException {
        int numel = sampleNumel();
        if (cache != null) {
            System.arraycopy(cache, index * numel, into, offset, numel);
            return;
        }
        float[] px = new float[images.sampleNumel()];
        images.read(index, epoch, px, 0);
        System.arraycopy(encode(px, 1), 0, into, offset, numel);
    }
}
