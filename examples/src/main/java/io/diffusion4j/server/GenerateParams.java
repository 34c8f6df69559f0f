package io.diffusion4j.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The body of {@code POST /v1/generate}, parsed and checked at the JSON edge. Every field is optional; a field the
 * server does not know, a wrong type or an out-of-range value is an {@link IllegalArgumentException} with a one-line
 * message (answered with 400).
 *
 * @param model     the model's name; null when the server serves one model
 * @param scheduler a scheduler name, or null for the model's config's
 * @param steps     inference steps, or null for the scheduler's default
 * @param seed      sample i uses seed + i; null for a random seed (returned in the response)
 * @param classes   one class for all samples or one per sample; null for unconditional
 * @param timeoutMs the deadline in milliseconds, or null for the server's default
 */
record GenerateParams(String model, String scheduler, Integer steps, Long seed, int[] classes, double guidance,
                      double eta, int batch, Format format, Long timeoutMs) {

    /** What the response carries. */
    enum Format {
        PNG, PT, JSON;

        static Format parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("format must be png, pt or json, got '" + s + "'");
            }
        }
    }

    static final Set<String> FIELDS = Set.of("model", "scheduler", "steps", "seed", "class", "guidance", "eta", "batch",
            "format", "timeout_ms");
    private static final ObjectMapper JSON = new ObjectMapper();

    GenerateParams {
        if (steps != null && steps < 1) {
            throw new IllegalArgumentException("steps must be >= 1, got " + steps);
        }
        if (!(guidance >= 0) || Double.isInfinite(guidance)) {
            throw new IllegalArgumentException("guidance must be a finite number >= 0, got " + guidance);
        }
        if (!(eta >= 0) || Double.isInfinite(eta)) {
            throw new IllegalArgumentException("eta must be a finite number >= 0, got " + eta);
        }
        if (batch < 1) {
            throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        }
        if (classes != null && classes.length != 1 && classes.length != batch) {
            throw new IllegalArgumentException(classes.length + " classes given for a batch of " + batch
                    + " (give one class for all, or one per sample)");
        }
        if (timeoutMs != null && timeoutMs < 1) {
            throw new IllegalArgumentException("timeout_ms must be >= 1, got " + timeoutMs);
        }
    }

    /** Parses a request body (empty means all defaults). */
    static GenerateParams parse(String body) {
        JsonNode root;
        try {
            root = body.isBlank() ? JSON.createObjectNode() : JSON.readTree(body);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("invalid JSON: " + e.getOriginalMessage().lines().findFirst().orElse(""));
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("the body must be a JSON object, e.g. {\"steps\": 20, \"class\": 3}");
        }
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!FIELDS.contains(f)) {
                throw new IllegalArgumentException("unknown field '" + f + "'; known: " + String.join(", ",
                        FIELDS.stream().sorted().toList()));
            }
        }
        int batch = root.has("batch") ? intField(root, "batch") : 1;
        return new GenerateParams(textField(root, "model"), textField(root, "scheduler"),
                root.has("steps") && !root.get("steps").isNull() ? intField(root, "steps") : null,
                root.has("seed") && !root.get("seed").isNull() ? longField(root, "seed") : null,
                classes(root.get("class")),
                root.has("guidance") ? numberField(root, "guidance") : 1.0,
                root.has("eta") ? numberField(root, "eta") : 0.0,
                batch,
                root.has("format") ? Format.parse(textField(root, "format")) : Format.PNG,
                root.has("timeout_ms") && !root.get("timeout_ms").isNull() ? longField(root, "timeout_ms") : null);
    }

    private static String textField(JsonNode root, String name) {
        JsonNode n = root.get(name);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isTextual()) {
            throw new IllegalArgumentException(name + " must be a string, got " + n);
        }
        return n.asText();
    }

    private static int intField(JsonNode root, String name) {
        JsonNode n = root.get(name);
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new IllegalArgumentException(name + " must be an integer, got " + n);
        }
        return n.intValue();
    }

    private static long longField(JsonNode root, String name) {
        JsonNode n = root.get(name);
        if (!n.isIntegralNumber() || !n.canConvertToLong()) {
            throw new IllegalArgumentException(name + " must be an integer, got " + n);
        }
        return n.longValue();
    }

    private static double numberField(JsonNode root, String name) {
        JsonNode n = root.get(name);
        if (!n.isNumber()) {
            throw new IllegalArgumentException(name + " must be a number, got " + n);
        }
        return n.doubleValue();
    }

    private static int[] classes(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        List<JsonNode> items = n.isArray() ? List.copyOf(iterable(n)) : List.of(n);
        int[] out = new int[items.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode c = items.get(i);
            if (!c.isIntegralNumber() || !c.canConvertToInt()) {
                throw new IllegalArgumentException("class must be an integer or a list of integers, got " + n);
            }
            out[i] = c.intValue();
        }
        if (out.length == 0) {
            throw new IllegalArgumentException("class must not be an empty list");
        }
        return out;
    }

    private static List<JsonNode> iterable(JsonNode array) {
        java.util.ArrayList<JsonNode> l = new java.util.ArrayList<>();
        array.forEach(l::add);
        return l;
    }
}
