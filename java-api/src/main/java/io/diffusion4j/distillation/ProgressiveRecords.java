package io.diffusion4j.distillation;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.diffusion4j.model.ModelSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Locale;

/**
 * What a progressive-distillation run writes about itself beside its students: the description of each student, the
 * metrics CSV, the run's {@code distillation} record in the final folder, and the round markers a resumed run reads
 * back (refusing a marker written with other settings).
 */
final class ProgressiveRecords {
    private final ProgressiveDistillation.Config config;

    ProgressiveRecords(ProgressiveDistillation.Config config) {
        this.config = config;
    }

    /** Says in the spec's description what the folder is (the teacher's description follows). */
    void describe(ObjectNode spec, String teacherLocation) {
        String prefix = "Progressive-distillation student of " + teacherLocation;
        String d = spec.path("description").asText("");
        if (!d.startsWith(prefix)) {
            GuidanceRange range = config.guidanceRange();
            spec.put("description", prefix + " (DDIM, trailing spacing; predicts "
                    + config.studentPrediction().configName() + (config.guidanceScale() > 0
                    ? "; classifier-free guidance scale " + config.guidanceScale() + " distilled in" : "")
                    + (range != null ? "; takes the guidance scale, trained for w in " + range : "")
                    + "). Teacher: " + d);
        }
    }

    /**
     * Replaces the final folder's {@code distillation} record (a copy of the last round's) by one for the whole run:
     * the settings, the original teacher, every round and the total seconds.
     */
    void writeRunRecord(Path out, String teacherLocation, List<ProgressiveDistillation.Round> rounds)
            throws IOException {
        Path specFile = out.resolve(ModelSpec.FILE_NAME);
        if (!Files.isRegularFile(specFile) || !(StudentFolder.JSON.readTree(Files.readString(specFile))
                instanceof ObjectNode spec)) {
            return;
        }
        ObjectNode record = config.toJson();
        record.put("teacher", teacherLocation);
        ArrayNode list = record.putArray("rounds");
        double seconds = 0;
        for (ProgressiveDistillation.Round r : rounds) {
            list.addObject().put("teacher_steps", r.teacherSteps()).put("student_steps", r.studentSteps())
                    .put("final_loss", r.finalLoss()).put("seconds", r.seconds());
            seconds += r.seconds();
        }
        record.put("seconds", Math.round(seconds * 10) / 10.0);
        record.put("trainer", StudentFolder.trainer());
        describe(spec, teacherLocation);
        spec.set("distillation", record);
        Path tmp = out.resolve(".tmp-" + ModelSpec.FILE_NAME);
        Files.writeString(tmp, StudentFolder.JSON.writeValueAsString(spec));
        Files.move(tmp, specFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * The round finished earlier in {@code dir}, or null when its marker is missing.
     *
     * @throws IllegalArgumentException if that round was distilled with other settings
     */
    ProgressiveDistillation.Round finished(Path dir, int teacherSteps, int n) throws IOException {
        Path marker = dir.resolve(StudentFolder.ROUND_FILE);
        if (!Files.isRegularFile(marker)) {
            return null;
        }
        JsonNode r = StudentFolder.JSON.readTree(Files.readString(marker));
        ObjectNode now = config.toJson();
        for (String key : List.of("steps_per_round", "batch_size", "learning_rate", "weighting", "seed",
                "student_prediction", "guidance_scale", "guidance_scale_min", "guidance_scale_max")) {
            if (!now.path(key).asText().equals(r.path(key).asText())) {
                throw new IllegalArgumentException(dir + " was distilled with " + key + " " + r.path(key)
                        + ", this run has " + now.path(key) + "; use another --out or the same settings to resume");
            }
        }
        return new ProgressiveDistillation.Round(r.path("teacher_steps").asInt(teacherSteps), n,
                r.path("steps_per_round").asLong(), r.path("final_loss").asDouble(), r.path("seconds").asDouble(),
                dir);
    }

    /** Appends a round's line to the metrics CSV (writing its header first). */
    static void appendMetrics(Path metrics, ProgressiveDistillation.Round r) throws IOException {
        if (!Files.exists(metrics)) {
            Files.writeString(metrics, ProgressiveDistillation.METRICS_HEADER + "\n");
        }
        Files.writeString(metrics, String.format(Locale.ROOT, "%d,%d,%d,%.6g,%.1f%n", r.teacherSteps(),
                r.studentSteps(), r.trainingSteps(), r.finalLoss(), r.seconds()), StandardOpenOption.APPEND);
    }
}
