package io.diffusion4j.bindings;

import java.time.Duration;

/**
 * A rank in its own JVM for {@link ProcessGroupTest}: {@code rank world port timeoutMs mode}. Joins the group, passes
 * a barrier, prints {@code READY} (after {@code LOADED} once the natives are loaded), then either hangs without taking part in anything ({@code hang}) or does the same
 * until killed ({@code die}; the test kills it).
 */
public final class ProcessGroupWorker {
    private ProcessGroupWorker() {
    }

    public static void main(String[] args) throws Exception {
        int rank = Integer.parseInt(args[0]);
        int world = Integer.parseInt(args[1]);
        int port = Integer.parseInt(args[2]);
        long timeoutMs = Long.parseLong(args[3]);
        Torch.load();
        System.out.println("LOADED");   // the test starts rank 0 now, so the join's timeout excludes JVM start-up
        System.out.flush();
        ProcessGroupConfig c = ProcessGroupConfig.tcp(rank, world, "127.0.0.1", port)
                .withTimeout(Duration.ofMillis(timeoutMs));
        try (ProcessGroup pg = ProcessGroup.join(c)) {
            pg.barrier();
            System.out.println("READY");
            System.out.flush();
            Thread.sleep(Long.MAX_VALUE);
        }
    }
}
