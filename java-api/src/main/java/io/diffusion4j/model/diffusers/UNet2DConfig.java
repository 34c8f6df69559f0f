package io.diffusion4j.model.diffusers;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The {@code config.json} of a diffusers {@code UNet2DModel}: its keys under diffusers' names, with diffusers'
 * defaults for keys that are absent. Keys starting with {@code _} are metadata; any other key that UNet2DModel does not
 * take is an error naming it, and so is a value this implementation does not support.
 *
 * @param sampleSize          {@code [height, width]} (diffusers writes an int or a pair), or null when unknown
 * @param attentionHeadDim    null: one head per block (the block's channels)
 * @param attnNormNumGroups   null: diffusers' rule (the resnets' groups under the default time scale shift)
 * @param numClassEmbeds      rows of the class embedding table ({@code class_embed_type} null), or null
 * @param numTrainTimesteps   rows of a {@code learned} time embedding, or null
 */
public record UNet2DConfig(int[] sampleSize, int inChannels, int outChannels, boolean centerInputSample,
                           TimeEmbeddingType timeEmbeddingType, double freqShift, boolean flipSinToCos,
                           List<String> downBlockTypes, List<String> upBlockTypes, int[] blockOutChannels,
                           int layersPerBlock, double midBlockScaleFactor, int downsamplePadding,
                           String downsampleType, String upsampleType, double dropout, String actFn,
                           Integer attentionHeadDim, int normNumGroups, Integer attnNormNumGroups, double normEps,
                           String resnetTimeScaleShift, boolean addAttention, ClassEmbedType classEmbedType,
                           Integer numClassEmbeds, Integer numTrainTimesteps) {

    /** {@code time_embedding_type}. */
    public enum TimeEmbeddingType { POSITIONAL, FOURIER, LEARNED }

    /** {@code class_embed_type}: NONE is JSON null (a table of {@code num_class_embeds} rows, when given). */
    public enum ClassEmbedType { NONE, TIMESTEP, IDENTITY }

    public static final String FILE_NAME = "config.json";
    static final String CLASS_NAME = "UNet2DModel";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final Set<String> KEYS = Set.of("sample_size", "in_channels", "out_channels",
            "center_input_sample", "time_embedding_type", "freq_shift", "flip_sin_to_cos", "down_block_types",
            "up_block_types", "block_out_channels", "layers_per_block", "mid_block_scale_factor",
            "downsample_padding", "downsample_type", "upsample_type", "dropout", "act_fn", "attention_head_dim",
            "norm_num_groups", "attn_norm_num_groups", "norm_eps", "resnet_time_scale_shift", "add_attention",
            "class_embed_type", "num_class_embeds", "num_train_timesteps");

    public UNet2DConfig {
        check(inChannels >= 1 && outChannels >= 1, "in_channels and out_channels must be >= 1, got " + inChannels
                + ", " + outChannels);
        check(blockOutChannels != null && blockOutChannels.length >= 1
                        && Arrays.stream(blockOutChannels).allMatch(c -> c >= 1),
                "block_out_channels must be a non-empty list of integers >= 1, got " + Arrays.toString(blockOutChannels));
        blockOutChannels = blockOutChannels.clone();
        downBlockTypes = List.copyOf(downBlockTypes);
        upBlockTypes = List.copyOf(upBlockTypes);
        check(downBlockTypes.size() == blockOutChannels.length && upBlockTypes.size() == blockOutChannels.length,
                "down_block_types (" + downBlockTypes.size() + "), up_block_types (" + upBlockTypes.size()
                        + ") and block_out_channels (" + blockOutChannels.length + ") must have the same length");
        check(layersPerBlock >= 1, "layers_per_block must be >= 1, got " + layersPerBlock);
        if (sampleSize != null) {
            check(sampleSize.length == 2 && sampleSize[0] >= 1 && sampleSize[1] >= 1,
                    "sample_size must be an integer or [height, width] >= 1, got " + Arrays.toString(sampleSize));
            sampleSize = sampleSize.clone();
        }
        check(normNumGroups >= 1, "norm_num_groups must be >= 1 (null is not supported), got " + normNumGroups);
        for (int c : blockOutChannels) {
            check(c % normNumGroups == 0, "norm_num_groups " + normNumGroups + " does not divide block_out_channels "
                    + Arrays.toString(blockOutChannels));
        }
        check(normEps > 0, "norm_eps must be > 0, got " + normEps);
        check(downsamplePadding >= 0, "downsample_padding must be >= 0, got " + downsamplePadding);
        check("conv".equals(downsampleType) || "resnet".equals(downsampleType),
                "downsample_type must be \"conv\" or \"resnet\", got " + quote(downsampleType));
        check("conv".equals(upsampleType) || "resnet".equals(upsampleType),
                "upsample_type must be \"conv\" or \"resnet\", got " + quote(upsampleType));
        check("silu".equals(actFn) || "swish".equals(actFn),
                "act_fn " + quote(actFn) + " is not supported (silu or swish)");
        check("default".equals(resnetTimeScaleShift) || "scale_shift".equals(resnetTimeScaleShift),
                "resnet_time_scale_shift " + quote(resnetTimeScaleShift) + " is not supported (default or scale_shift)");
        check(attentionHeadDim == null || attentionHeadDim >= 1, "attention_head_dim must be >= 1 or null, got "
                + attentionHeadDim);
        check(dropout >= 0 && dropout < 1, "dropout must be in [0, 1), got " + dropout);
        check(numClassEmbeds == null || numClassEmbeds >= 1, "num_class_embeds must be >= 1 or null, got "
                + numClassEmbeds);
        check(timeEmbeddingType != TimeEmbeddingType.LEARNED || (numTrainTimesteps != null && numTrainTimesteps >= 1),
                "time_embedding_type \"learned\" needs num_train_timesteps >= 1, got " + numTrainTimesteps);
        if (attnNormNumGroups != null) {
            check(attnNormNumGroups >= 1 && blockOutChannels[blockOutChannels.length - 1] % attnNormNumGroups == 0,
                    "attn_norm_num_groups " + attnNormNumGroups + " must divide the last block_out_channels");
        }
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    private static String quote(String s) {
        return s == null ? "null" : "\"" + s + "\"";
    }

    @Override
    public int[] sampleSize() {
        return sampleSize == null ? null : sampleSize.clone();
    }

    @Override
    public int[] blockOutChannels() {
        return blockOutChannels.clone();
    }

    /** The width of the time embedding: {@code 4 * block_out_channels[0]}. */
    public int timeEmbedDim() {
        return 4 * blockOutChannels[0];
    }

    /**
     * Whether the forward takes a class input: labels (a {@code num_class_embeds} table or {@code timestep}), or, for
     * {@code identity}, float class embeddings {@code [B, time_embed_dim]} added to the time embedding as they are.
     */
    public boolean isClassConditional() {
        return classEmbedType != ClassEmbedType.NONE || numClassEmbeds != null;
    }

    /**
     * Parses the text of a {@code config.json}; {@code source} names the file in messages.
     *
     * @throws IllegalArgumentException naming the key that is unknown, unsupported or wrong
     */
    public static UNet2DConfig fromJson(String json, String source) {
        JsonNode n;
        try {
            n = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(source + ": not valid JSON (" + e.getOriginalMessage() + ")", e);
        }
        if (n == null || !n.isObject()) {
            throw new IllegalArgumentException(source + ": expected a JSON object");
        }
        JsonNode cls = n.get("_class_name");
        if (cls != null && !CLASS_NAME.equals(cls.asText())) {
            throw new IllegalArgumentException(source + ": _class_name " + cls + " is not supported (only "
                    + CLASS_NAME + "; UNet2DConditionModel and other networks are not built in Java yet)");
        }
        for (java.util.Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!k.startsWith("_") && !KEYS.contains(k)) {
                throw new IllegalArgumentException(source + ": unknown UNet2DModel config key \"" + k + "\"");
            }
        }
        try {
            JsonNode s = n.get("sample_size");
            int[] size = s == null || s.isNull() ? null
                    : s.isArray() ? ints(n, "sample_size") : new int[] {integer(n, "sample_size", 0), integer(n, "sample_size", 0)};
            String tet = string(n, "time_embedding_type", "positional");
            TimeEmbeddingType timeType = switch (tet) {
                case "positional" -> TimeEmbeddingType.POSITIONAL;
                case "fourier" -> TimeEmbeddingType.FOURIER;
                case "learned" -> TimeEmbeddingType.LEARNED;
                default -> throw new IllegalArgumentException("time_embedding_type \"" + tet
                        + "\" is not supported (positional, fourier, learned)");
            };
            String cet = string(n, "class_embed_type", null);
            ClassEmbedType classType = cet == null ? ClassEmbedType.NONE : switch (cet) {
                case "timestep" -> ClassEmbedType.TIMESTEP;
                case "identity" -> ClassEmbedType.IDENTITY;
                default -> throw new IllegalArgumentException("class_embed_type \"" + cet
                        + "\" is not supported (null, timestep)");
            };
            return new UNet2DConfig(size, integer(n, "in_channels", 3), integer(n, "out_channels", 3),
                    bool(n, "center_input_sample", false), timeType, number(n, "freq_shift", 0),
                    bool(n, "flip_sin_to_cos", true),
                    strings(n, "down_block_types", List.of("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D",
                            "AttnDownBlock2D")),
                    strings(n, "up_block_types", List.of("AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D",
                            "UpBlock2D")),
                    n.has("block_out_channels") ? ints(n, "block_out_channels") : new int[] {224, 448, 672, 896},
                    integer(n, "layers_per_block", 2), number(n, "mid_block_scale_factor", 1),
                    integer(n, "downsample_padding", 1), string(n, "downsample_type", "conv"),
                    string(n, "upsample_type", "conv"), number(n, "dropout", 0), string(n, "act_fn", "silu"),
                    optionalInt(n, "attention_head_dim", 8), integer(n, "norm_num_groups", 32),
                    optionalInt(n, "attn_norm_num_groups", null), number(n, "norm_eps", 1e-5),
                    string(n, "resnet_time_scale_shift", "default"), bool(n, "add_attention", true), classType,
                    optionalInt(n, "num_class_embeds", null), optionalInt(n, "num_train_timesteps", null));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(source + ": " + e.getMessage(), e);
        }
    }

    /** The config as diffusers writes it ({@code _class_name}, {@code _diffusers_version} and every key). */
    public String toJson() {
        ObjectNode n = JSON.createObjectNode();
        n.put("_class_name", CLASS_NAME);
        n.put("_diffusers_version", "0.30.3");
        n.put("act_fn", actFn);
        n.put("add_attention", addAttention);
        putInt(n, "attention_head_dim", attentionHeadDim);
        putInt(n, "attn_norm_num_groups", attnNormNumGroups);
        n.set("block_out_channels", JSON.valueToTree(blockOutChannels));
        n.put("center_input_sample", centerInputSample);
        if (classEmbedType == ClassEmbedType.NONE) {
            n.putNull("class_embed_type");
        } else {
            n.put("class_embed_type", classEmbedType.name().toLowerCase(Locale.ROOT));
        }
        n.set("down_block_types", JSON.valueToTree(downBlockTypes));
        n.put("downsample_padding", downsamplePadding);
        n.put("downsample_type", downsampleType);
        n.put("dropout", dropout);
        n.put("flip_sin_to_cos", flipSinToCos);
        if (freqShift == Math.rint(freqShift)) {
            n.put("freq_shift", (long) freqShift);
        } else {
            n.put("freq_shift", freqShift);
        }
        n.put("in_channels", inChannels);
        n.put("layers_per_block", layersPerBlock);
        n.put("mid_block_scale_factor", midBlockScaleFactor);
        n.put("norm_eps", normEps);
        n.put("norm_num_groups", normNumGroups);
        putInt(n, "num_class_embeds", numClassEmbeds);
        putInt(n, "num_train_timesteps", numTrainTimesteps);
        n.put("out_channels", outChannels);
        n.put("resnet_time_scale_shift", resnetTimeScaleShift);
        if (sampleSize == null) {
            n.putNull("sample_size");
        } else if (sampleSize[0] == sampleSize[1]) {
            n.put("sample_size", sampleSize[0]);
        } else {
            n.set("sample_size", JSON.valueToTree(sampleSize));
        }
        n.put("time_embedding_type", timeEmbeddingType.name().toLowerCase(Locale.ROOT));
        n.set("up_block_types", JSON.valueToTree(upBlockTypes));
        n.put("upsample_type", upsampleType);
        try {
            return JSON.writeValueAsString(n);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write a UNet2DModel config", e);
        }
    }

    private static void putInt(ObjectNode n, String key, Integer v) {
        if (v == null) {
            n.putNull(key);
        } else {
            n.put(key, v);
        }
    }

    private static int integer(JsonNode n, String key, int dflt) {
        JsonNode v = n.get(key);
        if (v == null) {
            return dflt;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw new IllegalArgumentException(key + " must be an integer, got " + v);
        }
        return v.asInt();
    }

    private static Integer optionalInt(JsonNode n, String key, Integer dflt) {
        JsonNode v = n.get(key);
        if (v == null) {
            return dflt;
        }
        if (v.isNull()) {
            return null;
        }
        if (v.isArray()) {
            throw new IllegalArgumentException(key + " as a list (one value per block) is not supported, got " + v);
        }
        return integer(n, key, 0);
    }

    private static double number(JsonNode n, String key, double dflt) {
        JsonNode v = n.get(key);
        if (v == null) {
            return dflt;
        }
        if (!v.isNumber()) {
            throw new IllegalArgumentException(key + " must be a number, got " + v);
        }
        return v.asDouble();
    }

    private static boolean bool(JsonNode n, String key, boolean dflt) {
        JsonNode v = n.get(key);
        if (v == null) {
            return dflt;
        }
        if (!v.isBoolean()) {
            throw new IllegalArgumentException(key + " must be true or false, got " + v);
        }
        return v.asBoolean();
    }

    private static String string(JsonNode n, String key, String dflt) {
        JsonNode v = n.get(key);
        if (v == null) {
            return dflt;
        }
        if (v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw new IllegalArgumentException(key + " must be a string, got " + v);
        }
        return v.asText();
    }

    private static List<String> strings(JsonNode n, String key, List<String> dflt) {
        JsonNode v = n.get(key);
        if (v == null) {
            return dflt;
        }
        if (!v.isArray()) {
            throw new IllegalArgumentException(key + " must be a list of strings, got " + v);
        }
        List<String> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.isTextual()) {
                throw new IllegalArgumentException(key + " must be a list of strings, got " + v);
            }
            out.add(e.asText());
        }
        return out;
    }

    private static int[] ints(JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (!v.isArray()) {
            throw new IllegalArgumentException(key + " must be a list of integers, got " + v);
        }
        int[] out = new int[v.size()];
        for (int i = 0; i < out.length; i++) {
            if (!v.get(i).isIntegralNumber()) {
                throw new IllegalArgumentException(key + " must be a list of integers, got " + v);
            }
            out[i] = v.get(i).asInt();
        }
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof UNet2DConfig c && toJson().equals(c.toJson());
    }

    @Override
    public int hashCode() {
        return toJson().hashCode();
    }

    @Override
    public String toString() {
        return toJson();
    }
}
