package io.diffusion4j.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.io.TempDir;

/** The marker that lets a warm start skip the jar-against-cache comparison, and the CPU build's CUDA preloads. */
class NativeCacheTest {
    private static final String IDENTITY = "jar:file:/x/a.jar!/org/bytedeco/pytorch/linux-x86_64/\t100\t5\n";

    @Test
    void aMarkerHoldsOnlyForTheSameJarsAndTheSameFilesAtTheSameSizes(@TempDir Path dir) throws Exception {
        Path folder = Files.createDirectories(dir.resolve("cache/pytorch/linux-x86_64"));
        Path lib = Files.write(folder.resolve("libtorch_cpu.so"), new byte[64]);
        Files.write(folder.resolve("libc10.so"), new byte[8]);
        Path marker = dir.resolve("diffusion4j-natives-test.txt");
        NativeCache.writeMarker(marker, IDENTITY, List.of(folder.toFile()));

        assertTrue(NativeCache.markerHolds(marker, IDENTITY), Files.readString(marker));
        assertFalse(NativeCache.markerHolds(marker, IDENTITY.replace("\t100\t", "\t101\t")), "another jar size");
        Files.write(lib, new byte[63]);
        assertFalse(NativeCache.markerHolds(marker, IDENTITY), "a truncated library");
        Files.delete(lib);
        assertFalse(NativeCache.markerHolds(marker, IDENTITY), "a deleted library");
        assertFalse(NativeCache.markerHolds(dir.resolve("missing.txt"), IDENTITY), "no marker");
        Files.writeString(marker, "garbage");
        assertFalse(NativeCache.markerHolds(marker, IDENTITY), "an unreadable marker");
    }

    @Test
    void theMarkerListsEveryExtractedFileButNotJavaCppsLinks(@TempDir Path dir) throws Exception {
        Path folder = Files.createDirectories(dir.resolve("lib"));
        Files.write(folder.resolve("libgomp.so.1"), new byte[3]);
        Files.createSymbolicLink(folder.resolve("libgomp.so"), Path.of("libgomp.so.1"));
        Path marker = dir.resolve("m.txt");
        NativeCache.writeMarker(marker, IDENTITY, List.of(folder.toFile()));
        String text = Files.readString(marker);
        assertTrue(text.contains(folder.resolve("libgomp.so.1") + "\t3\n"), text);
        assertFalse(text.contains("libgomp.so\t"), text);
        assertEquals(List.of(), List.of(dir.toFile().list((d, n) -> n.endsWith(".tmp"))), "no temporary file left");
    }

    @Test
    void onlyCudaLibrariesAreSkippedInTheCpuBuild() {
        for (String cuda : List.of("cudart@.13", "cublasLt@.13", "cudnn_cnn@.9", "nvrtc-builtins@.13.1", "nccl@.2",
                "myelin@.1", "c10_cuda", "torch_cuda", "nvToolsExt64_1", "cupti@.13")) {
            assertTrue(NativeCache.isCuda(cuda), cuda);
        }
        for (String cpu : List.of("gcc_s@.1.1", "quadmath@.0", "gfortran@.5", "openblas@.0#openblas@.0", "gomp@.1",
                "c10", "torch", "torch_cpu")) {
            assertFalse(NativeCache.isCuda(cpu), cpu);
        }
    }

    @Test
    @EnabledOnOs(OS.LINUX)
    void theCpuBuildMapsNoCudaLibrary() throws Exception {
        Torch.load();
        if (Torch.isGpuBuild()) {
            return; // the GPU build loads them on purpose
        }
        for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
            String name = line.substring(line.lastIndexOf(File.separatorChar) + 1);
            assertFalse(name.startsWith("libcudart") || name.startsWith("libcupti") || name.startsWith("libcublas"),
                    "the CPU build mapped " + line);
        }
    }
}
