package io.diffusion4j.bindings;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * A timeline of a process's start, for finding what lies on the way to the first result (BENCHMARKS.md, issue 20).
 * Off unless the system property {@code diffusion4j.trace.startup} is {@code true}; then each {@link #mark} records
 * the milliseconds since the process started (the operating system's start time of this process: 10 ms resolution
 * on Linux), the thread and a phase name, and {@link #marks()} returns them in order. Off, a mark costs
 * one read of a final boolean.
 */
public final class StartupTrace {
    private static final boolean ON = Boolean.getBoolean("diffusion4j.trace.startup");
    private static final long START_NANOS;
    private static final List<Mark> MARKS = new ArrayList<>();

    static {
        START_NANOS = ON ? System.nanoTime() - sinceStartNanos() : 0;
    }

    /**
     * Nanoseconds since this process started: on Linux from {@code /proc} (the process's start and the uptime, both
     * counted from boot in 10 ms ticks), elsewhere from {@link ProcessHandle.Info#startInstant()} (whose boot time
     * can be a second off on Linux, which is why {@code /proc} comes first).
     */
    private static long sinceStartNanos() {
        try {
            String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/stat"));
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            long startTicks = Long.parseLong(fields[19]); // field 22 of proc(5), counted from "state" (field 3)
            String uptime = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/uptime"));
            double upSeconds = Double.parseDouble(uptime.substring(0, uptime.indexOf(' ')));
            return (long) ((upSeconds - startTicks / 100.0) * 1e9); // USER_HZ is 100 on Linux
        } catch (java.io.IOException | RuntimeException e) {
            Instant begun = ProcessHandle.current().info().startInstant().orElse(Instant.now());
            return java.time.Duration.between(begun, Instant.now()).toNanos();
        }
    }

    private StartupTrace() {
    }

    /** One point of the timeline: milliseconds since the process started, the thread, the phase that just ended. */
    public record Mark(double millis, String thread, String phase) {
        public Mark {
            if (thread == null || phase == null) {
                throw new IllegalArgumentException("thread and phase must be given, got " + thread + ", " + phase);
            }
        }

        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "%8.1f ms  %-26s %s", millis, thread, phase);
        }
    }

    /** Whether the trace is on ({@code -Ddiffusion4j.trace.startup=true}). */
    public static boolean enabled() {
        return ON;
    }

    /** Records that {@code phase} ended now on the calling thread (nothing when the trace is off). */
    public static void mark(String phase) {
        if (ON) {
            Mark m = new Mark((System.nanoTime() - START_NANOS) / 1e6, Thread.currentThread().getName(), phase);
            synchronized (MARKS) {
                MARKS.add(m);
            }
        }
    }

    /** The marks so far, in the order they were made (empty when the trace is off). */
    public static List<Mark> marks() {
        synchronized (MARKS) {
            return List.copyOf(MARKS);
        }
    }
}
