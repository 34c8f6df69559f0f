package io.diffusion4j.training;

import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.bindings.TorchScriptRuntime;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.model.TrainableModel;
import io.diffusion4j.scheduler.SchedulerConfig;
import java.io.IOException;
import java.nio.file.Path;
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
 * affect it. Not thread-safe: one thread at a time drives a trainer (any thread; see above).
 */
public final class Trainer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Trainer.class);

    static final String MODEL_FILE = ModelFolder.MODEL_FILE;
    static final String EMA_FILE = "ema.pt";
    static final String OPTIMIZER_FILE = "optimizer.pt";
    static final String CONFIG_FILE = "training_config.json";

    final TrainableModel model;
    private final boolean ownsModule;
    final SchedulerConfig schedulerConfig;
    final ModelSpec spec;
    final TrainingStep steps;
    RunRecord runRecord;
    Path resumedFrom;
    private DataParallel dataParallel;
    long step;
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
        this.steps = new TrainingStep(model, schedulerConfig, spec, config);
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
        steps.reconfigure(next);
    }

    public TrainingConfig config() {
        return steps.config();
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
        return steps.ema;
    }

    /** The loss of the last step (NaN before the first). */
    public double lastLoss() {
        return steps.lastLoss();
    }

    /** The global gradient norm before clipping of the last step; NaN when clipping is off. */
    public double lastGradNorm() {
        return steps.lastGradNorm();
    }

    /** The learning rate the last step used. */
    public double lastLearningRate() {
        return steps.lastLearningRate();
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
        long s = step;
        double loss = steps.run(s, x0, classLabels, dataParallel);
        step = s + 1;
        return loss;
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
        return steps.lossAndGradients(x0, classLabels, timesteps, noise);
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
            dataParallel.start(model.parameters(), steps.config().toJson(), step);
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
        return Checkpoints.writeAtomically(root, Checkpoints.name(step), steps.config().keepCheckpoints(),
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
        TrainerExport.writeModelFolder(this, dir, schedulerConfig != null ? schedulerConfig : this.schedulerConfig,
                source);
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
            steps.close();
            if (ownsModule) {
                model.close();
            }
        }
    }
}
