package io.diffusion4j.training.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * The identity of a data source's content, so that a resumed run can tell whether it trains on the same data: the
 * SHA-256 of a file's bytes, or of a folder's files (recursively; hidden names skipped) taken in the order of their
 * sorted relative paths, each as its path, its length and its bytes. Renaming, adding, removing or editing a file
 * changes a folder's fingerprint; moving the whole folder does not.
 */
public final class DataFingerprint {
    private DataFingerprint() {
    }

    /** The lower-case hex SHA-256 of {@code fileOrFolder}'s content. */
    public static String sha256(Path fileOrFolder) throws IOException {
        MessageDigest md = newDigest();
        if (Files.isDirectory(fileOrFolder)) {
            List<Path> files;
            try (Stream<Path> walk = Files.walk(fileOrFolder)) {
                files = walk.filter(Files::isRegularFile)
                        .filter(p -> !hidden(fileOrFolder.relativize(p)))
                        .sorted((a, b) -> relative(fileOrFolder, a).compareTo(relative(fileOrFolder, b)))
                        .toList();
            }
            for (Path f : files) {
                md.update(relative(fileOrFolder, f).getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0);
                md.update(ByteBuffer.allocate(Long.BYTES).putLong(Files.size(f)).flip());
                digest(md, f);
            }
        } else {
            digest(md, fileOrFolder);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static boolean hidden(Path relative) {
        for (Path part : relative) {
            if (part.toString().startsWith(".")) {
                return true;
            }
        }
        return false;
    }

    private static String relative(Path root, Path f) {
        return root.relativize(f).toString().replace('\\', '/');
    }

    private static void digest(MessageDigest md, Path f) throws IOException {
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(f)) {
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
        }
    }

    private static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }
}
