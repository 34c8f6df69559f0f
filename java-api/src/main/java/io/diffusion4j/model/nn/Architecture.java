package io.diffusion4j.model.nn;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Arrays;
import java.util.Locale;

/**
 * How to build a Java denoiser network: {@code architecture} in {@code diffusion4j.json}. Immutable, validated on
 * construction; round-trips through {@link #toJson()} / {@link #fromJson(JsonNode)}.
 *
 * <ul>
 *   <li>{@link Type#MLP}: a sample of any shape, flattened to {@code D} values, concatenated with a sinusoidal
 *   timestep embedding of {@code timeEmbedding} values, then {@code depth} Linear+SiLU layers of {@code width} and a
 *   Linear back to {@code D} (parameter names {@code net.0, net.2, ...}: the built-in toy2d model's layout for
 *   {@code [2]}, width 128, depth 3, embedding 32).</li>
 *   <li>{@link Type#UNET}: {@code [C, H, W]} samples (H, W even): conv in to {@code width} channels, a ResBlock, a
 *   stride-2 conv to {@code 2 width}, {@code depth} ResBlocks, a 1x1 conv + pixel shuffle back up, a ResBlock on the
 *   skip concatenation, GroupNorm+SiLU+conv out; the timestep (sinusoidal of {@code width} values, MLP to
 *   {@code timeEmbedding}) plus an optional class embedding ({@code numClasses + 1} rows, the last one the null
 *   class) is projected into every ResBlock. The built-in digits model's layout for {@code [1, 8, 8]}, width 32,
 *   depth 2, embedding 64, 10 classes.</li>
 * </ul>
 *
 * <p>{@code guidance_embedding} (a class-conditional UNet only) adds an input for the classifier-free guidance scale
 * {@code w} (Meng et al. 2023): a sinusoidal embedding of {@code 100 w} ({@code width} values), an MLP
 * ({@code w_mlp.0}, SiLU, {@code w_mlp.2}) into the {@code timeEmbedding} width, added to the time + class embedding.
 * Its last layer starts at zero, so the network starts out as the same UNet without it, at every {@code w}
 * (test-models/make_guidance_student.py builds the same network in PyTorch: state dicts are interchangeable). Such a
 * network predicts the guided {@code uncond + w (cond - uncond)} in one forward once guidance-distilled.
 *
 * @param numClasses classes of a class-conditional UNet (the null class is {@code numClasses}); 0 = unconditional
 * @param groups     GroupNorm groups of a UNet (divides {@code width}); 0 for an MLP
 * @param guidanceEmbedding whether the network takes a guidance scale (a class-conditional UNet only)
 */
public record Architecture(Type type, long[] sampleShape, int width, int depth, int timeEmbedding, int numClasses,
                           int groups, boolean guidanceEmbedding) {

    /** The network family. */
    public enum Type { MLP, UNET }

    private static final ObjectMapper JSON = new ObjectMapper();

    public Architecture {
        if (type == null) {
            throw new IllegalArgumentException("architecture type must be mlp or unet, got null");
        }
        if (sampleShape == null || sampleShape.length == 0 || Arrays.stream(sampleShape).anyMatch(d -> d < 1)) {
            throw new IllegalArgumentException("architecture sample_shape must be dimensions >= 1, got "
                    + Arrays.toString(sampleShape));
        }
        sampleShape = sampleShape.clone();
        if (width < 1 || depth < 0 || timeEmbedding < 2 || timeEmbedding % 2 != 0 || numClasses < 0) {
            throw new IllegalArgumentException("architecture needs width >= 1, depth >= 0, an even time_embedding "
                    + ">= 2 and num_classes >= 0, got width " + width + ", depth " + depth + ", time_embedding "
                    + timeEmbedding + ", num_classes " + numClasses);
        }
        if (type == Type.MLP && numClasses != 0) {
            throw new IllegalArgumentException("the mlp architecture is unconditional (num_classes 0), got "
                    + numClasses);
        }
        if (type == Type.UNET) {
            if (sampleShape.length != 3 || sampleShape[1] % 2 != 0 || sampleShape[2] % 2 != 0) {
                throw new IllegalArgumentException("the unet architecture takes [C, H, W] samples with even H and W, "
                        + "got " + Arrays.toString(sampleShape));
            }
            if (width % 2 != 0 || groups < 1 || width % groups != 0) {
                throw new IllegalArgumentException("the unet architecture needs an even width divisible by groups, "
                        + "got width " + width + ", groups " + groups);
            }
        }
        if (guidanceEmbedding && (type != Type.UNET || numClasses < 1)) {
            throw new IllegalArgumentException("guidance_embedding needs a class-conditional unet (num_classes >= 1), "
                    + "got type " + type.name().toLowerCase(Locale.ROOT) + ", num_classes " + numClasses);
        }
    }

    /** Without a guidance embedding. */
    public Architecture(Type type, long[] sampleShape, int width, int depth, int timeEmbedding, int numClasses,
                        int groups) {
        this(type, sampleShape, width, depth, timeEmbedding, numClasses, groups, false);
    }

    /**
     * This architecture with or without the guidance-scale input ({@code guidance_embedding}).
     *
     * @throws IllegalArgumentException when adding it to anything but a class-conditional UNet
     */
    public Architecture withGuidanceEmbedding(boolean on) {
        return new Architecture(type, sampleShape, width, depth, timeEmbedding, numClasses, groups, on);
    }

    /** An MLP denoiser for samples of {@code sampleShape}. */
    public static Architecture mlp(long[] sampleShape, int width, int depth, int timeEmbedding) {
        return new Architecture(Type.MLP, sampleShape, width, depth, timeEmbedding, 0, 0);
    }

    /** A UNet denoiser for {@code [C, H, W]} samples; {@code numClasses} 0 = unconditional. */
    public static Architecture unet(long[] sampleShape, int width, int depth, int timeEmbedding, int numClasses) {
        return new Architecture(Type.UNET, sampleShape, width, depth, timeEmbedding, numClasses, 8);
    }

    @Override
    public long[] sampleShape() {
        return sampleShape.clone();
    }

    public boolean isConditional() {
        return numClasses > 0;
    }

    /** The null class id of a conditional UNet ({@code numClasses}), -1 otherwise. */
    public int nullClassId() {
        return numClasses > 0 ? numClasses : -1;
    }

    public String toJson() {
        ObjectNode n = JSON.createObjectNode();
        n.put("type", type.name().toLowerCase(Locale.ROOT));
        ArrayNode shape = n.putArray("sample_shape");
        for (long d : sampleShape) {
            shape.add(d);
        }
        n.put("width", width);
        n.put("depth", depth);
        n.put("time_embedding", timeEmbedding);
        n.put("num_classes", numClasses);
        n.put("groups", groups);
        if (guidanceEmbedding) {
            n.put("guidance_embedding", true);
        }
        try {
            return JSON.writeValueAsString(n);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write an architecture as JSON", e);
        }
    }

    /**
     * Parses the {@code architecture} object of {@code diffusion4j.json}.
     *
     * @throws IllegalArgumentException naming the key that is missing or wrong
     */
    public static Architecture fromJson(JsonNode n) {
        if (n == null || !n.isObject()) {
            throw new IllegalArgumentException("architecture must be a JSON object, got " + n);
        }
        String t = text(n, "type").toUpperCase(Locale.ROOT);
        Type type;
        try {
            type = Type.valueOf(t);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("architecture type must be mlp or unet, got " + n.get("type"));
        }
        JsonNode s = n.get("sample_shape");
        if (s == null || !s.isArray() || s.isEmpty()) {
            throw new IllegalArgumentException("architecture sample_shape must be an array of integers, got " + s);
        }
        long[] shape = new long[s.size()];
        for (int i = 0; i < shape.length; i++) {
            if (!s.get(i).isIntegralNumber()) {
                throw new IllegalArgumentException("architecture sample_shape must be an array of integers, got " + s);
            }
            shape[i] = s.get(i).asLong();
        }
        JsonNode g = n.get("guidance_embedding");
        if (g != null && !g.isBoolean()) {
            throw new IllegalArgumentException("architecture guidance_embedding must be true or false, got " + g);
        }
        return new Architecture(type, shape, integer(n, "width"), integer(n, "depth"), integer(n, "time_embedding"),
                n.has("num_classes") ? integer(n, "num_classes") : 0, n.has("groups") ? integer(n, "groups") : 0,
                g != null && g.asBoolean());
    }

    private static String text(JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (v == null || !v.isTextual()) {
            throw new IllegalArgumentException("architecture " + key + " must be a string, got " + v);
        }
        return v.asText();
    }

    private static int integer(JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (v == null || !v.canConvertToInt() || !v.isIntegralNumber()) {
            throw new IllegalArgumentException("architecture " + key + " must be an integer, got " + v);
        }
        return v.asInt();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Architecture a && a.type == type && Arrays.equals(a.sampleShape, sampleShape)
                && a.width == width && a.depth == depth && a.timeEmbedding == timeEmbedding
                && a.numClasses == numClasses && a.groups == groups && a.guidanceEmbedding == guidanceEmbedding;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(type, Arrays.hashCode(sampleShape), width, depth, timeEmbedding, numClasses,
                groups, guidanceEmbedding);
    }

    @Override
    public String toString() {
        return toJson();
    }
}
