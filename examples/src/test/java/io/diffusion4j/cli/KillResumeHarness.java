package io.diffusion4j.cli;

import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.bindings.TorchScriptRuntime;
import io.diffusion4j.training.Checkpoints;
import io.diffusion4j.training.LocalLauncher;
import io.diffusion4j.training.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

/**
 * Kills real {@code diffusion4j train} processes with SIGKILL at seeded random moments (inside a step, or while a
 * checkpoint is being written) and resumes them with only {@code --resume --data --steps}, until the run ends; then
 * compares its exported weights with an uninterrupted run's. Used by {@link TrainKillResumeTest} (a few kills) and,
 * by hand, for longer runs: {@code java -cp <test classpath> io.diffusion4j.cli.KillResumeHarness WORK DATA SEED
 * KILLS STEPS EVERY}.
 */
final class KillResumeHarness {
    /** What happened to one killed process. */
    record Kill(int attempt, String mode, long csvStep, long newestCheckpoint, boolean partialLeft) {
        long stepsLost() {
            return csvStep - newestCheckpoint;
        }
    }

    /** The outcome of a run. */
    record Report(List<Kill> kills, float[] straight, float[] resumed, List<String> resumeStderr, String runJson) {
        long maxStepsLost() {
            return kills.stream().mapToLong(Kill::stepsLost).max().orElse(0);
        }

        long killsInsideWrites() {
            return kills.stream().filter(Kill::partialLeft).count();
        }
    }

    private final Path work;
    private final Path data;
    private final Random random;
    private final int steps;
    private final int every;

    KillResumeHarness(Path work, Path data, long seed, int steps, int every) {
        this.work = work;
        this.data = data;
        this.random = new Random(seed);
        this.steps = steps;
        this.every = every;
    }

    private List<String> runArgs(Path out) {
        return new ArrayList<>(List.of("train", "--model", "toy2d", "--data", data.toString(), "--steps",
                Integer.toString(steps), "--batch", "256", "--ema", "0.99", "--lr", "1e-3", "--lr-schedule", "cosine",
                "--warmup-steps", "3", "--seed", "11", "--threads", "1", "--out", out.toString()));
    }

    /**
     * Runs the straight run (in this process when {@code straightHere}, which saves a JVM start; else as a process
     * too), then the killed and resumed one, with {@code kills} kills.
     */
    Report run(int kills, boolean straightHere) throws IOException, InterruptedException {
        Path straightOut = work.resolve("straight");
        if (straightHere) {
            java.io.StringWriter log = new java.io.StringWriter();
            java.io.PrintWriter w = new java.io.PrintWriter(log, true);
            int code = Main.run(runArgs(straightOut).toArray(String[]::new), w, w);
            TorchScriptRuntime.setGraphOptimization(true);
            if (code != 0) {
                throw new IllegalStateException("the straight run failed: " + log);
            }
        } else {
            Process straight = start(runArgs(straightOut), work.resolve("straight.log"));
            finish(straight, "the straight run", work.resolve("straight.log"));
        }

        Path ck = work.resolve("ck");
        Path csv = work.resolve("metrics.csv");
        Path out = work.resolve("out");
        List<String> first = runArgs(out);
        first.addAll(List.of("--checkpoint-dir", ck.toString(), "--checkpoint-every", Integer.toString(every),
                "--keep", "2", "--metrics-csv", csv.toString()));
        List<String> resume = List.of("train", "--resume", ck.toString(), "--data", data.toString(), "--steps",
                Integer.toString(steps));
        List<Kill> done = new ArrayList<>();
        List<String> resumeStderr = new ArrayList<>();
        for (int attempt = 0; ; attempt++) {
            Path log = work.resolve("attempt-" + attempt + ".log");
            Process p = start(attempt == 0 ? first : resume, log);
            if (done.size() == kills) {
                finish(p, "the last resume", log);
                resumeStderr.addAll(stderrLines(log));
                break;
            }
            long startStep = newestStep(ck);
            boolean inWrite = random.nextInt(3) == 0;
            long target = Math.min(steps - 1, startStep + every + 1 + random.nextInt(2 * every));
            boolean killed = false;
            while (p.isAlive()) {
                boolean fire = inWrite ? newestStep(ck) > startStep && hasPartial(ck) : lastCsvStep(csv) >= target;
                if (fire) {
                    p.destroyForcibly();   // SIGKILL on Linux
                    killed = true;
                    break;
                }
                LockSupport.parkNanos(300_000);   // not a busy loop: the trainer needs the core
            }
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("attempt " + attempt + " did not end: " + Files.readString(log));
            }
            if (attempt > 0) {
                resumeStderr.addAll(stderrLines(log));
            }
            if (!killed) {
                if (p.exitValue() != 0) {
                    throw new IllegalStateException("attempt " + attempt + " failed: " + Files.readString(log));
                }
                break;   // it finished before the kill
            }
            long newest = newestStep(ck);
            requireLoads(ck);
            done.add(new Kill(attempt, inWrite ? "in a checkpoint write" : "at step ~" + target, lastCsvStep(csv),
                    newest, hasPartial(ck)));
        }
        return new Report(done, weights(straightOut), weights(out), resumeStderr,
                Files.readString(Checkpoints.latest(ck).resolve("run.json")));
    }

    private static Process start(List<String> args, Path log) throws IOException {
        return new ProcessBuilder(LocalLauncher.javaCommand(Main.class.getName(), args))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    private static void finish(Process p, String what, Path log) throws IOException, InterruptedException {
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException(what + " did not end in 120 s");
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException(what + " failed (" + p.exitValue() + "): " + Files.readString(log));
        }
    }

    private static List<String> stderrLines(Path log) throws IOException {
        return Files.readAllLines(log).stream().filter(l -> l.startsWith("diffusion4j:")).toList();
    }

    private static long newestStep(Path ck) throws IOException {
        Path p = Checkpoints.latest(ck);
        return p == null ? 0 : Long.parseLong(p.getFileName().toString().substring(Checkpoints.PREFIX.length()));
    }

    private static boolean hasPartial(Path ck) throws IOException {
        if (!Files.isDirectory(ck)) {
            return false;
        }
        try (Stream<Path> s = Files.list(ck)) {
            return s.anyMatch(p -> p.getFileName().toString().startsWith(".tmp-"));
        }
    }

    /** The last step the metrics file has a row of (rows are flushed each step). */
    private static long lastCsvStep(Path csv) throws IOException {
        if (!Files.isRegularFile(csv)) {
            return 0;
        }
        List<String> lines = Files.readAllLines(csv);
        for (int i = lines.size() - 1; i > 0; i--) {
            String l = lines.get(i);
            int comma = l.indexOf(',');
            if (comma > 0 && l.split(",", -1).length == 5) {   // a whole row, not one being written
                return Long.parseLong(l.substring(0, comma));
            }
        }
        return 0;
    }

    /** The newest checkpoint loads (in this process) and is the one a resume starts from. */
    private static void requireLoads(Path ck) throws IOException {
        Path newest = Checkpoints.latest(ck);
        if (newest == null) {
            return;
        }
        try (Trainer t = Trainer.resume(newest, Device.CPU)) {
            if (t.step() != newestStep(ck)) {
                throw new IllegalStateException(newest + " holds step " + t.step());
            }
        } finally {
            TorchScriptRuntime.setGraphOptimization(true);
        }
    }

    static float[] weights(Path modelFolder) throws IOException {
        try (TorchScriptModule m = TorchScriptModule.load(modelFolder.resolve("model.pt"), Device.CPU);
             NativeScope scope = new NativeScope()) {
            List<Tensor> flat = new ArrayList<>();
            for (Tensor p : m.parameters()) {
                flat.add(p.detach().reshape(-1));
            }
            return Tensor.cat(flat, 0).toFloatArray();
        }
    }

    public static void main(String[] args) throws Exception {
        Path work = Files.createDirectories(Path.of(args[0]));
        KillResumeHarness h = new KillResumeHarness(work, Path.of(args[1]), Long.parseLong(args[2]),
                Integer.parseInt(args[4]), Integer.parseInt(args[5]));
        long t0 = System.nanoTime();
        Report r = h.run(Integer.parseInt(args[3]), false);
        for (Kill k : r.kills()) {
            System.out.printf("kill %d (%s): metrics at step %d, newest checkpoint %d, lost %d, partial left %b%n",
                    k.attempt(), k.mode(), k.csvStep(), k.newestCheckpoint(), k.stepsLost(), k.partialLeft());
        }
        r.resumeStderr().forEach(l -> System.out.println("  resume said: " + l));
        System.out.printf("%d kills (%d inside a checkpoint write), max steps lost %d, bit-identical %b, %.1f s%n",
                r.kills().size(), r.killsInsideWrites(), r.maxStepsLost(),
                java.util.Arrays.equals(r.straight(), r.resumed()), (System.nanoTime() - t0) / 1e9);
    }
}
