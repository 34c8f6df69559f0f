package io.diffusion4j.training;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.diffusion4j.model.ModelSpec;

/** Writes a {@link ModelSpec} as {@code diffusion4j.json} (the keys {@code ModelSpec.fromJson} reads). */
final class SpecJson {
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private SpecJson() {
    }

    /** The spec's JSON, plus a {@code training} object (may be null) recording how the weights were made. */
    static String write(ModelSpec spec, ObjectNode training) {
        return write(spec, null, training);
    }

    /** As {@link #write(ModelSpec, ObjectNode)}, plus the {@code architecture} of a Java-built model. */
    static String write(ModelSpec spec, io.diffusion4j.model.TrainableModel model, ObjectNode training) {
        ObjectNode n = JSON.createObjectNode();
        n.put("format_version", 1);
        n.put("name", spec.name());
        n.put("kind", spec.kind());
        ArrayNode shape = n.putArray("sample_shape");
        for (long d : spec.sampleShape()) {
            shape.add(d);
        }
        if (spec.valueRange() == null) {
            n.putNull("value_range");
        } else {
            n.putArray("value_range").add(spec.valueRange().min()).add(spec.valueRange().max());
        }
        ArrayNode sig = n.putArray("forward_signature");
        spec.forwardSignature().forEach(sig::add);
        if (spec.timestepDType() == null) {
            n.putNull("timestep_dtype");
        } else {
            n.put("timestep_dtype", spec.timestepDType().label());
        }
        if (spec.numClasses() > 0) {
            n.put("num_classes", spec.numClasses());
        } else {
            n.putNull("num_classes");
        }
        if (spec.nullClassId() >= 0) {
            n.put("null_class_id", spec.nullClassId());
        } else {
            n.putNull("null_class_id");
        }
        if (model != null && model.architecture() != null) {
            try {
                n.set("architecture", JSON.readTree(model.architecture().toJson()));
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("cannot write JSON", e);
            }
        }
        if (training != null) {
            n.set("training", training);
        }
        return toString(n);
    }

    static String toString(ObjectNode n) {
        try {
            return JSON.writeValueAsString(n);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write JSON", e);
        }
    }
}
