package io.diffusion4j.training;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Checkpoint folders of a run: {@code <root>/checkpoint-00000020/} and so on, each written completely into a
 * hidden temporary sibling, fsynced, then renamed into place, so a crash during a save leaves the earlier
 * checkpoints intact and never a half-written one under a checkpoint name.
 */
public final class Checkpoints {
    /** The name prefix of a checkpoint folder; the step follows, zero-padded to 8 digits. */
    public static final String PREFIX = "checkpoint-";
    static final String STATE_FILE = "trainer_state.json";
    private static final Pattern NAME = Pattern.compile("checkpoint-\\d{8,}");
    private static final String TMP_PREFIX = ".tmp-";

    private Checkpoints() {
    }

    /** The folder name of the checkpoint after {@code step} optimizer steps. */
    public static String name(long step) {
        return String.format("%s%08d", PREFIX, step);
    }

    /** The checkpoint folders under {@code root}, oldest (fewest steps) first; empty if there are none. */
    public static List<Path> list(Path root) throws IOException {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return out;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
            for (Path p : ds) {
                if (Files.isDirectory(p) && NAME.matcher(p.getFileName().toString()).matches()
                        && Files.isRegularFile(p.resolve(STATE_FILE))) {
                    out.add(p);
                }
            }
        }
        out.sort((a, b) -> Long.compare(stepOf(a), stepOf(b)));
        return out;
    }

    /**
     * What under {@code root} looks like a checkpoint but is not one to resume from: temporary folders left by a save
     * (or a pruning) that was interrupted, and {@code checkpoint-N} folders without {@code trainer_state.json}. The
     * next save deletes the temporary ones.
     */
    public static List<Path> partial(Path root) throws IOException {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return out;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (Files.isDirectory(p) && (n.startsWith(TMP_PREFIX + PREFIX)
                        || NAME.matcher(n).matches() && !Files.isRegularFile(p.resolve(STATE_FILE)))) {
                    out.add(p);
                }
            }
        }
        out.sort(null);
        return out;
    }

    /** The newest checkpoint under {@code root}, or null when there is none. */
    public static Path latest(Path root) throws IOException {
        List<Path> all = list(root);
        return all.isEmpty() ? null : all.get(all.size() - 1);
    }

    private static long stepOf(Path p) {
        return Long.parseLong(p.getFileName().toString().substring(PREFIX.length()));
    }

    /** What writes a checkpoint's files into a (temporary) folder. */
    interface Writer {
        void writeInto(Path dir) throws IOException;
    }

    /**
     * Writes a checkpoint atomically: {@code writer} fills a temporary sibling folder, every file and the folder are
     * fsynced, the folder is renamed to {@code root/name}, and all but the newest {@code keep} checkpoints are
     * deleted (with any temporary folders left by interrupted saves).
     */
    static Path writeAtomically(Path root, String name, int keep, Writer writer) throws IOException {
        Files.createDirectories(root);
        Path tmp = Files.createTempDirectory(root, TMP_PREFIX + name + "-");
        Path target = root.resolve(name);
        try {
            writer.writeInto(tmp);
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(tmp)) {
                for (Path f : ds) {
                    fsync(f, false);
                }
            }
            fsync(tmp, true);
            Path old = null;
            if (Files.exists(target)) {
                old = root.resolve(TMP_PREFIX + name + "-replaced-" + System.nanoTime());
                Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            fsync(root, true);
            if (old != null) {
                deleteTree(old);
            }
        } catch (IOException | RuntimeException e) {
            deleteTree(tmp);
            throw e;
        }
        prune(root, keep, target);
        return target;
    }

    private static void prune(Path root, int keep, Path justWritten) throws IOException {
        List<Path> all = list(root);
        Collections.reverse(all);
        int kept = 0;
        for (Path p : all) {
            if (p.equals(justWritten) || kept < keep - 1) {
                if (!p.equals(justWritten)) {
                    kept++;
                }
                continue;
            }
            // renamed out of the checkpoint names first, so a crash while deleting never leaves a half-deleted
            // folder that looks like a checkpoint
            Path doomed = root.resolve(TMP_PREFIX + p.getFileName() + "-deleted-" + System.nanoTime());
            Files.move(p, doomed, StandardCopyOption.ATOMIC_MOVE);
            deleteTree(doomed);
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root, TMP_PREFIX + "*")) {
            for (Path p : ds) {
                deleteTree(p);
            }
        }
    }

    static void fsync(Path p, boolean directory) throws IOException {
        try (FileChannel ch = FileChannel.open(p, directory ? StandardOpenOption.READ : StandardOpenOption.WRITE)) {
            ch.force(true);
        } catch (IOException e) {
            if (!directory) {
                throw e;
            }
            // some file systems refuse to open a directory for fsync; the rename is still atomic
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (p == null || !Files.exists(p)) {
            return;
        }
        Files.walkFileTree(p, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                Files.delete(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
