package io.diffusion4j.cli;

import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.distillation.ConsistencyDistillation;
import io.diffusion4j.distillation.GuidanceDistillation;
import io.diffusion4j.distillation.GuidanceRange;
import io.diffusion4j.distillation.LossWeighting;
import io.diffusion4j.distillation.ProgressiveDistillation;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelNotFoundException;
import io.diffusion4j.scheduler.PredictionType;
import io.diffusion4j.training.data.Dataset;
import io.diffusion4j.training.data.DatasetException;
import io.diffusion4j.training.data.TensorFileDataset;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code diffusion4j distill}: distil a teacher into a few-step student model folder. */
@Command(name = "distill", mixinStandardHelpOptions = true,
        description = {"Distil a denoiser into a student that samples in few steps; the result in --out is a model "
                + "folder that 'diffusion4j sample' uses with the right scheduler and step count by default.",
            "progressive (Salimans & Ho 2022): rounds halve the DDIM steps, --teacher-steps -> ... -> --steps-to; "
                + "each round's student (out/rounds/steps-N) teaches the next; metrics in out/metrics.csv; running "
                + "again with the same --out resumes after the last finished round. The students predict "
                + "--student-prediction (v_prediction by default); --guidance W distils the classifier-free guided "
                + "teacher (scale W) into them, one forward per step (Meng et al. 2023); --guidance-range MIN,MAX "
                + "distils a guidance-conditioned teacher into students that keep the guidance-scale input.",
            "consistency (Song et al. 2023 / LCM): a consistency function f = c_skip x + c_out x0 trained against "
                + "one DDIM step of the teacher on --original-steps timesteps, with an EMA target network; sampled "
                + "with LCMScheduler in --steps-to steps; --guidance W makes the teacher's step classifier-free guided "
                + "(scale W), so the student samples guided in one forward per step (Luo et al. 2023); "
                + "--snapshot-every N also writes the student every N steps to out/snapshots/step-N.",
            "guidance (Meng et al. 2023): --student (by default, for a Java-built unet teacher, the teacher plus a "
                + "zero-initialised guidance embedding), a model whose forward takes (sample, timestep, class_labels, "
                + "guidance_scale), learns the teacher's classifier-free guided prediction for guidance scales in "
                + "--guidance-range, so a guided step costs one forward instead of two; sampled with DDIM in "
                + "--steps-to steps."})
final class DistillCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--teacher", required = true, paramLabel = "NAME|DIR",
            description = "A built-in model or a model folder (TorchScript model.pt or a Java-built network).")
    String teacher;

    @Option(names = "--method", required = true, paramLabel = "M",
            description = "progressive, consistency or guidance.")
    String method;

    @Option(names = "--steps-to", required = true, paramLabel = "N",
            description = "The student's sampling steps (progressive: the last round's; consistency: the default "
                    + "of its LCMScheduler).")
    int stepsTo;

    @Option(names = "--teacher-steps", paramLabel = "N", defaultValue = "64",
            description = "progressive: the teacher's DDIM steps in the first round, --steps-to times a power of two "
                    + "(default: ${DEFAULT-VALUE}).")
    int teacherSteps;

    @Option(names = "--student-prediction", paramLabel = "TYPE",
            description = "progressive: what the students' output means, epsilon, v_prediction or sample (default: "
                    + "v_prediction; each round's teacher is read with its own type).")
    String studentPrediction;

    @Option(names = "--guidance", paramLabel = "W",
            description = "progressive, consistency: distil the classifier-free guided teacher uncond + W (cond - uncond) "
                    + "into the students (a class-conditional teacher with a null class, --labels); sampled without "
                    + "--guidance.")
    Double guidance;

    @Option(names = "--snapshot-every", paramLabel = "N", defaultValue = "0",
            description = "consistency: also write the student every N optimizer steps to out/snapshots/step-N "
                    + "(default: ${DEFAULT-VALUE} = never).")
    int snapshotEvery;

    @Option(names = "--original-steps", paramLabel = "N", defaultValue = "50",
            description = "consistency: the teacher's DDIM grid (LCMScheduler original_inference_steps; default: "
                    + "${DEFAULT-VALUE}).")
    int originalSteps;

    @Option(names = "--student", paramLabel = "DIR",
            description = "guidance: the initial student, a model folder whose forward takes a guidance_scale "
                    + "(e.g. the teacher's network plus a zero-initialised guidance embedding); default for a "
                    + "Java-built unet teacher: the teacher plus such an embedding (guidance_embedding).")
    String student;

    @Option(names = "--guidance-range", paramLabel = "MIN,MAX",
            description = "guidance: the guidance scales trained (default: " + DEFAULT_GUIDANCE_RANGE + "). "
                    + "progressive: the teacher is guidance-conditioned (a guidance student) and so are the students, "
                    + "both run at w drawn per example in MIN,MAX (no default; exclusive with --guidance); the "
                    + "students sample with --guidance W in one forward per step.")
    String guidanceRange;

    static final String DEFAULT_GUIDANCE_RANGE = "1,5";

    @Option(names = "--data", required = true, paramLabel = "FILE.pt",
            description = "Training examples: a tensor file [N, ...sample shape] in the model's value range.")
    Path data;

    @Option(names = "--labels", paramLabel = "FILE.pt", description = "Class ids [N] (int64) for a conditional teacher.")
    Path labels;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder (the student).")
    Path out;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "2000",
            description = "Optimizer steps (progressive: per round; default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = {"-b", "--batch"}, paramLabel = "B", defaultValue = "256",
            description = "Examples per step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--lr", paramLabel = "LR", defaultValue = "5e-4",
            description = "Adam learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--weighting", paramLabel = "W", defaultValue = "truncated-snr",
            description = "progressive: truncated-snr (max(SNR,1), the paper's) or snr+1 (a v target) (default: "
                    + "${DEFAULT-VALUE}).")
    String weighting;

    @Option(names = "--ema", paramLabel = "DECAY", defaultValue = "0.95",
            description = "consistency: decay of the EMA target network (default: ${DEFAULT-VALUE}).")
    double ema;

    @Option(names = "--clip-grad", paramLabel = "NORM", defaultValue = "1.0",
            description = "Global gradient-norm clip, 0 = off (default: ${DEFAULT-VALUE}).")
    double clipGrad;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0", description = "Seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Mixin
    ComputeOptions compute;

    @Override
    public Integer call() throws Exception {
        PrintWriter stdout = spec.commandLine().getOut();
        Device dev = compute.apply();
        ModelFolder folder;
        try {
            folder = ModelFolder.resolve(teacher);
        } catch (ModelNotFoundException e) {
            throw new UsageException("--teacher: " + e.getMessage());
        }
        if (folder.schedulerConfig() == null) {
            throw new UsageException("--teacher " + teacher + " has no scheduler_config.json: it is not a denoiser");
        }
        String m = method.trim().toLowerCase(Locale.ROOT);
        if (!m.equals("progressive") && !m.equals("consistency") && !m.equals("guidance")) {
            throw new UsageException("--method must be progressive, consistency or guidance, got '" + method + "'");
        }
        if (!m.equals("progressive") && studentPrediction != null) {
            throw new UsageException("--student-prediction applies to --method progressive only");
        }
        if (m.equals("guidance") && guidance != null) {
            throw new UsageException("--guidance applies to --method progressive or consistency (guidance trains "
                    + "--guidance-range)");
        }
        if (!m.equals("consistency") && snapshotEvery != 0) {
            throw new UsageException("--snapshot-every applies to --method consistency only");
        }
        if (m.equals("consistency") && guidanceRange != null) {
            throw new UsageException("--guidance-range applies to --method guidance or progressive only");
        }
        ModelFolder studentInit = null;
        if (m.equals("guidance")) {
            if (student == null && folder.architecture() == null) {
                throw new UsageException("--method guidance needs --student DIR (a model whose forward takes "
                        + "(sample, timestep, class_labels, guidance_scale)) unless --teacher is a Java-built unet");
            }
            try {
                studentInit = student == null ? null : ModelFolder.resolve(student);
            } catch (ModelNotFoundException e) {
                throw new UsageException("--student: " + e.getMessage());
            }
        } else if (student != null) {
            throw new UsageException("--student applies to --method guidance only");
        }
        for (Path f : new Path[] {data, labels}) {
            if (f != null && !java.nio.file.Files.isRegularFile(f)) {
                throw new UsageException((f == data ? "--data " : "--labels ") + f + ": no such file (a tensor file "
                        + "written by torch.save or diffusion4j)");
            }
        }
        try (NativeScope scope = new NativeScope()) {
            Dataset ds;
            try {
                TensorFileDataset t = TensorFileDataset.read(data, labels);
                if (folder.spec() != null) {
                    t.requireSampleShape(folder.spec().sampleShape(), folder.spec().name());
                }
                ds = t;
            } catch (DatasetException | io.diffusion4j.bindings.TensorFileException e) {
                throw new UsageException("--data: " + e.getMessage());
            }
            long t0 = System.nanoTime();
            if (m.equals("progressive")) {
                ProgressiveDistillation.Config config;
                try {
                    double[] r = guidanceRange == null ? null : guidanceRange();
                    config = new ProgressiveDistillation.Config(teacherSteps, stepsTo, steps, batch, lr,
                            LossWeighting.parse(weighting), clipGrad, seed, studentPrediction(),
                            guidance == null ? 0 : guidance, r == null ? null : new GuidanceRange(r[0], r[1]));
                } catch (IllegalArgumentException e) {
                    throw new UsageException(e.getMessage());
                }
                int report = Math.max(1, steps / 10);
                try {
                    new ProgressiveDistillation(config).run(folder, ds, out, dev, new ProgressiveDistillation.Listener() {
                        @Override
                        public void onStep(int studentSteps, long step, double loss) {
                            if (step % report == 0) {
                                stdout.printf(Locale.ROOT, "  round -> %d steps: step %d/%d, loss %.5g%n",
                                        studentSteps, step, steps, loss);
                            }
                        }

                        @Override
                        public void onRound(ProgressiveDistillation.Round r) {
                            stdout.printf(Locale.ROOT, "round %d -> %d steps done: loss %.5g, %.1f s, %s%n",
                                    r.teacherSteps(), r.studentSteps(), r.finalLoss(), r.seconds(), r.folder());
                        }

                        @Override
                        public void onResumed(ProgressiveDistillation.Round r) {
                            stdout.printf(Locale.ROOT, "round %d -> %d steps already done (%s), resuming after it%n",
                                    r.teacherSteps(), r.studentSteps(), r.folder());
                        }
                    });
                } catch (IllegalArgumentException e) {
                    throw new UsageException(e.getMessage());
                }
            } else if (m.equals("guidance")) {
                double[] range = guidanceRange();
                GuidanceDistillation.Config config;
                try {
                    config = new GuidanceDistillation.Config(stepsTo, steps, batch, lr, range[0], range[1], clipGrad,
                            seed);
                } catch (IllegalArgumentException e) {
                    throw new UsageException(e.getMessage());
                }
                int report = Math.max(1, steps / 10);
                try {
                    new GuidanceDistillation(config).run(folder, studentInit, ds, out, dev, (step, loss) -> {
                        if (step % report == 0) {
                            stdout.printf(Locale.ROOT, "  step %d/%d, loss %.5g%n", step, steps, loss);
                        }
                    });
                } catch (IllegalArgumentException e) {
                    throw new UsageException(e.getMessage());
                }
            } else {
                ConsistencyDistillation.Config config;
                try {
                    config = new ConsistencyDistillation.Config(originalSteps, stepsTo, steps, batch, lr, ema, clipGrad,
                            seed, guidance == null ? 0 : guidance, snapshotEvery);
                } catch (IllegalArgumentException e) {
                    throw new UsageException(e.getMessage());
                }
                int report = Math.max(1, steps / 10);
                try {
                    new ConsistencyDistillation(config).run(folder, ds, out, dev, (step, loss) -> {
                        if (step % report == 0) {
                            stdout.printf(Locale.ROOT, "  step %d/%d, loss %.5g%n", step, steps, loss);
                        }
                    });
                } catch (IllegalArgumentException e) {
                    throw new UsageException(e.getMessage());
                }
            }
            stdout.printf(Locale.ROOT, "distilled %s (%s, %d steps) into %s in %.1f s; sample it with "
                    + "'diffusion4j sample --model %s'%n", folder.location(), m, stepsTo, out,
                    (System.nanoTime() - t0) / 1e9, out);
        }
        return 0;
    }

    /** {@code --student-prediction}, parsed (default v_prediction). */
    private PredictionType studentPrediction() {
        if (studentPrediction == null) {
            return ProgressiveDistillation.Config.DEFAULT_STUDENT_PREDICTION;
        }
        try {
            String t = studentPrediction.trim().toLowerCase(Locale.ROOT);
            return PredictionType.fromConfigName(t.equals("v") ? "v_prediction" : t.equals("x0") ? "sample" : t);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--student-prediction must be epsilon, v_prediction (v) or sample (x0), got '"
                    + studentPrediction + "'");
        }
    }

    /** {@code --guidance-range MIN,MAX} (the guidance method's default when not given). */
    private double[] guidanceRange() {
        String given = guidanceRange != null ? guidanceRange : DEFAULT_GUIDANCE_RANGE;
        String[] parts = given.split(",");
        try {
            if (parts.length == 2) {
                return new double[] {Double.parseDouble(parts[0].strip()), Double.parseDouble(parts[1].strip())};
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new UsageException("--guidance-range must be MIN,MAX (e.g. 1,5), got " + given);
    }
}
