package io.diffusion4j.scheduler;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.diffusion4j.schedule.BetaSchedule;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Reading and writing {@link SchedulerConfig} as diffusers' {@code scheduler_config.json}. */
final class SchedulerConfigJson {

    private static final Logger LOG = LoggerFactory.getLogger(SchedulerConfig.class);

    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            // Python's json writes float("inf") as -Infinity (e.g. DPMSolver's lambda_min_clipped): read and write it bare
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .disable(JsonWriteFeature.WRITE_NAN_AS_STRINGS)
            .build();

    /** Two-space indent and {@code "key": value}, as diffusers' {@code json.dumps(indent=2)} writes. */
    private static final ObjectWriter WRITER = MAPPER.writer(new DefaultPrettyPrinter()
            .withSeparators(Separators.createDefaultInstance().withObjectFieldValueSpacing(Separators.Spacing.AFTER)));

    private SchedulerConfigJson() {
    }

    static SchedulerConfig read(Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new SchedulerConfigException("scheduler config not found: " + file, e);
        }
        return parse(new String(bytes, StandardCharsets.UTF_8), file.toString());
    }

    static SchedulerConfig parse(String json, String source) throws SchedulerConfigException {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            String where = at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
            throw new SchedulerConfigException(source + ": not valid JSON" + where, e);
        }
        if (root == null || root.isMissingNode()) {
            throw new SchedulerConfigException(source + ": empty, expected a JSON object");
        }
        if (!root.isObject()) {
            throw new SchedulerConfigException(source + ": expected a JSON object, got " + kind(root));
        }
        try {
            return fromTree(root, source);
        } catch (IllegalArgumentException e) {
            throw new SchedulerConfigException(source + ": " + e.getMessage(), e);
        }
    }

    private static SchedulerConfig fromTree(JsonNode root, String source) throws SchedulerConfigException {
        SchedulerConfig.Builder b = SchedulerConfig.builder();
        List<String> unknown = new ArrayList<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            String key = field.getKey();
            JsonNode v = field.getValue();
            if (!SchedulerConfig.KNOWN_KEYS.contains(key)) {
                unknown.add(key);
                b.putExtra(key, MAPPER.convertValue(v, Object.class));
                continue;
            }
            if (v.isNull()) {
                continue; // null means "the default", as diffusers writes trained_betas: null
            }
            switch (key) {
                case "_class_name" -> b.className(string(source, key, v));
                case "_diffusers_version" -> b.diffusersVersion(string(source, key, v));
                case "num_train_timesteps" -> b.numTrainTimesteps(integer(source, key, v));
                case "beta_start" -> b.betaStart(number(source, key, v));
                case "beta_end" -> b.betaEnd(number(source, key, v));
                case "beta_schedule" -> b.betaSchedule(
                        option(source, key, v, BetaSchedule.values(), BetaSchedule::configName));
                case "trained_betas" -> b.trainedBetas(numbers(source, key, v));
                case "prediction_type" -> b.predictionType(
                        option(source, key, v, PredictionType.values(), PredictionType::configName));
                case "variance_type" -> b.varianceType(
                        option(source, key, v, VarianceType.values(), VarianceType::configName));
                case "clip_sample" -> b.clipSample(bool(source, key, v));
                case "clip_sample_range" -> b.clipSampleRange(number(source, key, v));
                case "thresholding" -> b.thresholding(bool(source, key, v));
                case "dynamic_thresholding_ratio" -> b.dynamicThresholdingRatio(number(source, key, v));
                case "sample_max_value" -> b.sampleMaxValue(number(source, key, v));
                case "timestep_spacing" -> b.timestepSpacing(
                        option(source, key, v, TimestepSpacing.values(), TimestepSpacing::configName));
                case "steps_offset" -> b.stepsOffset(integer(source, key, v));
                case "set_alpha_to_one" -> b.setAlphaToOne(bool(source, key, v));
                case "rescale_betas_zero_snr" -> b.rescaleBetasZeroSnr(bool(source, key, v));
                default -> throw new AssertionError(key);
            }
        }
        if (!unknown.isEmpty() && LOG.isDebugEnabled()) {
            LOG.debug("{}: keeping keys SchedulerConfig does not type, unchanged in extra(): {}", source, unknown);
        }
        return b.build();
    }

    private static String string(String source, String key, JsonNode v) throws SchedulerConfigException {
        if (!v.isTextual()) {
            throw wrongType(source, key, "a string", v);
        }
        return v.textValue();
    }

    private static int integer(String source, String key, JsonNode v) throws SchedulerConfigException {
        if (v.isNumber() && v.canConvertToExactIntegral() && v.canConvertToInt()) {
            return v.asInt();
        }
        throw wrongType(source, key, "an integer", v);
    }

    private static double number(String source, String key, JsonNode v) throws SchedulerConfigException {
        if (!v.isNumber()) {
            throw wrongType(source, key, "a number", v);
        }
        return v.doubleValue();
    }

    private static boolean bool(String source, String key, JsonNode v) throws SchedulerConfigException {
        if (!v.isBoolean()) {
            throw wrongType(source, key, "true or false", v);
        }
        return v.booleanValue();
    }

    private static double[] numbers(String source, String key, JsonNode v) throws SchedulerConfigException {
        if (!v.isArray()) {
            throw wrongType(source, key, "an array of numbers or null", v);
        }
        double[] out = new double[v.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode item = v.get(i);
            if (!item.isNumber()) {
                throw wrongType(source, key + "[" + i + "]", "a number", item);
            }
            out[i] = item.doubleValue();
        }
        return out;
    }

    private static <E extends Enum<E>> E option(String source, String key, JsonNode v, E[] values,
            Function<E, String> configName) throws SchedulerConfigException {
        if (!v.isTextual()) {
            throw wrongType(source, key, "a string", v);
        }
        List<String> names = new ArrayList<>();
        for (E e : values) {
            String name = configName.apply(e);
            if (name.equals(v.textValue())) {
                return e;
            }
            names.add(name);
        }
        throw new SchedulerConfigException(source + ": " + key + " '" + v.textValue() + "' is not one of "
                + String.join(", ", names));
    }

    private static SchedulerConfigException wrongType(String source, String key, String expected, JsonNode v) {
        String shown = v.toString();
        if (shown.length() > 60) {
            shown = shown.substring(0, 57) + "...";
        }
        return new SchedulerConfigException(source + ": " + key + " must be " + expected + ", got " + shown);
    }

    private static String kind(JsonNode node) {
        return switch (node.getNodeType()) {
            case ARRAY -> "an array";
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case NULL -> "null";
            default -> node.getNodeType().toString().toLowerCase();
        };
    }

    static String write(SchedulerConfig c) {
        ObjectNode root = MAPPER.createObjectNode();
        root.put("_class_name", c.className());
        root.put("_diffusers_version", c.diffusersVersion());
        root.put("num_train_timesteps", c.numTrainTimesteps());
        root.put("beta_start", c.betaStart());
        root.put("beta_end", c.betaEnd());
        root.put("beta_schedule", c.betaSchedule().configName());
        double[] trained = c.trainedBetas();
        if (trained == null) {
            root.putNull("trained_betas");
        } else {
            ArrayNode array = root.putArray("trained_betas");
            for (double beta : trained) {
                array.add(beta);
            }
        }
        root.put("prediction_type", c.predictionType().configName());
        root.put("variance_type", c.varianceType().configName());
        root.put("clip_sample", c.clipSample());
        root.put("clip_sample_range", c.clipSampleRange());
        root.put("thresholding", c.thresholding());
        root.put("dynamic_thresholding_ratio", c.dynamicThresholdingRatio());
        root.put("sample_max_value", c.sampleMaxValue());
        root.put("timestep_spacing", c.timestepSpacing().configName());
        root.put("steps_offset", c.stepsOffset());
        root.put("set_alpha_to_one", c.setAlphaToOne());
        root.put("rescale_betas_zero_snr", c.rescaleBetasZeroSnr());
        c.extra().forEach((key, value) -> root.set(key, MAPPER.valueToTree(value)));
        try {
            return WRITER.writeValueAsString(root) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write scheduler config as JSON: " + e.getOriginalMessage(), e);
        }
    }

    static void writeAtomically(String text, Path file) throws IOException {
        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        Path tmp = Files.createTempFile(dir, "." + target.getFileName() + ".", ".tmp");
        try {
            Files.writeString(tmp, text, StandardCharsets.UTF_8);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
