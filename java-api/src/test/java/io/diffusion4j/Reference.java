package io.diffusion4j;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/** The PyTorch reference data of diffusion4j-test-models (io/diffusion4j/reference/index.json). */
public final class Reference {
    public static final String ROOT = "io/diffusion4j/reference/";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static JsonNode index;

    private Reference() {
    }

    public static synchronized JsonNode index() {
        if (index == null) {
            try (InputStream in = Reference.class.getClassLoader().getResourceAsStream(ROOT + "index.json")) {
                if (in == null) {
                    throw new IllegalStateException("reference index not on the classpath: " + ROOT + "index.json");
                }
                index = JSON.readTree(in);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return index;
    }

    public static List<JsonNode> cases(String kind) {
        List<JsonNode> out = new ArrayList<>();
        for (JsonNode c : index().get("cases")) {
            if (kind == null || kind.equals(c.get("kind").asText())) {
                out.add(c);
            }
        }
        return out;
    }

    public static JsonNode byName(String name) {
        for (JsonNode c : index().get("cases")) {
            if (name.equals(c.get("name").asText())) {
                return c;
            }
        }
        throw new IllegalArgumentException("no reference case " + name);
    }

    /** Loads a case's tensor file (the caller's scope owns it). */
    public static Tensor tensor(JsonNode c, String file) {
        try {
            return TensorFiles.readResource(ROOT + c.get("files").get(file).asText());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static double maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
        }
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs((double) a[i] - b[i]));
        }
        return m;
    }
}
