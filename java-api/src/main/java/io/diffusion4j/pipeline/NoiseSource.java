package io.diffusion4j.pipeline;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Where a run's random numbers come from: first the initial noise, then one tensor per step that needs noise, in
 * step order. The default draws, for sample i of a batch, from its own CPU generator seeded {@code seed + i}
 * (diffusers' convention with {@code generator=[torch.Generator().manual_seed(s) for s in seeds]}), so the same
 * seed gives the same image alone or in a batch, and the same image as PyTorch.
 */
public interface NoiseSource extends AutoCloseable {

    /** Standard normal noise of {@code shape} ([B, ...]) on {@code device}. */
    Tensor next(long[] shape, Device device);

    @Override
    default void close() {
    }

    /** Per-sample seeded generators: sample i draws from {@code Generator.cpu(seeds[i])}. */
    static NoiseSource perSample(long[] seeds) {
        return new PerSampleNoise(seeds);
    }

    /**
     * One generator for the whole batch, seeded {@code seed} (diffusers given a single {@code generator}): one native
     * draw per step however large the batch, but a sample depends on the batch it was made in.
     */
    static NoiseSource shared(long seed) {
        Generator g = Generator.cpu(seed);
        return new NoiseSource() {
            @Override
            public Tensor next(long[] shape, Device device) {
                return Tensor.randn(g, DType.FLOAT32, device, shape);
            }

            @Override
            public void close() {
                g.close();
            }
        };
    }

    /** Replays given tensors in order (e.g. noise saved by a PyTorch reference run). */
    static NoiseSource replay(List<Tensor> tensors) {
        return new NoiseSource() {
            private int next;

            @Override
            public Tensor next(long[] shape, Device device) {
                if (next >= tensors.size()) {
                    throw new IllegalStateException("replayed noise exhausted after " + tensors.size() + " draws");
                }
                return tensors.get(next++).to(device);
            }
        };
    }

    /** The per-sample generator source. */
    final class PerSampleNoise implements NoiseSource {
        private final List<Generator> generators = new ArrayList<>();

        PerSampleNoise(long[] seeds) {
            for (long s : seeds) {
                generators.add(Generator.cpu(s));
            }
        }

        @Override
        public Tensor next(long[] shape, Device device) {
            if (shape[0] != generators.size()) {
                throw new IllegalArgumentException("noise for a batch of " + shape[0] + " from " + generators.size()
                        + " seeds");
            }
            long[] one = shape.clone();
            one[0] = 1;
            if (generators.size() == 1) {
                return Tensor.randn(generators.get(0), DType.FLOAT32, device, one);
            }
            return Tensor.randnStacked(generators, DType.FLOAT32, device, one);
        }

        @Override
        public void close() {
            generators.forEach(Generator::close);
        }
    }
}
