package io.diffusion4j.training;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.Gradients;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Optimizer;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.forward.ForwardProcess;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.model.TrainableModel;
import io.diffusion4j.schedule.NoiseSchedule;
import io.diffusion4j.scheduler.PredictionType;
import io.diffusion4j.scheduler.SchedulerConfig;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The math of a {@link Trainer}'s step and the state it updates: the step's random draws (timesteps, noise, offset
 * noise, input perturbation, label dropout, all from generators seeded with {@code (seed, step)}), the forward
 * process, the loss against the target of the model's {@code prediction_type} (min-SNR weighted when configured),
 * backward over micro-batches, gradient averaging across data-parallel ranks, clipping, the optimizer step with the
 * scheduled learning rate and the EMA update. Owns the optimizer and the EMA; the trainer owns the step count.
 *
 * <p>Each step of a TorchScript model on the CPU runs with graph-executor optimization off on the thread that runs it
 * ({@link PlainGraphs}), so that resume is bit-identical whichever thread drives the trainer.
 */
final class TrainingStep implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Trainer.class);

    private final TrainableModel model;
    private final NoiseSchedule schedule;
    private final ForwardProcess forward;
    private final PredictionType predictionType;
    private final int numTrainTimesteps;
    private final boolean conditional;
    private final int nullClassId;
    private final DType timestepDType;
    private final boolean plainGraphs;
    final int parameterCount;
    final Optimizer optimizer;
    final Ema ema;
    private TrainingConfig config;
    private double appliedLearningRate = Double.NaN;
    private double lastLoss = Double.NaN;
    private double lastGradNorm = Double.NaN;
    private double lastLearningRate = Double.NaN;

    /**
     * Sets {@code model} to training mode, makes its parameters require grad and builds the optimizer (and the EMA)
     * of {@code config}.
     *
     * @throws IllegalArgumentException if label dropout is asked of a model without a null class, or the model has no
     *                                  trainable floating-point parameters
     */
    TrainingStep(TrainableModel model, SchedulerConfig schedulerConfig, ModelSpec spec, TrainingConfig config) {
        this.model = model;
        this.schedule = schedulerConfig.noiseSchedule();
        this.forward = new ForwardProcess(schedule);
        this.predictionType = schedulerConfig.predictionType();
        this.numTrainTimesteps = schedule.numTrainTimesteps();
        this.conditional = model.isConditional();
        this.nullClassId = spec != null ? spec.nullClassId() : -1;
        checkLabelDropout(config);
        this.timestepDType = model.timestepDType();
        this.plainGraphs = PlainGraphs.wanted(model);
        model.train(true);
        try (NativeScope scope = new NativeScope()) {
            List<Tensor> params = model.parameters();
            List<Tensor> trainable = params.stream().filter(p -> p.dtype().isFloatingPoint()).toList();
            if (trainable.isEmpty()) {
                throw new IllegalArgumentException(model.source() + " has no floating-point parameters to train");
            }
            if (trainable.size() != params.size()) {
                throw new IllegalArgumentException(model.source() + " has non-floating-point parameters; only float "
                        + "modules can be trained");
            }
            for (Tensor p : params) {
                p.requiresGrad(true);
            }
            this.parameterCount = params.size();
            this.optimizer = switch (config.optimizer()) {
                case ADAMW -> Optimizer.adamW(params, config.learningRate(), config.beta1(), config.beta2(),
                        config.eps(), config.weightDecay());
                case ADAM -> Optimizer.adam(params, config.learningRate(), config.beta1(), config.beta2(),
                        config.eps(), config.weightDecay());
                case SGD -> Optimizer.sgd(params, config.learningRate(), config.momentum(), config.weightDecay());
            };
        }
        Ema e = null;
        if (config.emaEnabled()) {
            try {
                e = new Ema(model, config.emaDecay(), config.emaWarmup());
            } catch (RuntimeException ex) {
                optimizer.close();
                throw ex;
            }
        }
        this.ema = e;
        this.config = config;
    }

    TrainingConfig config() {
        return config;
    }

    double lastLoss() {
        return lastLoss;
    }

    double lastGradNorm() {
        return lastGradNorm;
    }

    double lastLearningRate() {
        return lastLearningRate;
    }

    /**
     * The settings of the next steps: anything but what lives in the optimizer's and the EMA's state.
     *
     * @throws IllegalArgumentException if {@code next} changes the optimizer or the EMA, or asks label dropout of a
     *                                  model without a null class
     */
    void reconfigure(TrainingConfig next) {
        TrainingConfig c = config;
        if (next.optimizer() != c.optimizer() || next.weightDecay() != c.weightDecay() || next.beta1() != c.beta1()
                || next.beta2() != c.beta2() || next.eps() != c.eps() || next.momentum() != c.momentum()) {
            throw new IllegalArgumentException("the optimizer (" + c.optimizer().name().toLowerCase(Locale.ROOT)
                    + ", weight_decay " + c.weightDecay() + ") is part of the optimizer state and cannot change in a "
                    + "run, got " + next.optimizer().name().toLowerCase(Locale.ROOT) + ", weight_decay "
                    + next.weightDecay());
        }
        if (next.emaDecay() != c.emaDecay() || next.emaWarmup() != c.emaWarmup()) {
            throw new IllegalArgumentException("ema_decay " + c.emaDecay() + " is part of the EMA state and cannot "
                    + "change in a run, got " + next.emaDecay());
        }
        checkLabelDropout(next);
        config = next;
        appliedLearningRate = Double.NaN;
    }

    private void checkLabelDropout(TrainingConfig c) {
        if (c.labelDropout() > 0 && (!conditional || nullClassId < 0)) {
            throw new IllegalArgumentException("label_dropout " + c.labelDropout() + " needs a class-conditional "
                    + "model with a null class (diffusion4j.json null_class_id); " + model.source()
                    + (conditional ? " has no null class" : " is unconditional"));
        }
    }

    /**
     * Optimizer step {@code s} on a batch (see {@link Trainer#step}); {@code dataParallel} is null for a
     * single-process run.
     */
    double run(long s, Tensor x0, Tensor classLabels, DataParallel dataParallel) {
        checkBatch(x0, classLabels);
        boolean turnedOff = PlainGraphs.off(plainGraphs);
        try {
            return drawnStep(s, x0, classLabels, dataParallel);
        } finally {
            PlainGraphs.restore(turnedOff);
        }
    }

    /** {@link #run} after its checks: the step's random draws, then loss, backward, optimizer and EMA. */
    private double drawnStep(long s, Tensor x0, Tensor classLabels, DataParallel dataParallel) {
        int batch = Math.toIntExact(x0.size(0));
        double lr = config.learningRateAt(s);
        // data-parallel: draws are made for the whole global batch and this rank keeps its rows (see DataParallel)
        int world = dataParallel == null ? 1 : dataParallel.worldSize();
        int rank = dataParallel == null ? 0 : dataParallel.rank();
        int globalBatch = Math.multiplyExact(batch, world);
        try (NativeScope scope = new NativeScope(); Generator noiseGen = Generator.cpu(mix(config.seed(), s, 1))) {
            SplittableRandom rng = new SplittableRandom(mix(config.seed(), s, 2));
            Device device = model.device();
            long[] timesteps = new long[globalBatch];
            for (int i = 0; i < globalBatch; i++) {
                timesteps[i] = rng.nextInt(numTrainTimesteps);
            }
            timesteps = DataParallel.shard(timesteps, rank, world);
            Tensor x = x0.dtype() == DType.FLOAT32 && x0.device().equals(device) ? x0 : x0.to(device, DType.FLOAT32);
            long[] shape = x.shape();
            long[] globalShape = shape.clone();
            globalShape[0] = globalBatch;
            Tensor noise = DataParallel.shardRows(Tensor.randn(noiseGen, DType.FLOAT32, device, globalShape), rank,
                    world);
            if (config.offsetNoise() > 0) {
                long[] offsetShape = globalShape.clone();
                for (int d = 2; d < offsetShape.length; d++) {
                    offsetShape[d] = 1;
                }
                noise = noise.add(DataParallel.shardRows(Tensor.randn(noiseGen, DType.FLOAT32, device, offsetShape),
                        rank, world), config.offsetNoise());
            }
            Tensor modelNoise = noise;
            if (config.inputPerturbation() > 0) {
                modelNoise = noise.add(DataParallel.shardRows(Tensor.randn(noiseGen, DType.FLOAT32, device,
                        globalShape), rank, world), config.inputPerturbation());
            }
            Tensor labels = classLabels == null ? null : labels(classLabels, rng, device, rank, world);
            if (lr != appliedLearningRate) { // a native call per parameter group: only when the schedule moves
                optimizer.setLearningRate(lr);
                appliedLearningRate = lr;
            }
            double loss = lossAndBackward(x, labels, timesteps, noise, modelNoise);
            if (dataParallel != null) {   // the one data-parallel hook: average gradients (and the loss) over the ranks
                loss = dataParallel.averageGradients(model.parameters(), loss);
            }
            if (!Double.isFinite(loss)) {
                throw new NonFiniteLossException("training loss is " + loss + " at step " + s + " (lr " + lr
                        + "); the update was not applied: lower the learning rate, enable gradient clipping, or check "
                        + "the data for NaNs", s);
            }
            double gradNorm = Double.NaN;
            if (config.gradientClipNorm() > 0) {
                gradNorm = Gradients.clipGlobalNorm(model.parameters(), config.gradientClipNorm());
                if (!Double.isFinite(gradNorm)) {
                    throw new NonFiniteLossException("gradient norm is " + gradNorm + " at step " + s
                            + " (loss " + loss + "); the update was not applied", s);
                }
            }
            optimizer.step();
            if (ema != null) {
                ema.update(s);
            }
            lastLoss = loss;
            lastGradNorm = gradNorm;
            lastLearningRate = lr;
            if (LOG.isTraceEnabled()) {
                LOG.trace("step {} loss {} lr {} grad norm {}", s + 1, loss, lr, gradNorm);
            }
            return loss;
        }
    }

    void checkBatch(Tensor x0, Tensor classLabels) {
        if (x0 == null || x0.dim() < 1 || x0.size(0) < 1) {
            throw new IllegalArgumentException("a training batch needs shape [B, ...] with B >= 1, got "
                    + (x0 == null ? "null" : x0.describe()));
        }
        int batch = Math.toIntExact(x0.size(0));
        int k = config.gradientAccumulation();
        if (batch < k) {
            throw new IllegalArgumentException("a batch of " + batch + " cannot be split into gradient_accumulation "
                    + k + " micro-batches");
        }
        if (conditional && classLabels == null) {
            throw new IllegalArgumentException(model.source() + " is class-conditional: pass class labels [" + batch
                    + "] (the null class " + nullClassId + " for unconditional examples)");
        }
        if (!conditional && classLabels != null) {
            throw new IllegalArgumentException(model.source() + " is unconditional: it takes no class labels");
        }
        if (classLabels != null && !Arrays.equals(classLabels.shape(), new long[] {batch})) {
            throw new IllegalArgumentException("class labels must have shape [" + batch + "], got "
                    + classLabels.describe());
        }
    }

    /** See {@link Trainer#lossAndGradients}. */
    double lossAndGradients(Tensor x0, Tensor classLabels, long[] timesteps, Tensor noise) {
        checkBatch(x0, classLabels);
        int batch = Math.toIntExact(x0.size(0));
        if (timesteps == null || timesteps.length != batch) {
            throw new IllegalArgumentException("expected " + batch + " timesteps, got "
                    + (timesteps == null ? "null" : timesteps.length));
        }
        for (long t : timesteps) {
            if (t < 0 || t >= numTrainTimesteps) {
                throw new IllegalArgumentException("timestep " + t + " is outside [0, " + numTrainTimesteps + ")");
            }
        }
        if (noise == null || !Arrays.equals(noise.shape(), x0.shape())) {
            throw new IllegalArgumentException("noise must have the batch's shape " + Arrays.toString(x0.shape())
                    + ", got " + (noise == null ? "null" : noise.describe()));
        }
        boolean turnedOff = PlainGraphs.off(plainGraphs);
        try (NativeScope scope = new NativeScope()) {
            Device device = model.device();
            Tensor x = onDevice(x0, device);
            Tensor n = onDevice(noise, device);
            Tensor labels = classLabels == null ? null
                    : classLabels.dtype() == DType.INT64 && classLabels.device().equals(device) ? classLabels
                    : classLabels.to(device, DType.INT64);
            return lossAndBackward(x, labels, timesteps, n, n);
        } finally {
            PlainGraphs.restore(turnedOff);
        }
    }

    private static Tensor onDevice(Tensor t, Device device) {
        return t.dtype() == DType.FLOAT32 && t.device().equals(device) ? t : t.to(device, DType.FLOAT32);
    }

    /** Zeroes the gradients, then forward + loss + backward over the micro-batches; returns the mean loss. */
    private double lossAndBackward(Tensor x, Tensor labels, long[] timesteps, Tensor noise, Tensor modelNoise) {
        Device device = model.device();
        int batch = timesteps.length;
        int k = config.gradientAccumulation();
        Tensor noisy = forward.addNoise(x, modelNoise, timesteps);
        Tensor target = forward.target(predictionType, x, noise, timesteps);
        Tensor t = Tensor.fromLongs(timesteps, batch);
        if (timestepDType != DType.INT64 || device.isCuda()) {
            t = t.to(device, timestepDType);
        }
        Tensor weights = null;
        if (config.minSnrGamma() > 0) {
            weights = Tensor.fromFloats(MinSnrWeighting.weights(schedule, predictionType, timesteps,
                    config.minSnrGamma()), batch);
            if (device.isCuda()) {
                weights = weights.to(device);
            }
        }
        optimizer.zeroGrad();
        double loss = 0;
        int start = 0;
        for (int j = 0; j < k; j++) {
            int len = batch / k + (j < batch % k ? 1 : 0);
            Tensor xj = k == 1 ? noisy : noisy.narrow(0, start, len);
            Tensor tj = k == 1 ? t : t.narrow(0, start, len);
            Tensor pred = model.forward(xj, tj, labels == null ? null : k == 1 ? labels : labels.narrow(0, start, len));
            Tensor targetj = k == 1 ? target : target.narrow(0, start, len);
            if (!Arrays.equals(pred.shape(), targetj.shape())) {
                throw new IllegalArgumentException(model.source() + " returned " + pred.describe() + " for a "
                        + "sample of " + xj.describe() + "; training needs an output of the sample's shape "
                        + "(learned-variance outputs are not supported)");
            }
            Tensor lj = weights == null ? Tensor.mseLoss(pred, targetj)
                    : pred.mseLossPerSample(targetj).mul(k == 1 ? weights : weights.narrow(0, start, len)).mean();
            Tensor scaled = k == 1 ? lj : lj.mul((double) len / batch);
            scaled.backward();
            loss += lj.item() * len / batch;
            start += len;
        }
        return loss;
    }

    /**
     * Labels on the device, with label dropout applied (drawn from the step's generator for the whole global batch;
     * this rank uses its rows).
     */
    private Tensor labels(Tensor classLabels, SplittableRandom rng, Device device, int rank, int world) {
        if (config.labelDropout() > 0) {
            long[] l = classLabels.toLongArray();
            double[] draws = new double[l.length * world];
            for (int i = 0; i < draws.length; i++) {
                draws[i] = rng.nextDouble();
            }
            for (int i = 0; i < l.length; i++) {
                if (draws[i * world + rank] < config.labelDropout()) {
                    l[i] = nullClassId;
                }
            }
            Tensor out = Tensor.fromLongs(l, l.length);
            return device.isCuda() ? out.to(device) : out;
        }
        if (classLabels.dtype() != DType.INT64 || !classLabels.device().equals(device)) {
            return classLabels.to(device, DType.INT64);
        }
        return classLabels;
    }

    /** A 64-bit hash of (seed, step, stream) (SplitMix64's finaliser over a golden-ratio combination). */
    static long mix(long seed, long step, long stream) {
        long z = seed * 0x9E3779B97F4A7C15L + step * 0xBF58476D1CE4E5B9L + stream * 0x94D049BB133111EBL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Frees the optimizer state and the EMA. */
    @Override
    public void close() {
        optimizer.close();
        if (ema != null) {
            ema.close();
        }
    }
}
