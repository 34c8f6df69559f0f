package io.diffusion4j.pipeline;

import io.diffusion4j.bindings.Tensor;

/**
 * What to generate: steps, seeds, batch, classes, guidance, and optionally img2img/inpainting inputs. Build with
 * {@link #builder()}; the tensors given are borrowed, not owned.
 */
public final class GenerationRequest {
    private final int steps;
    private final long[] seeds;
    private final int[] classLabels;
    private final double guidanceScale;
    private final Tensor initNoise;
    private final Tensor image;
    private final double strength;
    private final Tensor mask;
    private final NoiseSource noiseSource;
    private final StepListener listener;
    private final CancellationToken cancellation;
    private final boolean checkNumerics;

    private GenerationRequest(Builder b) {
        if (b.steps < 1) {
            throw new IllegalArgumentException("steps must be >= 1, got " + b.steps);
        }
        if (b.batchSize < 1) {
            throw new IllegalArgumentException("batch size must be >= 1, got " + b.batchSize);
        }
        if (b.seeds != null && b.seeds.length != b.batchSize) {
            throw new IllegalArgumentException(b.seeds.length + " seeds given for a batch of " + b.batchSize);
        }
        if (!(b.guidanceScale >= 0) || Double.isInfinite(b.guidanceScale)) {
            throw new IllegalArgumentException("guidance scale must be a finite number >= 0, got " + b.guidanceScale);
        }
        if (!(b.strength >= 0 && b.strength <= 1)) {
            throw new IllegalArgumentException("strength must be in [0, 1], got " + b.strength);
        }
        if (b.classLabels != null && b.classLabels.length != 1 && b.classLabels.length != b.batchSize) {
            throw new IllegalArgumentException(b.classLabels.length + " class labels given for a batch of "
                    + b.batchSize + " (give one label for all, or one per sample)");
        }
        if (b.mask != null && b.image == null) {
            throw new IllegalArgumentException("a mask needs an input image to inpaint");
        }
        this.steps = b.steps;
        if (b.seeds != null) {
            this.seeds = b.seeds.clone();
        } else {
            this.seeds = new long[b.batchSize];
            for (int i = 0; i < b.batchSize; i++) {
                seeds[i] = b.seed + i;
            }
        }
        if (b.classLabels != null && b.classLabels.length == 1 && b.batchSize > 1) {
            this.classLabels = new int[b.batchSize];
            java.util.Arrays.fill(classLabels, b.classLabels[0]);
        } else {
            this.classLabels = b.classLabels == null ? null : b.classLabels.clone();
        }
        this.guidanceScale = b.guidanceScale;
        this.initNoise = b.initNoise;
        this.image = b.image;
        this.strength = b.strength;
        this.mask = b.mask;
        this.noiseSource = b.noiseSource;
        this.listener = b.listener;
        this.cancellation = b.cancellation;
        this.checkNumerics = b.checkNumerics;
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * The sample indices of shard {@code index} of {@code count} of a batch: {@code j} in {@code [0, batchSize)} with
     * {@code j % count == index}, ascending.
     */
    public static int[] shardIndices(int batchSize, int index, int count) {
        if (count < 1 || index < 0 || index >= count) {
            throw new IllegalArgumentException("shard " + index + "/" + count + " is not a shard: need 0 <= index < "
                    + "count");
        }
        int n = batchSize > index ? (batchSize - index + count - 1) / count : 0;
        int[] out = new int[n];
        for (int k = 0; k < n; k++) {
            out[k] = index + k * count;
        }
        return out;
    }

    /**
     * The part of this request that shard {@code index} of {@code count} generates, for splitting a batch over
     * processes or machines: samples {@code j} with {@code j % count == index} ({@link #shardIndices}), each keeping its
     * own seed and class label, and its rows of the initial noise, input image and mask when those have one row per
     * sample. With per-sample seeds, row {@code k} of the shard's result is sample {@code index + k * count} of the
     * whole batch's. New tensors (selected rows) belong to the caller's open native scope.
     *
     * @throws IllegalArgumentException if the shard has no samples
     * @throws IllegalStateException    if the request replays a custom {@link NoiseSource}, which cannot be split
     */
    public GenerationRequest shard(int index, int count) {
        int batch = seeds.length;
        int[] rows = shardIndices(batch, index, count);
        if (rows.length == 0) {
            throw new IllegalArgumentException("shard " + index + "/" + count + " of a batch of " + batch
                    + " has no samples");
        }
        if (noiseSource != null) {
            throw new IllegalStateException("a request with a custom noise source cannot be sharded");
        }
        long[] s = new long[rows.length];
        int[] labels = classLabels == null ? null : new int[rows.length];
        long[] rowIndex = new long[rows.length];
        for (int k = 0; k < rows.length; k++) {
            s[k] = seeds[rows[k]];
            if (labels != null) {
                labels[k] = classLabels[rows[k]];
            }
            rowIndex[k] = rows[k];
        }
        Builder b = builder().steps(steps).seeds(s).classLabels(labels).guidanceScale(guidanceScale)
                .listener(listener).cancellation(cancellation).checkNumerics(checkNumerics);
        if (initNoise != null) {
            b.initNoise(rowsOf(initNoise, rowIndex, batch));
        }
        if (image != null) {
            Tensor img = rowsOf(image, rowIndex, batch);
            if (mask != null) {
                b.inpaint(img, rowsOf(mask, rowIndex, batch));
            } else {
                b.image(img, strength);
            }
        }
        return b.build();
    }

    private static Tensor rowsOf(Tensor t, long[] rows, int batch) {
        if (t.dim() < 1 || t.size(0) != batch || batch == 1) {
            return t;   // one row for the whole batch
        }
        Tensor index = Tensor.fromLongs(rows, rows.length);
        return t.indexSelect(0, t.device().isCuda() ? index.to(t.device()) : index);
    }

    public int steps() {
        return steps;
    }

    public int batchSize() {
        return seeds.length;
    }

    /** Sample i's seed (seed + i unless given one by one). */
    public long[] seeds() {
        return seeds.clone();
    }

    /** One class per sample, or null for unconditional. */
    public int[] classLabels() {
        return classLabels == null ? null : classLabels.clone();
    }

    public double guidanceScale() {
        return guidanceScale;
    }

    /** Whether classifier-free guidance is on (scale above 1, as diffusers decides). */
    public boolean guided() {
        return guidanceScale > 1.0;
    }

    public Tensor initNoise() {
        return initNoise;
    }

    public Tensor image() {
        return image;
    }

    public double strength() {
        return strength;
    }

    public Tensor mask() {
        return mask;
    }

    public NoiseSource noiseSource() {
        return noiseSource;
    }

    public StepListener listener() {
        return listener;
    }

    public CancellationToken cancellation() {
        return cancellation;
    }

    public boolean checkNumerics() {
        return checkNumerics;
    }

    /** Builder; every setter returns this. */
    public static final class Builder {
        private int steps = 50;
        private long seed;
        private long[] seeds;
        private int batchSize = 1;
        private int[] classLabels;
        private double guidanceScale = 1.0;
        private Tensor initNoise;
        private Tensor image;
        private double strength = 1.0;
        private Tensor mask;
        private NoiseSource noiseSource;
        private StepListener listener;
        private CancellationToken cancellation;
        private boolean checkNumerics;

        public Builder steps(int steps) {
            this.steps = steps;
            return this;
        }

        /** Sample i uses seed {@code seed + i}. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** One seed per sample (sets the batch size). */
        public Builder seeds(long... seeds) {
            this.seeds = seeds.clone();
            this.batchSize = seeds.length;
            return this;
        }

        public Builder batchSize(int batchSize) {
            this.batchSize = batchSize;
            return this;
        }

        /** One class for all samples, or one per sample. */
        public Builder classLabels(int... labels) {
            this.classLabels = labels == null ? null : labels.clone();
            return this;
        }

        /** Classifier-free guidance scale; guidance is on above 1. */
        public Builder guidanceScale(double scale) {
            this.guidanceScale = scale;
            return this;
        }

        /** x_T to start from ([B, ...]); fixes the shape and replaces the seeded initial draw. */
        public Builder initNoise(Tensor noise) {
            this.initNoise = noise;
            return this;
        }

        /** img2img (SDEdit): start from {@code image} ([1 or B, ...]) noised to the level {@code strength} picks. */
        public Builder image(Tensor image, double strength) {
            this.image = image;
            this.strength = strength;
            return this;
        }

        /** Inpainting: repaint where {@code mask} is 1 ([1 or B, 1, H, W]), keep {@code image} elsewhere. */
        public Builder inpaint(Tensor image, Tensor mask) {
            this.image = image;
            this.mask = mask;
            this.strength = 1.0;
            return this;
        }

        /** Overrides the seeded noise (e.g. to replay a reference run's noise). */
        public Builder noiseSource(NoiseSource source) {
            this.noiseSource = source;
            return this;
        }

        public Builder listener(StepListener listener) {
            this.listener = listener;
            return this;
        }

        public Builder cancellation(CancellationToken token) {
            this.cancellation = token;
            return this;
        }

        /** Check for NaN/Inf after every step (a device sync per step); by default only the result is checked. */
        public Builder checkNumerics(boolean on) {
            this.checkNumerics = on;
            return this;
        }

        public GenerationRequest build() {
            return new GenerationRequest(this);
        }
    }
}
