package io.diffusion4j.training.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataFingerprintTest {
    @TempDir
    Path tmp;

    @Test
    void aFileIsItsSha256() throws IOException {
        Path f = Files.writeString(tmp.resolve("a.txt"), "abc");
        // the FIPS 180-2 test vector for "abc"
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", DataFingerprint.sha256(f));
    }

    @Test
    void aFolderIsItsFilesPathsAndBytesNotItsLocation() throws IOException {
        Path a = Files.createDirectories(tmp.resolve("a/ones"));
        Files.writeString(a.resolve("0.png"), "one");
        Files.writeString(Files.createDirectories(tmp.resolve("a/sevens")).resolve("0.png"), "seven");
        String h = DataFingerprint.sha256(tmp.resolve("a"));

        Path b = Files.createDirectories(tmp.resolve("b/ones"));
        Files.writeString(b.resolve("0.png"), "one");
        Files.writeString(Files.createDirectories(tmp.resolve("b/sevens")).resolve("0.png"), "seven");
        Files.writeString(tmp.resolve("b/.DS_Store"), "hidden files do not count");
        assertEquals(h, DataFingerprint.sha256(tmp.resolve("b")), "same files elsewhere");

        Files.writeString(b.resolve("0.png"), "One");
        assertNotEquals(h, DataFingerprint.sha256(tmp.resolve("b")), "an edited file");
        Files.writeString(b.resolve("0.png"), "one");
        Files.move(b.resolve("0.png"), b.resolve("1.png"));
        assertNotEquals(h, DataFingerprint.sha256(tmp.resolve("b")), "a renamed file");
        Files.move(b.resolve("1.png"), b.resolve("0.png"));
        assertEquals(h, DataFingerprint.sha256(tmp.resolve("b")));
        Files.writeString(b.resolve("2.png"), "");
        assertNotEquals(h, DataFingerprint.sha256(tmp.resolve("b")), "an added (empty) file");
    }
}
