package io.diffusion4j.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Gloo process groups on this machine: two ranks as threads of this JVM (TCP and file rendezvous), and a real second
 * JVM for the failures only a process shows (a peer killed, a peer that hangs).
 */
class ProcessGroupTest {
    @TempDir
    Path dir;

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        }
    }

    /** Runs {@code body(rank)} on {@code world} threads at once and returns their results in rank order. */
    static <T> List<T> ranks(int world, IntFunction<T> body) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(world);
        try {
            List<Future<T>> fs = new ArrayList<>();
            for (int r = 0; r < world; r++) {
                int rank = r;
                fs.add(pool.submit((Callable<T>) () -> body.apply(rank)));
            }
            List<T> out = new ArrayList<>();
            for (Future<T> f : fs) {
                out.add(f.get(60, TimeUnit.SECONDS));
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void allReduceBroadcastGatherAcrossTwoRanks() throws Exception {
        int port = freePort();
        List<float[][]> results = ranks(2, rank -> {
            ProcessGroupConfig c = ProcessGroupConfig.tcp(rank, 2, "127.0.0.1", port)
                    .withTimeout(Duration.ofSeconds(20));
            try (ProcessGroup pg = ProcessGroup.join(c); NativeScope scope = new NativeScope()) {
                pg.setBucketBytes(1024);   // forces several buckets: 300 floats = 1200 bytes alone
                float k = rank + 1;
                Tensor a = Tensor.fromFloats(new float[] {k, 2 * k, 3 * k, 4 * k}, 2, 2);
                Tensor big = Tensor.full(k, DType.FLOAT32, Device.CPU, 300);
                Tensor c2 = Tensor.fromFloats(new float[] {10 * k}, 1);
                Tensor longs = Tensor.fromLongs(new long[] {rank, 7}, 2);
                pg.allReduce(List.of(a, big, c2, longs), ProcessGroup.ReduceOp.SUM);
                Tensor avg = Tensor.fromFloats(new float[] {k, -k}, 2);
                pg.allReduce(List.of(avg), ProcessGroup.ReduceOp.AVG);
                // parameters that require grad, overwritten by rank 0's values
                Tensor p = Tensor.fromFloats(new float[] {100 + rank, 200 + rank}, 2).requiresGrad(true);
                pg.broadcast(List.of(p, Tensor.fromFloats(new float[] {rank}, 1)), 0);
                long[][] gathered = pg.allGather(new long[] {rank * 10L, -rank});
                byte[][] hashes = pg.allGather(new byte[] {(byte) (rank + 200), 5});
                pg.barrier();
                assertEquals(3, pg.collectiveCount(), "two allReduce calls and a broadcast");
                assertTrue(pg.collectiveNanos() > 0);
                return new float[][] {a.toFloatArray(), big.narrow(0, 299, 1).toFloatArray(), c2.toFloatArray(),
                    toFloats(longs.toLongArray()), avg.toFloatArray(), p.toFloatArray(), {p.requiresGrad() ? 1 : 0},
                    toFloats(gathered[0]), toFloats(gathered[1]), {hashes[0][0], hashes[1][0], hashes[1][1]}};
            }
        });
        for (float[][] r : results) {
            assertArrayEquals(new float[] {3, 6, 9, 12}, r[0]);
            assertArrayEquals(new float[] {3}, r[1]);
            assertArrayEquals(new float[] {30}, r[2]);
            assertArrayEquals(new float[] {1, 14}, r[3]);
            assertArrayEquals(new float[] {1.5f, -1.5f}, r[4]);
            assertArrayEquals(new float[] {100, 200}, r[5]);
            assertArrayEquals(new float[] {1}, r[6]);
            assertArrayEquals(new float[] {0, 0}, r[7]);
            assertArrayEquals(new float[] {10, -1}, r[8]);
            assertArrayEquals(new float[] {(byte) 200, (byte) 201, 5}, r[9]);
        }
    }

    private static float[] toFloats(long[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = v[i];
        }
        return f;
    }

    @Test
    void fileRendezvousAndMismatchedGatherLengths() throws Exception {
        Path file = dir.resolve("rdzv");
        List<String> msgs = ranks(2, rank -> {
            ProcessGroupConfig c = ProcessGroupConfig.file(rank, 2, file).withTimeout(Duration.ofSeconds(20));
            try (ProcessGroup pg = ProcessGroup.join(c)) {
                DistributedException e = assertThrows(DistributedException.class,
                        () -> pg.allGather(new long[rank + 1]));
                return e.getMessage();
            }
        });
        assertTrue(msgs.get(0).contains("different lengths") && msgs.get(0).contains("[1, 2]"), msgs.get(0));
    }

    @Test
    void worldOfOneNeedsNoPeers() {
        try (ProcessGroup pg = ProcessGroup.join(ProcessGroupConfig.single()); NativeScope scope = new NativeScope()) {
            Tensor t = Tensor.fromFloats(new float[] {2, 4}, 2);
            pg.allReduce(List.of(t), ProcessGroup.ReduceOp.AVG);
            pg.broadcast(List.of(t), 0);
            pg.barrier();
            assertArrayEquals(new float[] {2, 4}, t.toFloatArray());
            assertArrayEquals(new long[][] {{3}}, pg.allGather(new long[] {3}));
        }
    }

    @Test
    void badRanksAndWorldSizesAreOneLineErrors() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ProcessGroupConfig.tcp(2, 2, "127.0.0.1", 29500));
        assertEquals("rank 2 is out of range for world size 2 (ranks 0..1)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ProcessGroupConfig.tcp(-1, 2, "127.0.0.1", 29500));
        assertEquals("rank -1 is out of range for world size 2 (ranks 0..1)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ProcessGroupConfig.tcp(0, 0, "127.0.0.1", 29500));
        assertEquals("world size must be >= 1, got 0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ProcessGroupConfig.tcp(0, 2, "127.0.0.1", 70000));
        assertEquals("master port must be in 1..65535, got 70000", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ProcessGroupConfig.fromEnvironment(Map.of("RANK", "0")));
        assertTrue(e.getMessage().startsWith("environment variable WORLD_SIZE is not set"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ProcessGroupConfig.fromEnvironment(Map.of("RANK", "x", "WORLD_SIZE", "2")));
        assertEquals("environment variable RANK=x is not an integer", e.getMessage());
        ProcessGroupConfig c = ProcessGroupConfig.fromEnvironment(Map.of("RANK", "1", "WORLD_SIZE", "3",
                "MASTER_ADDR", "10.0.0.5", "MASTER_PORT", "1234"));
        assertEquals(1, c.rank());
        assertEquals(3, c.worldSize());
        assertEquals(1, c.localRank());
        assertEquals("10.0.0.5:1234", c.rendezvous());
    }

    @Test
    void unreachableMasterFailsWithinTheTimeout() throws IOException {
        int port = freePort();   // nobody listens there
        ProcessGroupConfig c = ProcessGroupConfig.tcp(1, 2, "127.0.0.1", port).withTimeout(Duration.ofSeconds(2));
        long t0 = System.nanoTime();
        DistributedException e = assertThrows(DistributedException.class, () -> ProcessGroup.join(c));
        double s = (System.nanoTime() - t0) / 1e9;
        assertEquals("rank 1 of 2: cannot reach the rendezvous master at 127.0.0.1:" + port + " within 2 s (is rank 0 "
                + "running, and are MASTER_ADDR/MASTER_PORT right?)", e.getMessage());
        assertTrue(s < 15, "took " + s + " s");
    }

    @Test
    void missingRankIsATimeoutNotAHang() throws IOException {
        int port = freePort();
        ProcessGroupConfig c = ProcessGroupConfig.tcp(0, 2, "127.0.0.1", port).withTimeout(Duration.ofSeconds(2));
        long t0 = System.nanoTime();
        DistributedException e = assertThrows(DistributedException.class, () -> ProcessGroup.join(c));
        double s = (System.nanoTime() - t0) / 1e9;
        assertTrue(e.getMessage().startsWith("rank 0 of 2: not all 2 ranks joined at 127.0.0.1:" + port
                + " within 2 s"), e.getMessage());
        assertTrue(s < 15, "took " + s + " s");
    }

    /** A second JVM as rank 1; returns once it has joined and passed the first barrier with us. */
    private Process startWorker(int port, long timeoutMs, ProcessGroup[] mine) throws Exception {
        Process p = new ProcessBuilder(Fixtures.javaCommand(ProcessGroupWorker.class, List.of(), "1", "2",
                Integer.toString(port), Long.toString(timeoutMs))).redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        awaitLine(out, "LOADED", p);
        ProcessGroupConfig c = ProcessGroupConfig.tcp(0, 2, "127.0.0.1", port)
                .withTimeout(Duration.ofMillis(timeoutMs));
        mine[0] = ProcessGroup.join(c);
        mine[0].barrier();
        awaitLine(out, "READY", p);
        return p;
    }

    private static void awaitLine(BufferedReader out, String expected, Process p) throws Exception {
        for (String line; (line = out.readLine()) != null; ) {
            if (line.equals(expected)) {
                return;
            }
        }
        throw new AssertionError("worker ended before printing " + expected + ", exit " + p.waitFor());
    }

    @Test
    void killedPeerIsAClearErrorWithinTheTimeout() throws Exception {
        ProcessGroup[] pg = new ProcessGroup[1];
        Process worker = startWorker(freePort(), 5000, pg);
        try (NativeScope scope = new NativeScope()) {
            worker.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            Tensor t = Tensor.fromFloats(new float[] {1}, 1);
            long t0 = System.nanoTime();
            DistributedException e = assertThrows(DistributedException.class,
                    () -> pg[0].allReduce(List.of(t), ProcessGroup.ReduceOp.SUM));
            double s = (System.nanoTime() - t0) / 1e9;
            assertTrue(e.getMessage().startsWith("rank 0 of 2: allReduce of 1 tensors "), e.getMessage());
            assertTrue(e.getMessage().contains("a peer rank died") || e.getMessage().contains("timed out after 5 s"),
                    e.getMessage());
            assertTrue(s < 10, "took " + s + " s");
            IllegalStateException later = assertThrows(IllegalStateException.class, pg[0]::barrier);
            assertTrue(later.getMessage().startsWith("process group is broken after an earlier failure"));
        } finally {
            pg[0].close();
            worker.destroyForcibly();
        }
    }

    @Test
    void hungPeerTimesOut() throws Exception {
        ProcessGroup[] pg = new ProcessGroup[1];
        Process worker = startWorker(freePort(), 2000, pg);
        try (NativeScope scope = new NativeScope()) {
            Tensor t = Tensor.fromFloats(new float[] {1}, 1);
            long t0 = System.nanoTime();
            DistributedException e = assertThrows(DistributedException.class,
                    () -> pg[0].allReduce(List.of(t), ProcessGroup.ReduceOp.SUM));
            double s = (System.nanoTime() - t0) / 1e9;
            assertEquals("rank 0 of 2: allReduce of 1 tensors timed out after 2 s: a peer rank did not take part (it "
                    + "died, hung, or is far behind)", e.getMessage());
            assertTrue(s >= 1.5 && s < 8, "took " + s + " s");
        } finally {
            pg[0].close();
            worker.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }
}
