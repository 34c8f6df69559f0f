package io.diffusion4j.tuning;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.scheduler.SchedulerConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Writes a learned schedule as a model folder: the source's model files, a {@code scheduler_config.json} that selects
 * the tuned solver with the learned {@code timesteps} (so {@code sample} runs them by default), and
 * {@code schedule_tuning.json}, how they were found. Written into a temporary sibling first and then renamed into
 * place, so an interrupted run never leaves a half-written folder under the final name.
 */
public final class TunedFolder {
    /** The record of how the schedule was learned. */
    public static final String RECORD_FILE = "schedule_tuning.json";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private TunedFolder() {
    }

    /** The config to write: the solver's, with the learned list and without a step count of its own. */
    public static SchedulerConfig schedulerConfig(SchedulerConfig solverConfig, long[] timesteps) {
        return solverConfig.toBuilder().removeExtra("num_inference_steps").build().withTimesteps(timesteps);
    }

    /**
     * Writes the folder.
     *
     * @param source      the model the schedule was learned for
     * @param target      the folder to write (replaced if it exists)
     * @param solver      the solver's config (its {@code _class_name} and options)
     * @param solverName  the solver's name (as {@code sample --scheduler} takes it)
     * @param config      the tuning settings
     * @param result      the learned schedule
     */
    public static void write(ModelFolder source, Path target, SchedulerConfig solver, String solverName,
                             ScheduleTuner.Config config, ScheduleTuner.Result result) throws IOException {
        Path parent = target.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempDirectory(parent, ".tmp-" + target.getFileName() + "-");
        try {
            source.copyModelFilesTo(tmp);
            schedulerConfig(solver, result.timesteps()).write(tmp.resolve(ModelFolder.SCHEDULER_FILE));
            ObjectNode r = JSON.createObjectNode();
            r.put("method", "coordinate descent over integer timesteps, minimising the mean squared distance to "
                    + "the end points of DDIM-" + config.referenceSteps() + " trajectories from the same noises");
            r.put("source", source.location());
            r.put("scheduler", solverName);
            r.put("steps", result.timesteps().length);
            r.set("timesteps", JSON.valueToTree(result.timesteps()));
            r.set("default_timesteps", JSON.valueToTree(result.initial()));
            r.put("error", result.error());
            r.put("default_error", result.initialError());
            r.put("calibration_size", config.calibrationSize());
            r.put("calibration_seed", config.seed());
            r.put("reference_steps", config.referenceSteps());
            if (config.classLabels() != null) {
                r.set("class_labels", JSON.valueToTree(config.classLabels()));
            }
            r.put("guidance_scale", config.guidanceScale());
            r.put("evaluations", result.evaluations());
            r.put("seconds", Math.round(result.seconds() * 10) / 10.0);
            Files.writeString(tmp.resolve(RECORD_FILE), JSON.writeValueAsString(r));
            if (Files.exists(target)) {
                deleteTree(target);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            deleteTree(tmp);
            throw e;
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (p == null || !Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }
}
