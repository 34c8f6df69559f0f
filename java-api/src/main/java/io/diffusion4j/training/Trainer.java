package io.diffusion4j.training;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.Gradients;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Optimizer;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.bindings.TorchScriptRuntime;
import io.diffusion4j.forward.ForwardProcess;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.model.TrainableModel;
import io.diffusion4j.schedule.NoiseSchedule;
import io.diffusion4j.scheduler.PredictionType;
import io.diffusion4j.scheduler.SchedulerConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One training (fine-tuning) run of a TorchScript denoiser, trained in place: the denoising loss of the model's own
 * {@code prediction_type} (epsilon, x0 or v target, as diffusers' training scripts compute it), optional min-SNR-gamma
 * weighting, offset noise, input perturbation and label dropout, gradient clipping and accumulation, AdamW / Adam /
 * SGD, a warm-up + constant or cosine learning rate, and an optional EMA of the weights.
 *
 * <p><b>Determinism.</b> Every random draw of optimizer step {@code s} (timesteps, noise, label dropout) comes from
 * generators seeded with a hash of {@code (seed, s)}, and the learning rate is a function of {@code s}; so a run is
 * reproducible from its seed and resumable from its step count alone: N steps straight and N/2 steps, {@link #saveTo},
 * {@link #resume} and N/2 steps give bit-identical weights on the CPU (with the same batches and thread count).
 * For that, each step of a TorchScript module on the CPU ({@link #step}, {@link #lossAndGradients}) runs with
 * TorchScript's graph-executor optimization off on the thread that runs it, and restores that thread's setting after
 * (LibTorch's switch is per thread; {@link TorchScriptRuntime#setGraphOptimization}): the optimized plan, built after
 * a method's first calls, computes gradients that differ in the last bit from the plain plan a freshly loaded
 * (resumed) module runs. On the CPU the optimization brings little to training (no fusion by default). Any thread
 * may drive the trainer (one at a time), and inference elsewhere, or between steps, keeps its optimized plans.
 *
 * <p><b>Memory.</b> Each step runs in its own {@link NativeScope}; the trainer keeps no tensor handles between steps
 * (the optimizer and the EMA hold their state natively), so native memory stays flat and a caller's scopes do not
 * affect it. Not thread-safe: one thread drives a trainer.
 */
public final class Trainer implements AutoCloseable {
    private double appliedLearningRate = Double.NaN;
    private static final Logger LOG = LoggerFactory.getLogger(Trainer.class);

    static final String MODEL_FILE = ModelFolder.MODEL_FILE;
    static final String EMA_FILE = "ema.pt";
    static final String OPTIMIZER_FILE = "optimizer.pt";
    static final String CONFIG_FILE = "training_config.json";

    final TrainableModel model;
    private final boolean ownsModule;
    final SchedulerConfig schedulerConfig;
    final ModelSpec spec;
    TrainingConfig config;
    RunRecord runRecord;
    Path resumedFrom;
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
    private DataParallel dataParallel;
    long step;
    private double lastLoss = Double.NaN;
    private double lastGradNorm = Double.NaN;
    private double lastLearningRate = Double.NaN;
    private boolean closed;

    /**
     * A trainer for an unconditional model whose signature comes from the module ({@code (sample, timestep)}).
     *
     * @see #Trainer(TorchScriptModule, SchedulerConfig, ModelSpec, TrainingConfig)
     */
    public Trainer(TorchScriptModule module, SchedulerConfig schedulerConfig, TrainingConfig config) {
        this(module, schedulerConfig, null, config, false);
    }

    /**
     * A trainer that updates {@code module}'s parameters in place (the caller keeps owning the module).
     *
     * @param module          a TorchScript denoiser, forward {@code (sample, timestep)} or
     *                        {@code (sample, timestep, class_labels)}; set to training mode
     * @param schedulerConfig the model's scheduler config: its noise schedule and {@code prediction_type} define the
     *                        loss
     * @param spec            the model's {@code diffusion4j.json} (timestep dtype, null class for label dropout), or
     *                        null to read the signature from the module
     * @param config          the run's settings
     * @throws IllegalArgumentException if label dropout is asked of a model without a null class, or the module has
     *                                  no trainable floating-point parameters
     */
    public Trainer(TorchScriptModule module, SchedulerConfig schedulerConfig, ModelSpec spec, TrainingConfig config) {
        this(module, schedulerConfig, spec, config, false);
    }

    /**
     * A trainer of any {@link TrainableModel}: a TorchScript module ({@link TrainableModel#of}) or a Java-built
     * network ({@link io.diffusion4j.model.nn.Networks}). The caller keeps owning the model.
     *
     * @param spec the model's {@code diffusion4j.json} (null class for label dropout; required to checkpoint and
     *             export a Java-built network), or null
     */
    public Trainer(TrainableModel model, SchedulerConfig schedulerConfig, ModelSpec spec, TrainingConfig config) {
        this(model, schedulerConfig, spec, config, false);
    }

    private Trainer(TorchScriptModule module, SchedulerConfig schedulerConfig, ModelSpec spec, TrainingConfig config,
                    boolean ownsModule) {
        this(module == null ? null : TrainableModel.of(module, spec, ownsModule), schedulerConfig, spec, config,
                ownsModule);
    }

    Trainer(TrainableModel model, SchedulerConfig schedulerConfig, ModelSpec spec, TrainingConfig config,
            boolean ownsModule) {
        if (model == null || schedulerConfig == null || config == null) {
            throw new IllegalArgumentException("a trainer needs a model, a scheduler config and a training config");
        }
        this.model = model;
        this.ownsModule = ownsModule;
        this.schedulerConfig = schedulerConfig;
        this.spec = spec;
        this.config = config;
        this.schedule = schedulerConfig.noiseSchedule();
        this.forward = new ForwardProcess(schedule);
        this.predictionType = schedulerConfig.predictionType();
        this.numTrainTimesteps = schedule.numTrainTimesteps();
        this.conditional = model.isConditional();
        this.nullClassId = spec != null ? spec.nullClassId() : -1;
        if (config.labelDropout() > 0 && (!conditional || nullClassId < 0)) {
            throw new IllegalArgumentException("label_dropout " + config.labelDropout() + " needs a class-conditional "
                    + "model with a null class (diffusion4j.json null_class_id); " + model.source()
                    + (conditional ? " has no null class" : " is unconditional"));
        }
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
    }

    // ---- facts -------------------------------------------------------------------------------------------------

    /** The number of optimizer steps completed. */
    public long state() {
        return step;
    }

    /** The number of optimizer steps completed (same as {@link #state()}). */
    public long step() {
        return step;
    }

    /**
     * The run's settings outside its training config, written into every checkpoint as {@value RunRecord#FILE_NAME};
     * null when none was recorded (and for a resumed checkpoint older than run records).
     */
    public RunRecord runRecord() {
        return runRecord;
    }

    /** Records {@code run} (may be null) to be written into every checkpoint from now on. */
    public void recordRun(RunRecord run) {
        checkOpen();
        this.runRecord = run;
    }

    /** The checkpoint folder this trainer was resumed from, or null for a new run. */
    public Path resumedFrom() {
        return resumedFrom;
    }

    /**
     * Changes the settings of this run from the next step on: the learning rate and its schedule, the loss options,
     * gradient clipping and accumulation, the seed and the checkpoints kept. What lives in the optimizer's and the
     * EMA's state (the optimizer and its hyper-parameters, the EMA decay and warm-up) cannot change.
     *
     * @throws IllegalArgumentException if {@code next} changes one of those, or asks label dropout of a model without
     *                                  a null class
     */
    public void reconfigure(TrainingConfig next) {
        checkOpen();
        if (next == null) {
            throw new IllegalArgumentException("reconfigure needs a training config");
        }
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
        if (next.labelDropout() > 0 && (!conditional || nullClassId < 0)) {
            throw new IllegalArgumentException("label_dropout " + next.labelDropout() + " needs a class-conditional "
                    + "model with a null class (diffusion4j.json null_class_id); " + model.source()
                    + (conditional ? " has no null class" : " is unconditional"));
        }
        config = next;
        appliedLearningRate = Double.NaN;
    }

    public TrainingConfig config() {
        return config;
    }

    public SchedulerConfig schedulerConfig() {
        return schedulerConfig;
    }

    /** The model's spec, or null. */
    public ModelSpec spec() {
        return spec;
    }

    /**
     * The TorchScript module being trained (owned by the trainer only when it came from {@link #resume}).
     *
     * @throws IllegalStateException if the model is a Java-built network (see {@link #model()})
     */
    public TorchScriptModule module() {
        TorchScriptModule m = TrainableModel.torchScriptModule(model);
        if (m == null) {
            throw new IllegalStateException(model.source() + " is not a TorchScript module; use model()");
        }
        return m;
    }

    /** The model being trained (owned by the trainer only when it came from {@link #resume}). */
    public TrainableModel model() {
        return model;
    }

    /** The EMA of the weights, or null when {@code emaDecay} is 0. */
    public Ema ema() {
        return ema;
    }

    /** The loss of the last step (NaN before the first). */
    public double lastLoss() {
        return lastLoss;
    }

    /** The global gradient norm before clipping of the last step; NaN when clipping is off. */
    public double lastGradNorm() {
        return lastGradNorm;
    }

    /** The learning rate the last step used. */
    public double lastLearningRate() {
        return lastLearningRate;
    }

    // ---- the step ----------------------------------------------------------------------------------------------

    /**
     * One optimizer step on a batch: draws per-example timesteps uniform in {@code [0, T)} and Gaussian noise (plus
     * offset noise and input perturbation if configured), noises {@code x0} with the forward process, predicts, and
     * minimises the (min-SNR-weighted) MSE against the target of the model's {@code prediction_type}; then clips,
     * steps the optimizer with the scheduled learning rate and updates the EMA.
     *
     * <p><b>Gradient accumulation:</b> one call is always one optimizer step. With {@code gradientAccumulation = k}
     * the batch is split into {@code k} micro-batches along dimension 0, each forwarded and back-propagated on its
     * own (activation memory of a {@code B/k} batch), with losses weighted by their share of the batch, so the update
     * equals the full-batch one up to float rounding. The random draws are made for the whole batch first, so they
     * do not depend on {@code k}.
     *
     * @param x0          clean samples {@code [B, ...sample shape]} (moved to the model's device, as float32)
     * @param classLabels {@code [B]} int64 labels for a class-conditional model, null for an unconditional one
     * @return the batch's mean loss (weighted, before the update)
     * @throws IllegalArgumentException  if the batch or labels do not fit the model
     * @throws NonFiniteLossException    if the loss or gradient norm is NaN or infinite (no update is applied)
     */
    public double step(Tensor x0, Tensor classLabels) {
        checkOpen();
        checkBatch(x0, classLabels);
        boolean turnedOff = PlainGraphs.off(plainGraphs);
        try {
            return drawnStep(x0, classLabels);
        } finally {
            PlainGraphs.restore(turnedOff);
        }
    }

    /** {@link #step} after its checks: the step's random draws, then loss, backward, optimizer and EMA. */
    private double drawnStep(Tensor x0, Tensor classLabels) {
        int batch = Math.toIntExact(x0.size(0));
        long s = step;
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
            step = s + 1;
            if (ema != null) {
                ema.update(s);
            }
            lastLoss = loss;
            lastGradNorm = gradNorm;
            lastLearningRate = lr;
            if (LOG.isTraceEnabled()) {
                LOG.trace("step {} loss {} lr {} grad norm {}", step, loss, lr, gradNorm);
            }
            return loss;
        }
    }

    private void checkBatch(Tensor x0, Tensor classLabels) {
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

    /**
     * The loss path of {@link #step} for explicit draws, without the optimizer: zeroes the gradients, noises
     * {@code x0} at {@code timesteps} with {@code noise}, predicts, computes the (min-SNR-weighted) MSE against the
     * target of the model's {@code prediction_type} and back-propagates it (in micro-batches with gradient
     * accumulation), leaving the gradients in the parameters. Class labels are used as given (no label dropout).
     * {@link #step} runs exactly this after drawing its timesteps and noise; PyTorch parity tests call it directly.
     *
     * @param x0          clean samples {@code [B, ...sample shape]}
     * @param classLabels {@code [B]} labels for a class-conditional model, null for an unconditional one
     * @param timesteps   {@code B} timesteps in {@code [0, num_train_timesteps)}
     * @param noise       {@code [B, ...sample shape]} Gaussian noise (the target of epsilon prediction)
     * @return the batch's mean loss
     * @throws IllegalArgumentException if the shapes do not fit each other or the model
     */
    public double lossAndGradients(Tensor x0, Tensor classLabels, long[] timesteps, Tensor noise) {
        checkOpen();
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

    // ---- data parallelism --------------------------------------------------------------------------------------

    /**
     * Makes this trainer one rank of a data-parallel job (see {@link DataParallel}): checks that every rank holds the
     * same model, config and step, broadcasts rank 0's parameters, and from now on averages gradients across the
     * ranks in every {@link #step}, whose batch is then this rank's shard of the global batch. Only rank 0 writes
     * checkpoints and exports. Call it on every rank before the first step of the job.
     *
     * @throws io.diffusion4j.bindings.DistributedException if the ranks differ or a peer fails
     */
    public void distribute(DataParallel dataParallel) {
        checkOpen();
        if (dataParallel == null) {
            throw new IllegalArgumentException("distribute needs a DataParallel");
        }
        try (NativeScope scope = new NativeScope()) {
            dataParallel.start(model.parameters(), config.toJson(), step);
        }
        this.dataParallel = dataParallel;
    }

    /** The data-parallel job this trainer is a rank of, or null. */
    public DataParallel dataParallel() {
        return dataParallel;
    }

    /** Whether this trainer writes checkpoints and exports: single-process, or rank 0 of a data-parallel job. */
    public boolean isMainRank() {
        return dataParallel == null || dataParallel.isMain();
    }

    // ---- checkpoints -------------------------------------------------------------------------------------------

    /**
     * Saves a checkpoint under {@code root} as {@code checkpoint-<step>} (see {@link Checkpoints}): the weights
     * ({@code model.pt}, TorchScript), the EMA weights ({@code ema.pt}), the optimizer state ({@code optimizer.pt}),
     * the step ({@code trainer_state.json}), the training config ({@code training_config.json}), the scheduler
     * config, when known {@code diffusion4j.json}, and the {@link #runRecord()} when there is one ({@code run.json}).
     * Written atomically (a crash leaves the earlier checkpoints and no half-written one); keeps the newest
     * {@code keepCheckpoints} checkpoints in {@code root}.
     *
     * <p>In a data-parallel job only rank 0 writes; the other ranks return the same path at once.
     *
     * @return the checkpoint folder
     */
    public Path saveTo(Path root) throws IOException {
        checkOpen();
        if (!isMainRank()) {
            return root.resolve(Checkpoints.name(step));
        }
        return Checkpoints.writeAtomically(root, Checkpoints.name(step), config.keepCheckpoints(),
                dir -> TrainerCheckpoints.writeInto(this, dir));
    }

    /**
     * Continues a run from a checkpoint folder written by {@link #saveTo} (or from the newest checkpoint in a folder
     * of checkpoints). The returned trainer owns the module it loaded ({@link #module()}) and closes it.
     *
     * @throws CheckpointException if a file is missing or does not fit the others
     * @see #resume(Path, Device, Consumer)
     */
    public static Trainer resume(Path checkpoint, Device device) throws IOException {
        return resume(checkpoint, device, LOG::warn);
    }

    /**
     * As {@link #resume(Path, Device)}; from a folder of checkpoints it resumes from the newest one that loads: each
     * partial save left behind and each newer checkpoint that fails to load is skipped with one line to
     * {@code warnings}.
     *
     * @throws CheckpointException if {@code checkpoint} is a checkpoint folder that does not load, or no checkpoint
     *                             in a folder of them loads (the newest one's error)
     */
    public static Trainer resume(Path checkpoint, Device device, Consumer<String> warnings) throws IOException {
        return TrainerCheckpoints.resume(checkpoint, device, warnings);
    }

    // ---- export ------------------------------------------------------------------------------------------------

    /**
     * Writes a model folder that {@link ModelFolder#open} loads and Python's {@code torch.jit.load} runs:
     * {@code model.pt} (the EMA weights when the EMA is on, in eval mode), {@code scheduler_config.json} and, when
     * {@code source} is given, {@code diffusion4j.json} (the source spec plus a {@code training} record of this run).
     */
    public void export(Path dir, SchedulerConfig schedulerConfig, ModelSpec source) throws IOException {
        checkOpen();
        if (!isMainRank()) {   // data-parallel: rank 0 exports
            return;
        }
        Files.createDirectories(dir);
        boolean wasTraining = model.isTraining();
        model.train(false);
        if (ema != null) {
            ema.swap();
        }
        // saved frozen (requires_grad off), as a model for inference should be; restored for further training
        List<Boolean> grads = new java.util.ArrayList<>();
        try (NativeScope scope = new NativeScope()) {
            List<Tensor> params = model.parameters();
            try {
                for (Tensor p : params) {
                    grads.add(p.requiresGrad());
                    p.requiresGrad(false);
                }
                model.exportTo(dir);
            } finally {
                for (int i = 0; i < grads.size(); i++) {
                    params.get(i).requiresGrad(grads.get(i));
                }
                if (ema != null) {
                    ema.swap();
                }
                model.train(wasTraining);
            }
        }
        Path schedulerFile = dir.resolve(model.schedulerConfigFile());
        Files.createDirectories(schedulerFile.toAbsolutePath().getParent());
        (schedulerConfig != null ? schedulerConfig : this.schedulerConfig).write(schedulerFile);
        if (source != null) {
            ObjectNode training = SpecJson.JSON.createObjectNode();
            training.put("steps", step);
            training.put("weights", ema != null ? "ema" : "raw");
            training.set("config", SpecJson.JSON.readTree(config.toJson()));
            training.put("trainer", "diffusion4j (LibTorch " + Torch.libtorchVersion() + ")");
            Path specFile = dir.resolve(ModelSpec.FILE_NAME);
            Path tmp = Files.createTempFile(dir, ModelSpec.FILE_NAME, ".tmp");
            try {
                Files.writeString(tmp, SpecJson.write(source, model, training));
                Files.move(tmp, specFile, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        }
    }

    // ---- lifecycle ---------------------------------------------------------------------------------------------

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("trainer is closed");
        }
    }

    /** Frees the optimizer state and the EMA (and the module, when it came from {@link #resume}). */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            optimizer.close();
            if (ema != null) {
                ema.close();
            }
            if (ownsModule) {
                model.close();
            }
        }
    }
}
