package io.diffusion4j.models;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The model folders shipped as classpath resources (the {@code diffusion4j-test-models} artifact): each is
 * {@code io/diffusion4j/models/<name>/}, listed in {@code io/diffusion4j/models/index.txt}.
 */
public final class BuiltinModels {
    /** Classpath folder holding the built-in model folders. */
    public static final String ROOT = "io/diffusion4j/models/";

    private BuiltinModels() {
    }

    /** Names of the built-in models on the classpath, in index order; empty when none are there. */
    public static List<String> names() {
        ClassLoader cl = classLoader();
        try (InputStream in = cl.getResourceAsStream(ROOT + "index.txt")) {
            if (in == null) {
                return List.of();
            }
            List<String> out = new ArrayList<>();
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    String name = line.strip();
                    if (!name.isEmpty() && !name.startsWith("#")) {
                        out.add(name);
                    }
                }
            }
            return List.copyOf(out);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the built-in model index " + ROOT + "index.txt", e);
        }
    }

    static ClassLoader classLoader() {
        ClassLoader cl = Thread.currentThread().getContextClassLoader();
        return cl != null ? cl : BuiltinModels.class.getClassLoader();
    }
}
