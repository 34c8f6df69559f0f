package io.diffusion4j.training;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Locale;

/**
 * The settings of one training run: optimizer, learning-rate schedule, loss options, EMA, checkpoints and the seed.
 * Immutable and validated on construction (every message names the field and the value); build one with
 * {@link #builder()}. Round-trips through {@link #toJson()} / {@link #fromJson(String)} (snake_case keys), which is
 * how checkpoints record it.
 *
 * @param learningRate         peak learning rate (default 1e-4), &gt; 0
 * @param weightDecay          weight decay (default 1e-2): decoupled for AdamW, L2 for Adam and SGD
 * @param beta1                Adam/AdamW beta1 (default 0.9), in [0, 1)
 * @param beta2                Adam/AdamW beta2 (default 0.999), in [0, 1)
 * @param eps                  Adam/AdamW epsilon (default 1e-8), &gt; 0
 * @param momentum             SGD momentum (default 0), in [0, 1)
 * @param optimizer            the optimizer (default AdamW)
 * @param gradientClipNorm     clip the global gradient norm to this value; 0 (default) = no clipping
 * @param gradientAccumulation number of micro-batches each batch is split into (default 1); see {@link Trainer#step}
 * @param minSnrGamma          min-SNR-gamma loss weighting (Hang et al. 2023); 0 (default) = off
 * @param offsetNoise          offset-noise strength (noise += s * randn[B, C, 1, ...]); 0 (default) = off
 * @param inputPerturbation    input-perturbation strength (Ning et al. 2023): x_t is made from
 *                             {@code noise + s * randn}, the target stays {@code noise}; 0 (default) = off
 * @param labelDropout         probability of replacing a class label by the null class (classifier-free guidance
 *                             training); 0 (default) = off
 * @param emaDecay             EMA decay of the weights, in [0, 1); 0 (default) = no EMA
 * @param emaWarmup            whether the EMA decay warms up as {@code min(decay, (1 + t) / (10 + t))} (default true)
 * @param lrWarmupSteps        linear warm-up steps (default 0): step s uses {@code lr * (s + 1) / warmup}
 * @param lrSchedule           constant (default) or cosine decay to 0 at {@code totalSteps} after the warm-up
 * @param totalSteps           the run's planned optimizer steps; required (&gt; lrWarmupSteps) by the cosine schedule,
 *                             0 = not given
 * @param seed                 seed of every random draw (timesteps, noise, label dropout), default 0
 * @param keepCheckpoints      how many checkpoints {@link Trainer#saveTo} keeps in a folder (default 3), &gt;= 1
 */
public record TrainingConfig(double learningRate, double weightDecay, double beta1, double beta2, double eps,
                             double momentum, OptimizerType optimizer, double gradientClipNorm,
                             int gradientAccumulation, double minSnrGamma, double offsetNoise,
                             double inputPerturbation, double labelDropout, double emaDecay, boolean emaWarmup,
                             int lrWarmupSteps, LrSchedule lrSchedule, int totalSteps, long seed,
                             int keepCheckpoints) {

    /** The optimizer algorithm. */
    public enum OptimizerType { ADAMW, ADAM, SGD }

    /** The learning-rate schedule after the linear warm-up. */
    public enum LrSchedule { CONSTANT, COSINE }

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public TrainingConfig {
        positive("learning_rate", learningRate);
        nonNegative("weight_decay", weightDecay);
        unitInterval("beta1", beta1);
        unitInterval("beta2", beta2);
        positive("eps", eps);
        unitInterval("momentum", momentum);
        if (optimizer == null) {
            throw new IllegalArgumentException("optimizer must be one of ADAMW, ADAM, SGD, got null");
        }
        nonNegative("gradient_clip_norm", gradientClipNorm);
        if (gradientAccumulation < 1) {
            throw new IllegalArgumentException("gradient_accumulation must be >= 1, got " + gradientAccumulation);
        }
        nonNegative("min_snr_gamma", minSnrGamma);
        nonNegative("offset_noise", offsetNoise);
        nonNegative("input_perturbation", inputPerturbation);
        if (!(labelDropout >= 0 && labelDropout <= 1)) {
            throw new IllegalArgumentException("label_dropout must be a probability in [0, 1], got " + labelDropout);
        }
        unitInterval("ema_decay", emaDecay);
        if (lrWarmupSteps < 0) {
            throw new IllegalArgumentException("lr_warmup_steps must be >= 0, got " + lrWarmupSteps);
        }
        if (lrSchedule == null) {
            throw new IllegalArgumentException("lr_schedule must be CONSTANT or COSINE, got null");
        }
        if (totalSteps < 0) {
            throw new IllegalArgumentException("total_steps must be >= 0 (0 = not given), got " + totalSteps);
        }
        if (lrSchedule == LrSchedule.COSINE && totalSteps <= lrWarmupSteps) {
            throw new IllegalArgumentException("the cosine lr_schedule needs total_steps > lr_warmup_steps, got "
                    + "total_steps " + totalSteps + " and lr_warmup_steps " + lrWarmupSteps);
        }
        if (keepCheckpoints < 1) {
            throw new IllegalArgumentException("keep_checkpoints must be >= 1, got " + keepCheckpoints);
        }
    }

    /** The defaults: AdamW, lr 1e-4, weight decay 1e-2, constant schedule, everything optional off, seed 0. */
    public static TrainingConfig defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        return new Builder(this);
    }

    /** Whether an EMA of the weights is kept. */
    public boolean emaEnabled() {
        return emaDecay > 0;
    }

    /**
     * The learning rate of optimizer step {@code step} (0-based): linear warm-up {@code lr * (step + 1) / warmup}
     * for the first {@code lrWarmupSteps} steps, then constant, or cosine from {@code lr} down to 0 at
     * {@code totalSteps} (and 0 past it).
     */
    public double learningRateAt(long step) {
        if (step < 0) {
            throw new IllegalArgumentException("step must be >= 0, got " + step);
        }
        if (step < lrWarmupSteps) {
            return learningRate * (step + 1) / lrWarmupSteps;
        }
        if (lrSchedule == LrSchedule.CONSTANT) {
            return learningRate;
        }
        double progress = Math.min(1.0, (double) (step - lrWarmupSteps) / (totalSteps - lrWarmupSteps));
        return learningRate * 0.5 * (1 + Math.cos(Math.PI * progress));
    }

    /** This config as JSON with snake_case keys (enums as lower-case names). */
    public String toJson() {
        ObjectNode n = JSON.createObjectNode();
        n.put("learning_rate", learningRate);
        n.put("weight_decay", weightDecay);
        n.put("beta1", beta1);
        n.put("beta2", beta2);
        n.put("eps", eps);
        n.put("momentum", momentum);
        n.put("optimizer", optimizer.name().toLowerCase(Locale.ROOT));
        n.put("gradient_clip_norm", gradientClipNorm);
        n.put("gradient_accumulation", gradientAccumulation);
        n.put("min_snr_gamma", minSnrGamma);
        n.put("offset_noise", offsetNoise);
        n.put("input_perturbation", inputPerturbation);
        n.put("label_dropout", labelDropout);
        n.put("ema_decay", emaDecay);
        n.put("ema_warmup", emaWarmup);
        n.put("lr_warmup_steps", lrWarmupSteps);
        n.put("lr_schedule", lrSchedule.name().toLowerCase(Locale.ROOT));
        n.put("total_steps", totalSteps);
        n.put("seed", seed);
        n.put("keep_checkpoints", keepCheckpoints);
        try {
            return JSON.writeValueAsString(n);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write a training config as JSON", e);
        }
    }

    /**
     * Parses {@link #toJson()} output. Missing keys take their defaults; unknown keys are ignored.
     *
     * @throws IllegalArgumentException if the text is not a JSON object or a value is of the wrong type or out of
     *                                  range (the message names the key)
     */
    public static TrainingConfig fromJson(String json) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("training config is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("training config must be a JSON object");
        }
        Builder b = builder();
        TrainingConfig d = b.build();
        b.learningRate(num(root, "learning_rate", d.learningRate));
        b.weightDecay(num(root, "weight_decay", d.weightDecay));
        b.beta1(num(root, "beta1", d.beta1));
        b.beta2(num(root, "beta2", d.beta2));
        b.eps(num(root, "eps", d.eps));
        b.momentum(num(root, "momentum", d.momentum));
        b.optimizer(enumValue(root, "optimizer", OptimizerType.class, d.optimizer));
        b.gradientClipNorm(num(root, "gradient_clip_norm", d.gradientClipNorm));
        b.gradientAccumulation((int) integer(root, "gradient_accumulation", d.gradientAccumulation));
        b.minSnrGamma(num(root, "min_snr_gamma", d.minSnrGamma));
        b.offsetNoise(num(root, "offset_noise", d.offsetNoise));
        b.inputPerturbation(num(root, "input_perturbation", d.inputPerturbation));
        b.labelDropout(num(root, "label_dropout", d.labelDropout));
        b.emaDecay(num(root, "ema_decay", d.emaDecay));
        JsonNode w = root.get("ema_warmup");
        if (w != null && !w.isNull()) {
            if (!w.isBoolean()) {
                throw new IllegalArgumentException("training config: ema_warmup must be true or false, got " + w);
            }
            b.emaWarmup(w.asBoolean());
        }
        b.lrWarmupSteps((int) integer(root, "lr_warmup_steps", d.lrWarmupSteps));
        b.lrSchedule(enumValue(root, "lr_schedule", LrSchedule.class, d.lrSchedule));
        b.totalSteps((int) integer(root, "total_steps", d.totalSteps));
        b.seed(integer(root, "seed", d.seed));
        b.keepCheckpoints((int) integer(root, "keep_checkpoints", d.keepCheckpoints));
        try {
            return b.build();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("training config: " + e.getMessage(), e);
        }
    }

    private static double num(JsonNode root, String key, double dflt) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isNumber()) {
            throw new IllegalArgumentException("training config: " + key + " must be a number, got " + n);
        }
        return n.asDouble();
    }

    private static long integer(JsonNode root, String key, long dflt) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isIntegralNumber() || !n.canConvertToLong()) {
            throw new IllegalArgumentException("training config: " + key + " must be an integer, got " + n);
        }
        long v = n.asLong();
        if (!key.equals("seed") && (v > Integer.MAX_VALUE || v < Integer.MIN_VALUE)) {
            throw new IllegalArgumentException("training config: " + key + " is out of range, got " + n);
        }
        return v;
    }

    private static <E extends Enum<E>> E enumValue(JsonNode root, String key, Class<E> type, E dflt) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return dflt;
        }
        String s = n.asText().toUpperCase(Locale.ROOT);
        for (E e : type.getEnumConstants()) {
            if (e.name().equals(s)) {
                return e;
            }
        }
        StringBuilder names = new StringBuilder();
        for (E e : type.getEnumConstants()) {
            names.append(names.length() == 0 ? "" : ", ").append(e.name().toLowerCase(Locale.ROOT));
        }
        throw new IllegalArgumentException("training config: " + key + " must be one of " + names + ", got " + n);
    }

    private static void positive(String name, double v) {
        if (!(v > 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException(name + " must be > 0 and finite, got " + v);
        }
    }

    private static void nonNegative(String name, double v) {
        if (!(v >= 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException(name + " must be >= 0 and finite, got " + v);
        }
    }

    private static void unitInterval(String name, double v) {
        if (!(v >= 0 && v < 1)) {
            throw new IllegalArgumentException(name + " must be in [0, 1), got " + v);
        }
    }

    /** A mutable builder holding the defaults; {@link #build()} validates. */
    public static final class Builder {
        private double learningRate = 1e-4;
        private double weightDecay = 1e-2;
        private double beta1 = 0.9;
        private double beta2 = 0.999;
        private double eps = 1e-8;
        private double momentum = 0;
        private OptimizerType optimizer = OptimizerType.ADAMW;
        private double gradientClipNorm = 0;
        private int gradientAccumulation = 1;
        private double minSnrGamma = 0;
        private double offsetNoise = 0;
        private double inputPerturbation = 0;
        private double labelDropout = 0;
        private double emaDecay = 0;
        private boolean emaWarmup = true;
        private int lrWarmupSteps = 0;
        private LrSchedule lrSchedule = LrSchedule.CONSTANT;
        private int totalSteps = 0;
        private long seed = 0;
        private int keepCheckpoints = 3;

        private Builder() {
        }

        private Builder(TrainingConfig c) {
            learningRate = c.learningRate;
            weightDecay = c.weightDecay;
            beta1 = c.beta1;
            beta2 = c.beta2;
            eps = c.eps;
            momentum = c.momentum;
            optimizer = c.optimizer;
            gradientClipNorm = c.gradientClipNorm;
            gradientAccumulation = c.gradientAccumulation;
            minSnrGamma = c.minSnrGamma;
            offsetNoise = c.offsetNoise;
            inputPerturbation = c.inputPerturbation;
            labelDropout = c.labelDropout;
            emaDecay = c.emaDecay;
            emaWarmup = c.emaWarmup;
            lrWarmupSteps = c.lrWarmupSteps;
            lrSchedule = c.lrSchedule;
            totalSteps = c.totalSteps;
            seed = c.seed;
            keepCheckpoints = c.keepCheckpoints;
        }

        public Builder learningRate(double v) {
            learningRate = v;
            return this;
        }

        public Builder weightDecay(double v) {
            weightDecay = v;
            return this;
        }

        public Builder beta1(double v) {
            beta1 = v;
            return this;
        }

        public Builder beta2(double v) {
            beta2 = v;
            return this;
        }

        public Builder eps(double v) {
            eps = v;
            return this;
        }

        public Builder momentum(double v) {
            momentum = v;
            return this;
        }

        public Builder optimizer(OptimizerType v) {
            optimizer = v;
            return this;
        }

        public Builder gradientClipNorm(double v) {
            gradientClipNorm = v;
            return this;
        }

        public Builder gradientAccumulation(int v) {
            gradientAccumulation = v;
            return this;
        }

        public Builder minSnrGamma(double v) {
            minSnrGamma = v;
            return this;
        }

        public Builder offsetNoise(double v) {
            offsetNoise = v;
            return this;
        }

        public Builder inputPerturbation(double v) {
            inputPerturbation = v;
            return this;
        }

        public Builder labelDropout(double v) {
            labelDropout = v;
            return this;
        }

        public Builder emaDecay(double v) {
            emaDecay = v;
            return this;
        }

        public Builder emaWarmup(boolean v) {
            emaWarmup = v;
            return this;
        }

        public Builder lrWarmupSteps(int v) {
            lrWarmupSteps = v;
            return this;
        }

        public Builder lrSchedule(LrSchedule v) {
            lrSchedule = v;
            return this;
        }

        /** Cosine decay over {@code totalSteps} optimizer steps. */
        public Builder cosine(int total) {
            lrSchedule = LrSchedule.COSINE;
            totalSteps = total;
            return this;
        }

        public Builder totalSteps(int v) {
            totalSteps = v;
            return this;
        }

        public Builder seed(long v) {
            seed = v;
            return this;
        }

        public Builder keepCheckpoints(int v) {
            keepCheckpoints = v;
            return this;
        }

        /** @throws IllegalArgumentException naming the first field out of range */
        public TrainingConfig build() {
            return new TrainingConfig(learningRate, weightDecay, beta1, beta2, eps, momentum, optimizer,
                    gradientClipNorm, gradientAccumulation, minSnrGamma, offsetNoise, inputPerturbation,
                    labelDropout, emaDecay, emaWarmup, lrWarmupSteps, lrSchedule, totalSteps, seed, keepCheckpoints);
        }
    }
}
