package io.diffusion4j.model.diffusers.autoencoder;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * The {@code config.json} of a diffusers {@code AutoencoderKL} or {@code VQModel} under diffusers' key names, with
 * diffusers' defaults for absent keys. Keys starting with {@code _} are metadata; any other key the class does not take
 * is an error naming it, and so is a value not supported here ({@code latents_mean}/{@code latents_std},
 * {@code norm_type} "spatial", block types other than DownEncoderBlock2D/UpDecoderBlock2D).
 *
 * @param sampleSize      the image side the autoencoder was trained on (the tile size of tiled decoding)
 * @param shiftFactor     added after dividing by {@code scaling_factor} before decoding (0 when null in the file)
 * @param numVqEmbeddings codebook rows (VQModel; 0 for AutoencoderKL)
 * @param vqEmbedDim      codebook width, the latent's channels (VQModel; {@code latent_channels} when null)
 */
public record AutoencoderConfig(Kind kind, int inChannels, int outChannels, List<String> downBlockTypes,
                                List<String> upBlockTypes, int[] blockOutChannels, int layersPerBlock,
                                int latentChannels, int normNumGroups, int sampleSize, double scalingFactor,
                                double shiftFactor, boolean forceUpcast, boolean useQuantConv, boolean usePostQuantConv,
                                boolean midBlockAddAttention, int numVqEmbeddings, int vqEmbedDim,
                                boolean lookupFromCodebook) {

    /** The diffusers class ({@code _class_name}). */
    public enum Kind {
        AUTOENCODER_KL("AutoencoderKL"), VQ_MODEL("VQModel");

        private final String className;

        Kind(String className) {
            this.className = className;
        }

        public String className() {
            return className;
        }
    }

    public static final String FILE_NAME = "config.json";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> COMMON = Set.of("in_channels", "out_channels", "down_block_types",
            "up_block_types", "block_out_channels", "layers_per_block", "act_fn", "latent_channels", "norm_num_groups",
            "sample_size", "scaling_factor", "force_upcast", "mid_block_add_attention");
    private static final Set<String> KL_ONLY = Set.of("shift_factor", "latents_mean", "latents_std", "use_quant_conv",
            "use_post_quant_conv");
    private static final Set<String> VQ_ONLY = Set.of("num_vq_embeddings", "vq_embed_dim", "norm_type",
            "lookup_from_codebook");

    public AutoencoderConfig {
        check(kind != null, "the autoencoder class is missing");
        check(inChannels >= 1 && outChannels >= 1 && latentChannels >= 1, "in_channels, out_channels and "
                + "latent_channels must be >= 1, got " + inChannels + ", " + outChannels + ", " + latentChannels);
        check(blockOutChannels != null && blockOutChannels.length >= 1
                        && Arrays.stream(blockOutChannels).allMatch(c -> c >= 1),
                "block_out_channels must be a non-empty list of integers >= 1, got " + Arrays.toString(blockOutChannels));
        blockOutChannels = blockOutChannels.clone();
        downBlockTypes = List.copyOf(downBlockTypes);
        upBlockTypes = List.copyOf(upBlockTypes);
        check(downBlockTypes.size() == blockOutChannels.length && upBlockTypes.size() == blockOutChannels.length,
                "down_block_types (" + downBlockTypes.size() + "), up_block_types (" + upBlockTypes.size()
                        + ") and block_out_channels (" + blockOutChannels.length + ") must have the same length");
        for (String t : downBlockTypes) {
            check("DownEncoderBlock2D".equals(t), "down_block_types: \"" + t + "\" is not supported "
                    + "(DownEncoderBlock2D)");
        }
        for (String t : upBlockTypes) {
            check("UpDecoderBlock2D".equals(t), "up_block_types: \"" + t + "\" is not supported (UpDecoderBlock2D)");
        }
        check(layersPerBlock >= 1, "layers_per_block must be >= 1, got " + layersPerBlock);
        check(normNumGroups >= 1 && Arrays.stream(blockOutChannels).allMatch(c -> c % normNumGroups == 0),
                "norm_num_groups " + normNumGroups + " must divide block_out_channels "
                        + Arrays.toString(blockOutChannels));
        check(sampleSize >= 1, "sample_size must be >= 1, got " + sampleSize);
        check(scalingFactor > 0 && Double.isFinite(scalingFactor), "scaling_factor must be > 0, got " + scalingFactor);
        check(Double.isFinite(shiftFactor), "shift_factor must be finite, got " + shiftFactor);
        check(kind == Kind.AUTOENCODER_KL || (numVqEmbeddings >= 1 && vqEmbedDim >= 1),
                "num_vq_embeddings and vq_embed_dim must be >= 1, got " + numVqEmbeddings + ", " + vqEmbedDim);
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    @Override
    public int[] blockOutChannels() {
        return blockOutChannels.clone();
    }

    /** How much smaller the latent is per side: {@code 2^(len(block_out_channels) - 1)}. */
    public int downsamplingFactor() {
        return 1 << (blockOutChannels.length - 1);
    }

    /** The channels of the latent a denoiser works on: {@code latent_channels}, or the codebook width of a VQModel. */
    public int diffusionChannels() {
        return kind == Kind.VQ_MODEL ? vqEmbedDim : latentChannels;
    }

    /**
     * Parses the text of a {@code config.json}; {@code source} names the file in messages.
     *
     * @throws IllegalArgumentException naming the key that is unknown, unsupported or wrong
     */
    public static AutoencoderConfig fromJson(String json, String source) {
        JsonNode n;
        try {
            n = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(source + ": not valid JSON (" + e.getOriginalMessage() + ")", e);
        }
        if (n == null || !n.isObject()) {
            throw new IllegalArgumentException(source + ": expected a JSON object");
        }
        String cls = n.path("_class_name").asText("");
        Kind kind = null;
        for (Kind k : Kind.values()) {
            if (k.className().equals(cls)) {
                kind = k;
            }
        }
        if (kind == null) {
            throw new IllegalArgumentException(source + ": _class_name \"" + cls + "\" is not a supported autoencoder "
                    + "(AutoencoderKL or VQModel)");
        }
        Set<String> own = kind == Kind.AUTOENCODER_KL ? KL_ONLY : VQ_ONLY;
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!k.startsWith("_") && !COMMON.contains(k) && !own.contains(k)) {
                throw new IllegalArgumentException(source + ": " + kind.className() + " takes no key \"" + k + "\"");
            }
        }
        try {
            String act = text(n, "act_fn", "silu");
            check("silu".equals(act) || "swish".equals(act), "act_fn \"" + act + "\" is not supported (silu)");
            for (String k : List.of("latents_mean", "latents_std")) {
                check(!n.hasNonNull(k), k + " is not supported (it must be null)");
            }
            String normType = text(n, "norm_type", "group");
            check("group".equals(normType), "norm_type \"" + normType + "\" is not supported (group)");
            boolean kl = kind == Kind.AUTOENCODER_KL;
            int latent = integer(n, "latent_channels", kl ? 4 : 3);
            JsonNode s = n.get("sample_size");
            int sampleSize = s != null && s.isArray() && s.size() > 0 ? s.get(0).asInt() : integer(n, "sample_size", 32);
            return new AutoencoderConfig(kind, integer(n, "in_channels", 3), integer(n, "out_channels", 3),
                    strings(n, "down_block_types", "DownEncoderBlock2D"), strings(n, "up_block_types",
                    "UpDecoderBlock2D"), ints(n, "block_out_channels", 64), integer(n, "layers_per_block", 1), latent,
                    integer(n, "norm_num_groups", 32), sampleSize, number(n, "scaling_factor", 0.18215),
                    number(n, "shift_factor", 0), bool(n, "force_upcast", kl), bool(n, "use_quant_conv", true),
                    bool(n, "use_post_quant_conv", true), bool(n, "mid_block_add_attention", true),
                    kl ? 0 : integer(n, "num_vq_embeddings", 256), kl ? 0 : integer(n, "vq_embed_dim", latent),
                    bool(n, "lookup_from_codebook", false));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(source + ": " + e.getMessage(), e);
        }
    }

    private static int integer(JsonNode n, String key, int dflt) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        check(v.isIntegralNumber(), key + " must be an integer, got " + v);
        return v.asInt();
    }

    private static double number(JsonNode n, String key, double dflt) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        check(v.isNumber(), key + " must be a number, got " + v);
        return v.asDouble();
    }

    private static boolean bool(JsonNode n, String key, boolean dflt) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        check(v.isBoolean() || v.isNumber(), key + " must be true or false, got " + v);
        return v.isBoolean() ? v.asBoolean() : v.asDouble() != 0;
    }

    private static String text(JsonNode n, String key, String dflt) {
        JsonNode v = n.get(key);
        return v == null || v.isNull() ? dflt : v.asText();
    }

    private static List<String> strings(JsonNode n, String key, String dflt) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            return List.of(dflt);
        }
        check(v.isArray(), key + " must be a list of block names, got " + v);
        List<String> out = new ArrayList<>();
        v.forEach(e -> out.add(e.asText()));
        return out;
    }

    private static int[] ints(JsonNode n, String key, int dflt) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            return new int[] {dflt};
        }
        check(v.isArray(), key + " must be a list of integers, got " + v);
        int[] out = new int[v.size()];
        for (int i = 0; i < out.length; i++) {
            check(v.get(i).isIntegralNumber(), key + " must be a list of integers, got " + v);
            out[i] = v.get(i).asInt();
        }
        return out;
    }
}
