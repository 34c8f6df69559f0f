package io.diffusion4j.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Splitting a generation request over processes: each shard keeps its samples' seeds, labels and noise rows. */
class GenerationRequestShardTest {

    @Test
    void shardIndicesInterleave() {
        assertArrayEquals(new int[] {0, 2, 4}, GenerationRequest.shardIndices(5, 0, 2));
        assertArrayEquals(new int[] {1, 3}, GenerationRequest.shardIndices(5, 1, 2));
        assertArrayEquals(new int[] {}, GenerationRequest.shardIndices(2, 3, 4));
        assertEquals("shard 2/2 is not a shard: need 0 <= index < count",
                assertThrows(IllegalArgumentException.class, () -> GenerationRequest.shardIndices(5, 2, 2))
                        .getMessage());
    }

    @Test
    void aShardKeepsEachSamplesSeedLabelAndNoise() {
        try (NativeScope scope = new NativeScope()) {
            float[] v = new float[5 * 2];
            for (int i = 0; i < v.length; i++) {
                v[i] = i;
            }
            Tensor noise = Tensor.fromFloats(v, 5, 2);
            GenerationRequest whole = GenerationRequest.builder().steps(3).seed(7).batchSize(5)
                    .classLabels(1, 2, 3, 4, 5).guidanceScale(2).initNoise(noise).build();
            GenerationRequest s1 = whole.shard(1, 2);
            assertArrayEquals(new long[] {8, 10}, s1.seeds());
            assertArrayEquals(new int[] {2, 4}, s1.classLabels());
            assertEquals(2, s1.batchSize());
            assertEquals(2.0, s1.guidanceScale());
            assertArrayEquals(new float[] {2, 3, 6, 7}, s1.initNoise().toFloatArray());
            // one label for all stays one label for all
            GenerationRequest one = GenerationRequest.builder().steps(3).seed(7).batchSize(5).classLabels(9).build();
            assertArrayEquals(new int[] {9, 9, 9}, one.shard(0, 2).classLabels());
            assertEquals("shard 6/8 of a batch of 5 has no samples",
                    assertThrows(IllegalArgumentException.class, () -> whole.shard(6, 8)).getMessage());
            GenerationRequest replay = GenerationRequest.builder().steps(3).batchSize(2)
                    .noiseSource(NoiseSource.replay(List.of())).build();
            assertThrows(IllegalStateException.class, () -> replay.shard(0, 2));
        }
    }
}
