package io.diffusion4j.bindings;

import java.io.File;
import java.io.IOException;
import java.lang.reflect.Field;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.Loader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * JavaCPP's native cache as diffusion4j uses it: extracting every presets folder before the first load (issue 17),
 * remembering a complete extraction so that a warm start skips JavaCPP's jar-against-cache comparison, and keeping
 * a CPU build from probing for CUDA libraries. See {@link Torch#extractNatives()} for why extraction comes first.
 *
 * <p>The marker: after a complete extraction, a file {@code diffusion4j-natives-<checksums>-<length>.txt} in
 * JavaCPP's cache folder records the jars it came from (path, size, modification time: the checksums in its name are
 * of these) and every extracted file with its size (folders with -1: they only have to exist; JavaCPP's library links are left out). A later start whose jars are the same and whose files are all there at those sizes
 * skips extraction; a rebuilt or replaced jar has another identity, so the next start extracts and checks again.
 * JavaCPP itself still checks each library it loads against its jar entry.
 */
final class NativeCache {
    private static final Logger LOG = LoggerFactory.getLogger(NativeCache.class);

    /** Resource folder name and a class of each presets artifact whose natives are extracted. */
    private static final String[][] PRESETS = {
        {"javacpp", "org.bytedeco.javacpp.Loader"},
        {"openblas", "org.bytedeco.openblas.global.openblas"},
        {"cuda", "org.bytedeco.cuda.global.cudart"},
        {"pytorch", "org.bytedeco.pytorch.global.torch"},
    };

    /** Name prefixes of the CUDA libraries that the pytorch presets preload (the CPU build uses none of them). */
    private static final String[] CUDA_PRELOADS = {"cu", "nv", "nccl", "myelin", "c10_cuda", "torch_cuda"};

    private NativeCache() {
    }

    /** One presets resource folder: the class that owns it and its URL. */
    private record Folder(Class<?> owner, String dir, URL url) {
    }

    static void extractAll() {
        List<Folder> folders = folders();
        StartupTrace.mark("presets resource folders found");
        String identity = identity(folders);
        Path marker = identity == null ? null : markerFile(identity);
        StartupTrace.mark("cache marker named");
        if (marker != null && markerHolds(marker, identity)) {
            return;
        }
        List<File> extracted = new ArrayList<>();
        for (Folder f : folders) {
            try {
                File[] files = Loader.cacheResources(f.owner(), f.dir());
                if (files != null) {
                    extracted.addAll(List.of(files));
                }
            } catch (IOException e) {
                throw new NativeOperationException("cannot extract LibTorch natives into JavaCPP's cache "
                        + "(~/.javacpp/cache, or -Dorg.bytedeco.javacpp.cachedir): " + e.getMessage(), e);
            }
        }
        if (marker != null) {
            writeMarker(marker, identity, extracted);
        }
    }

    private static List<Folder> folders() {
        String platform = Loader.getPlatform();
        StartupTrace.mark("JavaCPP Loader initialised (platform)");
        List<Folder> out = new ArrayList<>();
        for (String[] preset : PRESETS) {
            Class<?> owner;
            try {
                owner = Class.forName(preset[1], false, NativeCache.class.getClassLoader());
            } catch (ClassNotFoundException e) {
                continue; // e.g. the CUDA presets in the CPU build
            }
            for (String suffix : new String[] {"", "-gpu"}) {
                String dir = "/org/bytedeco/" + preset[0] + "/" + platform + suffix + "/";
                URL url = owner.getResource(dir);
                if (url != null) {
                    out.add(new Folder(owner, dir, url));
                }
            }
        }
        return out;
    }

    /** One line per folder: its URL, and its jar's size and modification time; null if any folder is not in a jar. */
    private static String identity(List<Folder> folders) {
        StringBuilder sb = new StringBuilder();
        for (Folder f : folders) {
            String u = f.url().toExternalForm();
            int bang = u.indexOf("!/");
            if (!u.startsWith("jar:file:") || bang < 0) {
                return null; // a folder on the class path: JavaCPP's own check every time
            }
            File jar;
            try {
                jar = new File(new java.net.URI(u.substring(4, bang)));
            } catch (URISyntaxException | IllegalArgumentException e) {
                return null;
            }
            sb.append(u).append('\t').append(jar.length()).append('\t').append(jar.lastModified()).append('\n');
        }
        return sb.length() == 0 ? null : sb.toString();
    }

    /**
     * The marker's name: two 32-bit checksums of the identity (CRC-32C and CRC-32, each of the bytes). Not a
     * cryptographic digest: the marker holds the whole identity and {@link #markerHolds} compares it, so a collision
     * only costs one extraction check; and a first {@code MessageDigest.getInstance("SHA-256")} (its security
     * providers) took 150-320 ms against 11-44 ms for the checksums, cold, on the loaded 2-core machine (BENCHMARKS.md,
     * issue 20, third pass).
     */
    private static Path markerFile(String identity) {
        byte[] bytes = identity.getBytes(StandardCharsets.UTF_8);
        java.util.zip.CRC32C c = new java.util.zip.CRC32C();
        c.update(bytes);
        java.util.zip.CRC32 d = new java.util.zip.CRC32();
        d.update(bytes);
        try {
            return Loader.getCacheDir().toPath().resolve(String.format("diffusion4j-natives-%08x%08x-%d.txt",
                    c.getValue(), d.getValue(), bytes.length));
        } catch (IOException e) {
            return null; // no cache folder yet: extraction below makes it, or fails with its own message
        }
    }

    static boolean markerHolds(Path marker, String identity) {
        List<String> lines;
        try {
            lines = Files.readAllLines(marker, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return false;
        }
        int sep = lines.indexOf("--");
        if (sep < 0 || !String.join("\n", lines.subList(0, sep)).concat("\n").equals(identity)) {
            return false;
        }
        for (String line : lines.subList(sep + 1, lines.size())) {
            int tab = line.lastIndexOf('\t');
            if (tab < 0) {
                return false;
            }
            File f = new File(line.substring(0, tab));
            long size = Long.parseLong(line.substring(tab + 1));
            if (size < 0 ? !f.isDirectory() : !f.isFile() || f.length() != size) {
                LOG.debug("native cache marker {} is stale: {}", marker, f);
                return false;
            }
        }
        return true;
    }

    static void writeMarker(Path marker, String identity, List<File> extracted) {
        StringBuilder sb = new StringBuilder(identity).append("--\n");
        try {
            for (File f : extracted) {
                try (var files = Files.walk(f.toPath())) {
                    for (Path p : (Iterable<Path>) files::iterator) {
                        if (Files.isSymbolicLink(p)) {
                            continue; // JavaCPP's own library links, made and remade as it loads
                        }
                        boolean regular = Files.isRegularFile(p);
                        sb.append(p.toAbsolutePath()).append('\t').append(regular ? Files.size(p) : -1).append('\n');
                    }
                }
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            LOG.debug("cannot list the extracted natives for the marker {}: {}", marker, e.toString());
            return;
        }
        Path tmp = marker.resolveSibling(marker.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
        try {
            Files.writeString(tmp, sb, StandardCharsets.UTF_8);
            try {
                Files.move(tmp, marker, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, marker, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            LOG.debug("cannot write the native cache marker {}: {}", marker, e.toString());
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // nothing more to do: the next start extracts again
            }
        }
    }

    /**
     * In the CPU build, tells JavaCPP that the CUDA libraries the pytorch presets list as optional preloads are
     * absent, so that loading does not search the library paths for about thirty of them (and does not map a
     * system {@code libcudart}/{@code libcupti} that the CPU LibTorch never calls). Uses JavaCPP's cache of found
     * libraries ({@code Loader.foundLibraries}, where an empty entry means "looked, not there"); if that field is
     * not accessible in another JavaCPP version, loading just probes as before.
     *
     * @param preloads the presets' preload names, e.g. {@code cudart@.13}
     */
    static void skipCudaPreloads(List<String> preloads) {
        try {
            Field field = Loader.class.getDeclaredField("foundLibraries");
            field.setAccessible(true);
            @SuppressWarnings("unchecked")
            Map<String, URL[]> found = (Map<String, URL[]>) field.get(null);
            for (String p : preloads) {
                if (isCuda(p)) {
                    found.putIfAbsent(p, new URL[0]);
                }
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.debug("cannot skip the CUDA preloads ({}); JavaCPP will look for them", e.toString());
        }
    }

    static boolean isCuda(String preload) {
        for (String prefix : CUDA_PRELOADS) {
            if (preload.startsWith(prefix)) {
                return true;
            }
        }
        return false;
    }
}
