package io.diffusion4j.bindings;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.pytorch.global.torch;

/**
 * The LibTorch runtime: versions, threads, devices. Loading the natives happens on first use of any binding
 * class (the first load unpacks them into {@code ~/.javacpp/cache}, a few seconds once; see
 * {@link #extractNatives()} for why all of them are unpacked before the first is loaded).
 */
public final class Torch {
    private static volatile boolean loaded;

    private Torch() {
    }

    /** Loads the native libraries now (otherwise they load on first use). Safe to call repeatedly. */
    public static void load() {
        if (!loaded) {
            synchronized (Torch.class) {
                if (!loaded) {
                    try {
                        StartupTrace.mark("Torch.load entered");
                        extractNatives();
                        StartupTrace.mark("natives extracted (cache marker checked)");
                        if (!isGpuBuild()) {
                            NativeCache.skipCudaPreloads(Loader.loadProperties(torch.class, Loader.loadProperties(), true)
                                    .get("platform.preload"));
                        }
                        StartupTrace.mark("presets properties read");
                        Loader.load(torch.class);
                        StartupTrace.mark("LibTorch loaded (preloads, libjnitorch, JNI_OnLoad)");
                        String blasEnv = System.getenv("OPENBLAS_NUM_THREADS");
                        if (blasEnv == null) {
                            setBlasThreadsLoaded(1); // see setThreads
                        } else if (blasEnv.strip().equals("1")) {
                            blasThreadsSet = 1; // OpenBLAS read it at load: setThreads need not load its JNI library
                        }
                    } catch (UnsatisfiedLinkError e) {
                        throw new NativeOperationException("cannot load LibTorch natives for platform "
                                + Loader.getPlatform() + ": " + e.getMessage(), e);
                    }
                    loaded = true;
                }
            }
        }
    }

    /**
     * Extracts every native library of the presets this build uses (JavaCPP, OpenBLAS, LibTorch, and CUDA in the
     * {@code cuda} build) into JavaCPP's cache, without loading any; {@link #load()} does this first. Idempotent, and
     * cheap once the cache is complete (a warm start reads one marker file and checks the extracted files' sizes).
     *
     * <p>Why: JavaCPP otherwise extracts each library just before loading it, in its preload order, and loads
     * {@code libtorch.so} (a 15 KB stub whose only dependency is {@code libtorch_cpu.so}, found through
     * {@code RUNPATH $ORIGIN}) before it has extracted {@code libtorch_cpu.so}. On an empty cache the dynamic linker
     * therefore looks further and, on a machine with a system LibTorch (Debian's {@code libtorch1.13}, which
     * {@code python3-torch} installs), loads {@code /lib/x86_64-linux-gnu/libtorch_cpu.so} 1.13 and its dependency
     * tree; loading the presets' own 2.10 {@code libtorch_cpu.so} next runs two LibTorches' static initialisers in one
     * process, and the JVM dies with SIGSEGV in {@code pthread_mutex_lock} (measured with {@code LD_DEBUG=files}).
     * With the whole folder extracted first, {@code $ORIGIN} always finds the right library. Extraction takes part in
     * JavaCPP's cache locking (a file lock per file, size and time set after the bytes), so processes that start
     * together on one empty cache wait for each other's files instead of loading half-written ones. A complete
     * extraction is remembered per jar identity (a marker file in the cache folder, see {@code NativeCache}), so a
     * warm start does not compare every file with its jar entry again.
     *
     * <p>Code that touches {@code org.bytedeco} classes directly before any diffusion4j class must call
     * {@link #load()} (or this method) first: a presets class loads the natives the unsafe way.
     *
     * @throws NativeOperationException if the cache folder cannot be written
     */
    public static void extractNatives() {
        NativeCache.extractAll();
    }

    /** The LibTorch version, e.g. {@code 2.10.0}. */
    public static String libtorchVersion() {
        String v = presetsVersion();
        int dash = v.indexOf('-');
        return dash > 0 ? v.substring(0, dash) : v;
    }

    /** The version of the JavaCPP Presets for PyTorch, e.g. {@code 2.10.0-1.5.13}. */
    public static String presetsVersion() {
        return version("org.bytedeco", "pytorch");
    }

    /** The JavaCPP version, e.g. {@code 1.5.13}. */
    public static String javacppVersion() {
        return version("org.bytedeco", "javacpp");
    }

    private static String version(String group, String artifact) {
        try {
            String v = Loader.getVersion(group, artifact);
            return v != null ? v : "unknown";
        } catch (java.io.IOException e) {
            return "unknown";
        }
    }

    /** JavaCPP's platform name, e.g. {@code linux-x86_64}. */
    public static String platform() {
        return Loader.getPlatform();
    }

    /**
     * The process's resident memory in bytes (JavaCPP's {@code Pointer.physicalBytes()}: native allocations, the
     * Java heap and everything else), for metrics and memory checks.
     */
    public static long residentBytes() {
        load();
        return org.bytedeco.javacpp.Pointer.physicalBytes();
    }

    /** The number of intra-op threads LibTorch uses on CPU. */
    public static int threads() {
        load();
        return torch.get_num_threads();
    }

    /**
     * Sets the number of intra-op threads LibTorch uses on CPU (process-wide). OpenBLAS, which runs LibTorch's
     * float GEMMs from its own pthread pool (ignoring this setting), is kept at one thread: with both pools at 2 on
     * 2 cores, measured here, a digits DDIM-50 batch-1 run took 5.3 s instead of 20 ms and a toy2d training step
     * 28 ms instead of 0.9 (the pools' spinning threads starve each other), while 2 LibTorch threads with a
     * 1-thread OpenBLAS run digits batch 16 27% faster than 1 thread. The natives load with OpenBLAS at one thread
     * for the same reason, unless {@code OPENBLAS_NUM_THREADS} is set; {@link #setBlasThreads} overrides it.
     */
    public static void setThreads(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        load();
        torch.set_num_threads(threads);
        setBlasThreadsLoaded(1);
    }

    /** Below this many sample elements per forward ({@code batch x elements per sample}), one thread is the default. */
    public static final long ONE_THREAD_BELOW_ELEMENTS = 1024;

    /**
     * The intra-op thread count diffusion4j chooses when none is given, for forwards over {@code batchElements}
     * sample elements: 1 below {@link #ONE_THREAD_BELOW_ELEMENTS} (toy2d at any batch up to 511, digits 1x8x8 below
     * batch 16), where handing each op to a second thread costs more than it saves (BENCHMARKS.md, "Thread
     * defaults"), otherwise the cores available, at most 2 (more was not measured).
     *
     * @throws IllegalArgumentException if {@code batchElements < 1}
     */
    public static int defaultThreads(long batchElements) {
        if (batchElements < 1) {
            throw new IllegalArgumentException("batch elements must be >= 1, got " + batchElements);
        }
        return batchElements < ONE_THREAD_BELOW_ELEMENTS ? 1
                : Math.max(1, Math.min(2, Runtime.getRuntime().availableProcessors()));
    }

    /**
     * Sets OpenBLAS's own thread pool (process-wide), for GEMM-bound models whose large matrix products LibTorch
     * does not split itself. Keep LibTorch's intra-op threads at 1 when raising this (see {@link #setThreads}).
     */
    public static void setBlasThreads(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("BLAS threads must be >= 1, got " + threads);
        }
        load();
        setBlasThreadsLoaded(threads);
    }

    /** The number of threads OpenBLAS's pool uses. */
    public static int blasThreads() {
        load();
        return org.bytedeco.openblas.global.openblas_full.openblas_get_num_threads();
    }

    /** The OpenBLAS thread count last set, or 0 if unknown (then the next set goes through). */
    private static volatile int blasThreadsSet;

    private static void setBlasThreadsLoaded(int threads) {
        if (threads == blasThreadsSet) {
            return; // spares loading OpenBLAS's 24 MB full JNI library (openblas_full) when nothing changes
        }
        org.bytedeco.openblas.global.openblas_full.openblas_set_num_threads(threads);
        blasThreadsSet = threads;
    }

    public static boolean cudaAvailable() {
        load();
        return torch.cuda_is_available();
    }

    public static int cudaDeviceCount() {
        load();
        return torch.cuda_is_available() ? Byte.toUnsignedInt(torch.cuda_device_count()) : 0;
    }

    /** The devices usable here: {@code cpu} and each CUDA device. */
    public static List<Device> devices() {
        List<Device> out = new ArrayList<>();
        out.add(Device.CPU);
        for (int i = 0; i < cudaDeviceCount(); i++) {
            out.add(Device.cuda(i));
        }
        return out;
    }

    /**
     * Parses a device ({@code cpu}, {@code cuda}, {@code cuda:N}) and checks that it exists on this machine.
     *
     * @throws IllegalArgumentException with a message naming the device and what is available
     */
    public static Device device(String spec) {
        return checkAvailable(Device.parse(spec));
    }

    /** Returns {@code device} if it exists on this machine, otherwise throws a clear error. */
    public static Device checkAvailable(Device device) {
        if (device.isCuda()) {
            int count = cudaDeviceCount();
            if (count == 0) {
                throw new IllegalArgumentException("device " + device + " is not available: LibTorch sees no CUDA "
                        + "device (this build uses the " + (isGpuBuild() ? "GPU" : "CPU-only")
                        + " natives; use --device cpu)");
            }
            if (device.index() >= count) {
                throw new IllegalArgumentException("device " + device + " is not available: this machine has "
                        + count + " CUDA device(s), cuda:0 to cuda:" + (count - 1));
            }
        }
        return device;
    }

    /** Whether the loaded LibTorch natives were built with CUDA (the {@code cuda} build profile). */
    public static boolean isGpuBuild() {
        return Torch.class.getResource("/org/bytedeco/pytorch/" + platform() + "-gpu/") != null;
    }

    /**
     * Enters inference mode on the current thread (no autograd bookkeeping; measured faster than no-grad).
     * Close it on the same thread, in a try-with-resources.
     */
    public static InferenceGuard inferenceMode() {
        load();
        return new InferenceGuard(true);
    }

    /** Disables gradient recording on the current thread until closed (for EMA updates and the like). */
    public static InferenceGuard noGrad() {
        load();
        return new InferenceGuard(false);
    }
}
