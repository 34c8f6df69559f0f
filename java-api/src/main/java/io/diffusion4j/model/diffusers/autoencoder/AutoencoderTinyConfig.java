package io.diffusion4j.model.diffusers.autoencoder;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Set;

/**
 * The {@code config.json} of a diffusers {@code AutoencoderTiny} (TAESD) under diffusers' key names and defaults;
 * unknown keys and unsupported values ({@code act_fn} other than relu, {@code upsample_fn} other than nearest) are
 * errors naming them.
 */
public record AutoencoderTinyConfig(int inChannels, int outChannels, int[] encoderBlockOutChannels,
                                    int[] decoderBlockOutChannels, int latentChannels, int upsamplingScalingFactor,
                                    int[] numEncoderBlocks, int[] numDecoderBlocks, double latentMagnitude,
                                    double latentShift, double scalingFactor, double shiftFactor) {
    static final String CLASS_NAME = "AutoencoderTiny";
    private static final Set<String> KEYS = Set.of("in_channels", "out_channels", "encoder_block_out_channels",
            "decoder_block_out_channels", "act_fn", "upsample_fn", "latent_channels", "upsampling_scaling_factor",
            "num_encoder_blocks", "num_decoder_blocks", "latent_magnitude", "latent_shift", "force_upcast",
            "scaling_factor", "shift_factor", "block_out_channels");

    public AutoencoderTinyConfig {
        check(inChannels >= 1 && outChannels >= 1 && latentChannels >= 1, "in_channels, out_channels and "
                + "latent_channels must be >= 1");
        check(encoderBlockOutChannels.length == numEncoderBlocks.length && encoderBlockOutChannels.length >= 1,
                "encoder_block_out_channels " + Arrays.toString(encoderBlockOutChannels) + " and num_encoder_blocks "
                        + Arrays.toString(numEncoderBlocks) + " must have the same length");
        check(decoderBlockOutChannels.length == numDecoderBlocks.length && decoderBlockOutChannels.length >= 1,
                "decoder_block_out_channels " + Arrays.toString(decoderBlockOutChannels) + " and num_decoder_blocks "
                        + Arrays.toString(numDecoderBlocks) + " must have the same length");
        check(upsamplingScalingFactor >= 1, "upsampling_scaling_factor must be >= 1, got " + upsamplingScalingFactor);
        check(latentMagnitude > 0, "latent_magnitude must be > 0, got " + latentMagnitude);
        encoderBlockOutChannels = encoderBlockOutChannels.clone();
        decoderBlockOutChannels = decoderBlockOutChannels.clone();
        numEncoderBlocks = numEncoderBlocks.clone();
        numDecoderBlocks = numDecoderBlocks.clone();
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    @Override
    public int[] encoderBlockOutChannels() {
        return encoderBlockOutChannels.clone();
    }

    @Override
    public int[] decoderBlockOutChannels() {
        return decoderBlockOutChannels.clone();
    }

    @Override
    public int[] numEncoderBlocks() {
        return numEncoderBlocks.clone();
    }

    @Override
    public int[] numDecoderBlocks() {
        return numDecoderBlocks.clone();
    }

    /** The encoder's downsampling: one stride-2 conv per block after the first. */
    public int downsamplingFactor() {
        return 1 << (encoderBlockOutChannels.length - 1);
    }

    /** Parses a {@code config.json}; {@code source} names the file in messages. */
    public static AutoencoderTinyConfig fromJson(String json, String source) {
        try {
            JsonNode n = new ObjectMapper().readTree(json);
            check(n != null && n.isObject(), "expected a JSON object");
            check(CLASS_NAME.equals(n.path("_class_name").asText(CLASS_NAME)), "_class_name "
                    + n.get("_class_name") + " is not " + CLASS_NAME);
            for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                check(k.startsWith("_") || KEYS.contains(k), CLASS_NAME + " takes no key \"" + k + "\"");
            }
            check("relu".equals(n.path("act_fn").asText("relu")), "act_fn " + n.get("act_fn")
                    + " is not supported (relu)");
            check("nearest".equals(n.path("upsample_fn").asText("nearest")), "upsample_fn " + n.get("upsample_fn")
                    + " is not supported (nearest)");
            int[] four = {64, 64, 64, 64};
            return new AutoencoderTinyConfig(n.path("in_channels").asInt(3), n.path("out_channels").asInt(3),
                    ints(n, "encoder_block_out_channels", four), ints(n, "decoder_block_out_channels", four),
                    n.path("latent_channels").asInt(4), n.path("upsampling_scaling_factor").asInt(2),
                    ints(n, "num_encoder_blocks", new int[] {1, 3, 3, 3}),
                    ints(n, "num_decoder_blocks", new int[] {3, 3, 3, 1}), n.path("latent_magnitude").asDouble(3),
                    n.path("latent_shift").asDouble(0.5), n.path("scaling_factor").asDouble(1.0),
                    n.path("shift_factor").asDouble(0.0));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(source + ": not valid JSON (" + e.getOriginalMessage() + ")", e);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(source + ": " + e.getMessage(), e);
        }
    }

    private static int[] ints(JsonNode n, String key, int[] dflt) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        check(v.isArray(), key + " must be a list of integers, got " + v);
        int[] out = new int[v.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = v.get(i).asInt();
        }
        return out;
    }
}
