package io.diffusion4j.cli;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.StartupTrace;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.image.Images;
import io.diffusion4j.image.ValueRange;
import io.diffusion4j.lint.ConfigCheck;
import io.diffusion4j.model.Denoiser;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.model.diffusers.LatentComponent;
import io.diffusion4j.model.diffusers.autoencoder.Autoencoder;
import io.diffusion4j.pipeline.DiffusionPipeline;
import io.diffusion4j.pipeline.latent.LatentDiffusionPipeline;
import io.diffusion4j.pipeline.GenerationRequest;
import io.diffusion4j.pipeline.StepEvent;
import io.diffusion4j.pipeline.StepListener;
import io.diffusion4j.scheduler.AdaptiveScheduler;
import io.diffusion4j.scheduler.HeunScheduler;
import io.diffusion4j.scheduler.Scheduler;
import io.diffusion4j.scheduler.SchedulerConfig;
import io.diffusion4j.scheduler.Schedulers;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** The CLI's glue around {@link DiffusionPipeline}: open the model, run, write PNG/tensor files. */
final class Generation {
    private Generation() {
    }

    /** Builds the request from the options plus {@code extra}, runs it, writes outputs; returns the exit code. */
    static int run(GenerationOptions o, Path outOrNull, PrintWriter stdout, PrintWriter stderr,
                   Customizer extra) throws IOException {
        StartupTrace.mark("command line parsed");
        if (o.threads != null) {
            if (o.threads < 1) {
                throw new UsageException("--threads must be >= 1, got " + o.threads);
            }
            Torch.setThreads(o.threads);
        }
        if (o.batch < 1) {
            throw new UsageException("--batch must be >= 1, got " + o.batch);
        }
        int[] shard = o.shard();
        if (o.eta < 0) {
            throw new UsageException("--eta must be >= 0, got " + o.eta);
        }
        ModelFolder folder;
        try {
            folder = ModelFolder.resolve(o.model);
        } catch (io.diffusion4j.model.ModelNotFoundException e) {
            throw new UsageException("--model: " + e.getMessage());
        }
        StartupTrace.mark("model folder read (" + folder.location() + ")");
        SchedulerConfig config = folder.schedulerConfig();
        if (config == null) {
            throw new UsageException(folder.location() + " has no scheduler_config.json: it is not a denoiser");
        }
        if (folder.spec() != null && folder.spec().distilledGuidanceScale() > 0 && o.guidance != 1) {
            throw new UsageException("--guidance: " + folder.location() + " has classifier-free guidance scale "
                    + folder.spec().distilledGuidanceScale() + " distilled into it (distilled_guidance_scale); sample "
                    + "it without --guidance");
        }
        Scheduler scheduler = scheduler(o, config);
        LintCommand.warn(ConfigCheck.check(scheduler, o.guidance, folder.spec()), stderr);
        // a distilled model folder names its step count (num_inference_steps) in its scheduler_config.json
        long[] listed = scheduler.config().timesteps();
        if (listed != null && o.steps != null && o.steps != listed.length) {
            throw new UsageException("--steps " + o.steps + " does not match the " + listed.length + " timesteps "
                    + java.util.Arrays.toString(listed) + (o.timesteps != null ? " of --timesteps" : " the model's "
                    + "scheduler_config.json lists") + "; leave out --steps or give " + listed.length);
        }
        int steps = listed != null ? listed.length : o.steps != null ? o.steps
                : config.extraInt("num_inference_steps", switch (scheduler.name()) {
            case "ddpm" -> config.numTrainTimesteps();
            case "ddim" -> 50;
            case "lcm" -> 4;
            default -> 20;
        });
        if (steps < 1 || steps > config.numTrainTimesteps()) {
            throw new UsageException("--steps must be between 1 and " + config.numTrainTimesteps() + " (the model's "
                    + "num_train_timesteps), got " + steps);
        }
        ModelSpec spec = folder.spec();
        long[] sampleShape = SampleShapes.parse("--sample-shape", o.sampleShape);
        if (sampleShape == null && spec != null) {
            sampleShape = spec.sampleShape();
        }
        ValueRange range = ValueRanges.parse("--value-range", o.valueRange);
        if (range == null) {
            range = spec != null ? spec.valueRange()
                    : sampleShape != null && sampleShape.length == 3 ? ValueRange.MINUS_ONE_TO_ONE : null;
        }
        if (o.threads == null && sampleShape != null) {
            long elements = o.batch;
            for (long d : sampleShape) {
                elements *= d;
            }
            Torch.setThreads(Torch.defaultThreads(Math.max(1, elements))); // one thread for small forwards (measured)
            StartupTrace.mark("threads set (the natives are loaded)");
        }
        if (spec == null && sampleShape != null) {
            // a folder without diffusion4j.json: what the options say (the model's signature it reads itself)
            spec = new ModelSpec(folder.location(), "denoiser", sampleShape, range, java.util.List.of(), null, 0, -1);
        }
        Path out = outOrNull;
        if (out == null && range != null && o.saveTensor == null) {
            out = Path.of("sample.png");
        }
        if (out != null && range == null) {
            throw new UsageException(folder.location() + " does not make images (no value_range in diffusion4j.json"
                    + (spec == null ? "; without one, give --sample-shape C,H,W" : "") + "); use --save-tensor FILE "
                    + "instead of --out");
        }
        LatentComponent latentModel = folder.latent();
        if (latentModel == null && (o.saveLatent != null || o.tiledDecode)) {
            throw new UsageException((o.saveLatent != null ? "--save-latent" : "--tiled-decode") + " applies to latent "
                    + "models (a diffusers folder with vae/ or vqvae/); " + folder.location() + " is a pixel-space model");
        }
        long modelEvaluations = scheduler instanceof AdaptiveScheduler ? -1
                : scheduler instanceof HeunScheduler ? 2L * steps - 1 : steps;
        try (ShortRun run = ShortRun.choose(o.freeze, modelEvaluations);
             NativeScope scope = new NativeScope();
             Denoiser denoiser = folder.loadDenoiser(o.device(), o.dtype(), run.scriptMode());
             Autoencoder autoencoder = latentModel == null ? null : latentModel.load(o.device(), o.dtype());
             LatentDiffusionPipeline latent = autoencoder == null ? null
                     : new LatentDiffusionPipeline(denoiser, scheduler, sampleShape, autoencoder, o.tiledDecode);
             DiffusionPipeline pixel = latent == null ? new DiffusionPipeline(denoiser, scheduler, sampleShape)
                     : null) {
            DiffusionPipeline pipeline = latent != null ? latent.latentPipeline() : pixel;
            RunContext ctx = new RunContext(folder, spec, denoiser, latent);
            GenerationRequest.Builder req = GenerationRequest.builder().steps(steps).seed(o.seed).batchSize(o.batch)
                    .guidanceScale(o.guidance).checkNumerics(o.checkNumerics);
            extra.customize(ctx, req);
            if (o.classes != null) {
                req.classLabels(o.classes);
            }
            StepListener progress = System.console() != null ? new ProgressBar(stderr) : null;
            int[] evaluations = {0};
            if (scheduler instanceof AdaptiveScheduler) {
                req.listener(e -> {
                    evaluations[0] = e.step();
                    if (progress != null) {
                        progress.onStep(e);
                    }
                });
            } else if (progress != null) {
                req.listener(progress);
            }
            GenerationRequest request;
            try {
                request = req.build();
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
            if (shard != null) {
                try {
                    request = request.shard(shard[0], shard[1]);
                } catch (IllegalArgumentException e) {
                    throw new UsageException("--shard: " + e.getMessage());
                }
                int[] js = GenerationRequest.shardIndices(o.batch, shard[0], shard[1]);
                stdout.printf("shard %d/%d: samples %s of %d (seeds %s)%n", shard[0], shard[1],
                        java.util.Arrays.toString(js), o.batch, java.util.Arrays.toString(request.seeds()));
            }
            long t0 = System.nanoTime();
            Tensor result;
            try {
                result = pipeline.generate(request);
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
            StartupTrace.mark("generated (" + steps + " step(s))");
            Tensor finalLatent = null;
            if (latent != null) {
                finalLatent = result;
                result = latent.decode(result);
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            Path tensorFile = GenerationOptions.shardFile(o.saveTensor, shard);
            out = GenerationOptions.shardFile(out, shard);
            Path latentFile = GenerationOptions.shardFile(o.saveLatent, shard);
            if (latentFile != null) {
                TensorFiles.write(latentFile, finalLatent);
                stdout.println("wrote " + latentFile + " (the final latent, " + finalLatent.describe() + ")");
            }
            if (tensorFile != null) {
                TensorFiles.write(tensorFile, result);
                stdout.println("wrote " + tensorFile + " (" + result.describe() + ")");
            }
            if (out != null) {
                List<BufferedImage> images = Images.toImages(result, range);
                int scale = (int) Math.max(1, Math.min(8, 64 / Math.max(1, result.size(result.dim() - 1))));
                Images.writePng(Images.grid(images, scale), out);
                stdout.println("wrote " + out + " (" + images.size() + " image(s), " + result.size(result.dim() - 1)
                        + "x" + result.size(result.dim() - 2) + ")");
            }
            StartupTrace.mark("output written");
            String work = scheduler instanceof AdaptiveScheduler ? "adaptive solver, " + evaluations[0]
                    + " model evaluations" : steps + " " + scheduler.name() + " steps"
                    + (scheduler instanceof HeunScheduler ? " (" + modelEvaluations + " model evaluations)" : "");
            stdout.printf("%s: %s, batch %d, seed %d, %.2f s on %s%n", folder.location(), work, request.batchSize(),
                    o.seed, seconds, denoiser.device());
            stdout.flush();
        }
        return 0;
    }

    /** The scheduler the options name, with --order, --karras and --rtol/--atol applied as config keys. */
    static Scheduler scheduler(GenerationOptions o, SchedulerConfig config) {
        String name = o.scheduler != null ? o.scheduler.trim().toLowerCase(Locale.ROOT) : Schedulers.nameOf(config);
        SchedulerConfig.Builder b = config.toBuilder();
        if (o.order != null) {
            if (o.order < 1 || o.order > 3) {
                throw new UsageException("--order must be 1, 2 or 3, got " + o.order);
            }
            if (!name.contains("dpm") && !name.equals("unipc") || name.equals("kdpm2")) {
                throw new UsageException("--order applies to dpmsolver++, sde-dpmsolver++, dpmsolver-single and unipc, "
                        + "not " + name);
            }
            b.putExtra("solver_order", o.order);
        }
        if (o.karras) {
            if (!List.of("euler", "euler-a", "heun", "dpmsolver++", "sde-dpmsolver++", "unipc", "lms", "kdpm2",
                    "dpmsolver-single").contains(name)) {
                throw new UsageException("--karras applies to euler, euler-a, heun, dpmsolver++, sde-dpmsolver++, unipc, "
                        + "lms, kdpm2 and dpmsolver-single, not " + name);
            }
            if (o.timesteps != null) {
                throw new UsageException("--karras builds its own timesteps; leave out --karras or --timesteps");
            }
            b.putExtra("use_karras_sigmas", true);
        }
        tolerance(b, "rtol", o.rtol, name);
        tolerance(b, "atol", o.atol, name);
        SchedulerConfig applied;
        try {
            applied = b.build();
            if (o.timesteps != null) {
                applied = applied.withTimesteps(o.timesteps);
            }
        } catch (IllegalArgumentException e) {
            throw new UsageException("--timesteps: " + e.getMessage());
        }
        try {
            return o.scheduler != null ? Schedulers.byName(o.scheduler, applied, o.eta)
                    : Schedulers.fromConfig(applied, o.eta);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--scheduler: " + e.getMessage());
        }
    }

    private static void tolerance(SchedulerConfig.Builder b, String key, Double value, String scheduler) {
        if (value == null) {
            return;
        }
        if (!scheduler.equals("adaptive")) {
            throw new UsageException("--" + key + " applies to the adaptive solver (--scheduler adaptive), not "
                    + scheduler);
        }
        if (!(value > 0) || value.isInfinite()) {
            throw new UsageException("--" + key + " must be > 0, got " + value);
        }
        b.putExtra(key, value);
    }

    /** Adds a command's own inputs to the request (inside the run's native scope). */
    @FunctionalInterface
    interface Customizer {
        void customize(RunContext ctx, GenerationRequest.Builder request) throws IOException;
    }

    /** What a command may need to build its request. */
    record RunContext(ModelFolder folder, ModelSpec spec, Denoiser denoiser, LatentDiffusionPipeline latent) {
    }

    /** A one-line progress bar on stderr. */
    static final class ProgressBar implements StepListener {
        private final PrintWriter err;

        ProgressBar(PrintWriter err) {
            this.err = err;
        }

        @Override
        public void onStep(StepEvent e) {
            if (e.steps() == 0) { // the adaptive solver: the number of evaluations is not known in advance
                err.printf("\r%d model evaluations, %.1fs ", e.step(), e.elapsed().toMillis() / 1000.0);
                err.flush();
                return;
            }
            int width = 30;
            int filled = (int) ((long) width * e.step() / e.steps());
            err.printf("\r[%s%s] %d/%d  eta %.1fs ", "#".repeat(filled), " ".repeat(width - filled), e.step(), e.steps(),
                    e.remaining().toMillis() / 1000.0);
            if (e.step() == e.steps()) {
                err.println();
            }
            err.flush();
        }
    }
}
