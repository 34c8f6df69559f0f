package io.diffusion4j.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.image.ValueRange;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What {@code diffusion4j.json} says about a model: the per-sample shape, value range, forward signature,
 * timestep dtype and, for class-conditional models, the class count and the null (unconditional) class id.
 *
 * @param name            model name
 * @param kind            {@code denoiser} or {@code classifier}
 * @param sampleShape     shape of one sample, without the batch dimension
 * @param valueRange      range of the data (images), or null when the data is not an image
 * @param forwardSignature the forward's argument names in order, e.g. {@code [sample, timestep, class_labels]}
 * @param timestepDType   dtype the model takes timesteps in (int64 or float32), null for a classifier
 * @param numClasses      number of classes, 0 when unconditional
 * @param nullClassId     class id meaning "no class" (classifier-free guidance), -1 when none
 * @param distilledGuidanceScale the classifier-free guidance scale distilled into the model's conditional forward
 *                        ({@code distilled_guidance_scale}; it must not be guided again), 0 when none
 */
public record ModelSpec(String name, String kind, long[] sampleShape, ValueRange valueRange,
                        List<String> forwardSignature, DType timestepDType, int numClasses, int nullClassId,
                        double distilledGuidanceScale) {

    public static final String FILE_NAME = "diffusion4j.json";
    /** The key of {@link #distilledGuidanceScale()} in {@code diffusion4j.json}. */
    public static final String DISTILLED_GUIDANCE_KEY = "distilled_guidance_scale";

    /** A spec without distilled guidance. */
    public ModelSpec(String name, String kind, long[] sampleShape, ValueRange valueRange,
                     List<String> forwardSignature, DType timestepDType, int numClasses, int nullClassId) {
        this(name, kind, sampleShape, valueRange, forwardSignature, timestepDType, numClasses, nullClassId, 0);
    }
    private static final ObjectMapper JSON = new ObjectMapper();

    public ModelSpec {
        if (sampleShape == null || sampleShape.length == 0) {
            throw new IllegalArgumentException("sample_shape must name at least one dimension");
        }
        for (long d : sampleShape) {
            if (d < 1) {
                throw new IllegalArgumentException("sample_shape dimensions must be >= 1, got " + Arrays.toString(sampleShape));
            }
        }
        sampleShape = sampleShape.clone();
        forwardSignature = List.copyOf(forwardSignature);
        if (numClasses < 0) {
            throw new IllegalArgumentException("num_classes must be >= 0, got " + numClasses);
        }
        if (!(distilledGuidanceScale >= 0) || Double.isInfinite(distilledGuidanceScale)) {
            throw new IllegalArgumentException(DISTILLED_GUIDANCE_KEY + " must be a finite number >= 0, got "
                    + distilledGuidanceScale);
        }
    }

    @Override
    public long[] sampleShape() {
        return sampleShape.clone();
    }

    /** Whether the model takes class labels. */
    public boolean isConditional() {
        return forwardSignature.size() >= 3 && numClasses > 0;
    }

    /** {@code [batch, sampleShape...]}. */
    public long[] batchShape(int batch) {
        long[] s = new long[sampleShape.length + 1];
        s[0] = batch;
        System.arraycopy(sampleShape, 0, s, 1, sampleShape.length);
        return s;
    }

    /**
     * This spec as the text of a {@code diffusion4j.json} ({@code format_version} 1, the keys {@link #fromJson}
     * reads; a null timestep dtype is written as null: the scheduler's own applies).
     */
    public String toJson() {
        com.fasterxml.jackson.databind.node.ObjectNode n = JSON.createObjectNode();
        n.put("format_version", 1);
        n.put("name", name);
        n.put("kind", kind);
        com.fasterxml.jackson.databind.node.ArrayNode shape = n.putArray("sample_shape");
        for (long d : sampleShape) {
            shape.add(d);
        }
        if (valueRange == null) {
            n.putNull("value_range");
        } else {
            n.putArray("value_range").add(valueRange.min()).add(valueRange.max());
        }
        com.fasterxml.jackson.databind.node.ArrayNode sig = n.putArray("forward_signature");
        forwardSignature.forEach(sig::add);
        if (timestepDType == null) {
            n.putNull("timestep_dtype");
        } else {
            n.put("timestep_dtype", timestepDType.label());
        }
        if (numClasses > 0) {
            n.put("num_classes", numClasses);
        } else {
            n.putNull("num_classes");
        }
        if (nullClassId >= 0) {
            n.put("null_class_id", nullClassId);
        } else {
            n.putNull("null_class_id");
        }
        if (distilledGuidanceScale > 0) {
            n.put(DISTILLED_GUIDANCE_KEY, distilledGuidanceScale);
        }
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n";
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("cannot write JSON", e);
        }
    }

    /** Reads a {@code diffusion4j.json}; messages name the file and the field. */
    public static ModelSpec read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new ModelFolderException(file + ": file not found");
        }
        return fromJson(Files.readString(file), file.toString());
    }

    /** Parses the text of a {@code diffusion4j.json}; {@code source} names it in messages. */
    public static ModelSpec fromJson(String json, String source) throws ModelFolderException {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            String where = e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr() + ", column "
                    + e.getLocation().getColumnNr();
            throw new ModelFolderException(source + ": not valid JSON" + where, e);
        }
        try {
            return parse(root);
        } catch (IllegalArgumentException e) {
            throw new ModelFolderException(source + ": " + e.getMessage(), e);
        }
    }

    static ModelSpec parse(JsonNode root) {
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("expected a JSON object");
        }
        String name = text(root, "name", "model");
        String kind = text(root, "kind", "denoiser");
        JsonNode shapeNode = root.get("sample_shape");
        if (shapeNode == null || !shapeNode.isArray() || shapeNode.isEmpty()) {
            throw new IllegalArgumentException("sample_shape must be a non-empty array of integers, got " + shapeNode);
        }
        long[] shape = new long[shapeNode.size()];
        for (int i = 0; i < shape.length; i++) {
            if (!shapeNode.get(i).canConvertToLong() || !shapeNode.get(i).isIntegralNumber()) {
                throw new IllegalArgumentException("sample_shape must be an array of integers, got " + shapeNode);
            }
            shape[i] = shapeNode.get(i).asLong();
        }
        ValueRange range = null;
        JsonNode r = root.get("value_range");
        if (r != null && !r.isNull()) {
            if (!r.isArray() || r.size() != 2 || !r.get(0).isNumber() || !r.get(1).isNumber()) {
                throw new IllegalArgumentException("value_range must be [min, max] or null, got " + r);
            }
            range = new ValueRange(r.get(0).asDouble(), r.get(1).asDouble());
        }
        List<String> signature = new ArrayList<>();
        JsonNode sig = root.get("forward_signature");
        if (sig != null && !sig.isNull()) {
            if (!sig.isArray()) {
                throw new IllegalArgumentException("forward_signature must be an array of argument names, got " + sig);
            }
            sig.forEach(n -> signature.add(n.asText()));
        }
        DType tdtype = null;
        JsonNode td = root.get("timestep_dtype");
        if (td != null && !td.isNull()) {
            tdtype = DType.parse(td.asText());
            if (tdtype != DType.INT64 && tdtype != DType.FLOAT32 && tdtype != DType.INT32) {
                throw new IllegalArgumentException("timestep_dtype must be int64, int32 or float32, got " + td.asText());
            }
        }
        int numClasses = intOr(root, "num_classes", 0);
        int nullClass = intOr(root, "null_class_id", -1);
        if (numClasses > 0 && nullClass >= 0 && nullClass < numClasses) {
            throw new IllegalArgumentException("null_class_id " + nullClass + " collides with a real class (0.."
                    + (numClasses - 1) + ")");
        }
        double distilled = 0;
        JsonNode dg = root.get(DISTILLED_GUIDANCE_KEY);
        if (dg != null && !dg.isNull()) {
            if (!dg.isNumber()) {
                throw new IllegalArgumentException(DISTILLED_GUIDANCE_KEY + " must be a number or null, got " + dg);
            }
            distilled = dg.asDouble();
        }
        return new ModelSpec(name, kind, shape, range, signature, tdtype, numClasses, nullClass, distilled);
    }

    private static String text(JsonNode root, String key, String dflt) {
        JsonNode n = root.get(key);
        return n == null || n.isNull() ? dflt : n.asText();
    }

    private static int intOr(JsonNode root, String key, int dflt) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isIntegralNumber()) {
            throw new IllegalArgumentException(key + " must be an integer or null, got " + n);
        }
        return n.asInt();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ModelSpec m && name.equals(m.name) && kind.equals(m.kind)
                && Arrays.equals(sampleShape, m.sampleShape) && java.util.Objects.equals(valueRange, m.valueRange)
                && forwardSignature.equals(m.forwardSignature) && timestepDType == m.timestepDType
                && numClasses == m.numClasses && nullClassId == m.nullClassId
                && Double.compare(distilledGuidanceScale, m.distilledGuidanceScale) == 0;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(name, kind, Arrays.hashCode(sampleShape), valueRange, forwardSignature,
                timestepDType, numClasses, nullClassId, distilledGuidanceScale);
    }

    @Override
    public String toString() {
        return "ModelSpec[" + name + ", " + kind + ", sample_shape=" + Arrays.toString(sampleShape) + ", value_range="
                + valueRange + ", forward=" + forwardSignature + ", timestep_dtype="
                + (timestepDType == null ? null : timestepDType.label()) + ", num_classes=" + numClasses
                + ", null_class_id=" + nullClassId
                + (distilledGuidanceScale > 0 ? ", distilled_guidance_scale=" + distilledGuidanceScale : "") + "]";
    }
}
