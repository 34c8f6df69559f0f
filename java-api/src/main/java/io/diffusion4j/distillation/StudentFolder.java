package io.diffusion4j.distillation;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.model.TrainableModel;
import io.diffusion4j.models.BuiltinModels;
import io.diffusion4j.scheduler.SchedulerConfig;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Writes a distilled student as an ordinary model folder ({@code model.pt} or {@code weights.pt},
 * {@code scheduler_config.json} that selects its sampler and step count, {@code diffusion4j.json} with a
 * {@code distillation} record), into a temporary sibling first and then renamed into place, so an interrupted run
 * never leaves a half-written folder under the final name.
 */
final class StudentFolder {
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** The {@code trainer} entry of a distillation record. */
    static String trainer() {
        return "diffusion4j (LibTorch " + Torch.libtorchVersion() + ")";
    }
    /** The file that marks a completed round (written last). */
    static final String ROUND_FILE = "distillation_round.json";

    private StudentFolder() {
    }

    /** The raw {@code diffusion4j.json} of a folder, or null when it has none. */
    static ObjectNode specJson(ModelFolder folder) throws IOException {
        String text;
        String loc = folder.location();
        if (loc.startsWith("builtin:")) {
            String res = BuiltinModels.ROOT + loc.substring("builtin:".length()) + "/" + ModelSpec.FILE_NAME;
            try (InputStream in = StudentFolder.class.getClassLoader().getResourceAsStream(res)) {
                text = in == null ? null : new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
        } else {
            Path f = Path.of(loc).resolve(ModelSpec.FILE_NAME);
            text = Files.isRegularFile(f) ? Files.readString(f) : null;
        }
        if (text == null) {
            return null;
        }
        JsonNode n = JSON.readTree(text);
        return n instanceof ObjectNode o ? o : null;
    }

    /**
     * Writes {@code student} (eval mode, frozen while saved) with {@code scheduler} and the source spec plus
     * {@code record} under {@code key}, to {@code target}, atomically; {@code extra} (a file name and its text) is
     * written last.
     */
    static void write(Path target, TrainableModel student, SchedulerConfig scheduler, ObjectNode sourceSpec,
                      String name, String key, ObjectNode record, String extraName, String extraText)
            throws IOException {
        Path parent = target.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempDirectory(parent, ".tmp-" + target.getFileName() + "-");
        try {
            boolean wasTraining = student.isTraining();
            student.train(false);
            List<Boolean> grads = new ArrayList<>();
            try (NativeScope scope = new NativeScope()) {
                List<Tensor> params = student.parameters();
                try {
                    for (Tensor p : params) {
                        grads.add(p.requiresGrad());
                        p.requiresGrad(false);
                    }
                    student.exportTo(tmp);
                } finally {
                    for (int i = 0; i < grads.size(); i++) {
                        params.get(i).requiresGrad(grads.get(i));
                    }
                    student.train(wasTraining);
                }
            }
            scheduler.write(tmp.resolve(ModelFolder.SCHEDULER_FILE));
            if (sourceSpec != null) {
                ObjectNode spec = sourceSpec.deepCopy();
                spec.put("name", name);
                spec.remove("training");
                if (student.architecture() != null) {
                    spec.set("architecture", JSON.readTree(student.architecture().toJson()));
                }
                spec.set(key, record);
                Files.writeString(tmp.resolve(ModelSpec.FILE_NAME), JSON.writeValueAsString(spec));
            }
            if (extraName != null) {
                Files.writeString(tmp.resolve(extraName), extraText);
            }
            if (Files.exists(target)) {
                deleteTree(target);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            deleteTree(tmp);
            throw e;
        }
    }

    /** Copies the model files of {@code from} (not its round marker) into {@code to}, replacing what is there. */
    static void copyModel(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(from)) {
            for (Path f : ds) {
                if (Files.isRegularFile(f) && !f.getFileName().toString().equals(ROUND_FILE)) {
                    Path tmp = to.resolve(".tmp-" + f.getFileName());
                    Files.copy(f, tmp, StandardCopyOption.REPLACE_EXISTING);
                    Files.move(tmp, to.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING,
                            StandardCopyOption.ATOMIC_MOVE);
                }
            }
        }
    }

    static void deleteTree(Path p) throws IOException {
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
