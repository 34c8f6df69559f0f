package io.diffusion4j.training;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * Starts the ranks of a data-parallel job as local processes and waits for them (a small torchrun): each rank's
 * output lines come back prefixed with {@code [rank r] }. When a rank fails, the others get {@code grace} to notice
 * (their collectives fail with a clear error) and are then stopped; the launcher returns the first failing rank's
 * exit code, or 0 when every rank succeeded. If the launcher's JVM is stopped, it stops the ranks too.
 */
public final class LocalLauncher {
    private LocalLauncher() {
    }

    /**
     * A free TCP port on this machine for the rendezvous (another program could take it before rank 0 binds it; the
     * job then fails with "address already in use" and can be started again).
     */
    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /**
     * The command that runs {@code mainClass} in a new JVM like this one: the same {@code java}, class path, and
     * memory / system-property options.
     */
    public static List<String> javaCommand(String mainClass, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("-Xm") || a.startsWith("-Xss") || a.startsWith("-D") || a.startsWith("-XX:")) {
                cmd.add(a);
            }
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass);
        cmd.addAll(args);
        return cmd;
    }

    /**
     * Runs {@code command.apply(r)} for ranks {@code 0..nproc-1} with {@code env} added to this process's environment,
     * relays their stdout to {@code out} and stderr to {@code err} line by line with a rank prefix, and returns the
     * job's exit code.
     */
    public static int run(int nproc, IntFunction<List<String>> command, Map<String, String> env, Duration grace,
                          PrintWriter out, PrintWriter err) throws IOException, InterruptedException {
        if (nproc < 1) {
            throw new IllegalArgumentException("the number of processes must be >= 1, got " + nproc);
        }
        List<Process> procs = new ArrayList<>();
        List<Thread> pumps = new ArrayList<>();
        Thread stopper = new Thread(() -> procs.forEach(Process::destroyForcibly), "diffusion4j-launcher-stop");
        Runtime.getRuntime().addShutdownHook(stopper);
        try {
            for (int r = 0; r < nproc; r++) {
                ProcessBuilder pb = new ProcessBuilder(command.apply(r));
                pb.environment().putAll(env);
                Process p = pb.start();
                procs.add(p);
                pumps.add(pump(p.getInputStream(), "[rank " + r + "] ", out));
                pumps.add(pump(p.getErrorStream(), "[rank " + r + "] ", err));
            }
            int failedRank = -1;
            int failedCode = 0;
            long deadline = Long.MAX_VALUE;
            while (true) {
                boolean anyAlive = false;
                for (int r = 0; r < nproc; r++) {
                    Process p = procs.get(r);
                    if (p.isAlive()) {
                        anyAlive = true;
                    } else if (p.exitValue() != 0 && failedRank < 0) {
                        failedRank = r;
                        failedCode = p.exitValue();
                        deadline = System.nanoTime() + grace.toNanos();
                        synchronized (err) {
                            err.println("diffusion4j: rank " + r + " exited with code " + failedCode + "; stopping the "
                                    + "other ranks");
                            err.flush();
                        }
                    }
                }
                if (!anyAlive) {
                    break;
                }
                if (System.nanoTime() > deadline) {
                    procs.forEach(Process::destroy);
                    for (Process p : procs) {
                        if (!p.waitFor(5, TimeUnit.SECONDS)) {
                            p.destroyForcibly();
                        }
                    }
                    deadline = Long.MAX_VALUE;
                }
                Thread.sleep(50);
            }
            for (Thread t : pumps) {
                t.join(TimeUnit.SECONDS.toMillis(5));
            }
            return failedRank >= 0 ? failedCode : 0;
        } finally {
            procs.forEach(Process::destroyForcibly);
            try {
                Runtime.getRuntime().removeShutdownHook(stopper);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running already
            }
        }
    }

    private static Thread pump(InputStream in, String prefix, PrintWriter to) {
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    synchronized (to) {
                        to.println(prefix + line);
                        to.flush();
                    }
                }
            } catch (IOException e) {
                // the process ended
            }
        }, "diffusion4j-launcher-" + prefix.strip());
        t.setDaemon(true);
        t.start();
        return t;
    }
}
