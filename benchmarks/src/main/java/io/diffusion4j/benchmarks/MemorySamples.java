package io.diffusion4j.benchmarks;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.Pointer;

/** Memory samples {step, RSS, JavaCPP bytes, committed heap} taken during a long run, and their growth. */
final class MemorySamples {
    private final List<long[]> samples = new ArrayList<>();

    void take(long step) {
        samples.add(new long[] {step, Pointer.physicalBytes(), Pointer.totalBytes(), Runtime.getRuntime().totalMemory()});
    }

    /** Adds the samples and the growth from sample {@code warmIndex} (after warm-up) to the last to {@code out}. */
    void putGrowth(Map<String, Object> out, int warmIndex, String label) {
        long[] warm = samples.get(Math.min(warmIndex, samples.size() - 1));
        long[] last = samples.get(samples.size() - 1);
        long rss = last[1] - warm[1];
        long outsideHeap = (last[1] - last[3]) - (warm[1] - warm[3]);
        long javacpp = last[2] - warm[2];
        out.put("samples_step_rss_javacppbytes_heapcommitted", samples);
        out.put("rss_growth_after_warmup_bytes", rss);
        out.put("rss_outside_heap_growth_after_warmup_bytes", outsideHeap);
        out.put("javacpp_bytes_growth_after_warmup", javacpp);
        System.out.printf("%s: RSS growth %d KB (outside heap %d KB), JavaCPP bytes growth %d%n", label, rss / 1024,
                outsideHeap / 1024, javacpp);
    }
}
