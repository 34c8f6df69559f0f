package io.diffusion4j.training;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The settings of a run that live outside its {@link TrainingConfig} but shape it all the same (batch size, data
 * source and its content hash, threads, device, world size, how the model was made, ...), and the deliberate changes
 * made to them on resume. A caller (the CLI) decides the keys; {@link Trainer#saveTo} writes the record into every
 * checkpoint as {@value #FILE_NAME}, inside the same atomic write as the weights, and {@link Trainer#resume} reads it
 * back, so a checkpoint always carries the settings that produced it.
 *
 * <p>JSON: {@code {"format_version": 1, "settings": {"batch": "256", ...}, "overrides": [{"step": 40, "key":
 * "batch", "from": "256", "to": "128"}]}}. Values are strings as the user would type them.
 *
 * @param settings setting name ({@code [a-z0-9][a-z0-9_-]*}) to value; copied, sorted by name
 * @param changes  the deliberate changes of earlier resumes, oldest first
 */
public record RunRecord(Map<String, String> settings, List<Change> changes) {
    /** The file name inside a checkpoint folder. */
    public static final String FILE_NAME = "run.json";
    /** The format this version writes and reads. */
    public static final int FORMAT_VERSION = 1;
    private static final Pattern KEY = Pattern.compile("[a-z0-9][a-z0-9_-]*");

    /**
     * One deliberate change of a setting on resume.
     *
     * @param step the step the resumed run continued from
     * @param key  the setting
     * @param from its value before, or null if the checkpoint did not record it
     * @param to   its value from then on
     */
    public record Change(long step, String key, String from, String to) {
        public Change {
            if (step < 0 || key == null || !KEY.matcher(key).matches() || to == null) {
                throw new IllegalArgumentException("a run change needs step >= 0, a setting name and a new value, got "
                        + "step " + step + ", key " + key + ", to " + to);
            }
        }
    }

    public RunRecord {
        if (settings == null || changes == null) {
            throw new IllegalArgumentException("a run record needs settings and changes (may be empty), got "
                    + settings + " and " + changes);
        }
        TreeMap<String, String> copy = new TreeMap<>();
        for (Map.Entry<String, String> e : settings.entrySet()) {
            if (e.getKey() == null || !KEY.matcher(e.getKey()).matches() || e.getValue() == null) {
                throw new IllegalArgumentException("run settings need names like 'batch' and non-null values, got "
                        + e.getKey() + "=" + e.getValue());
            }
            copy.put(e.getKey(), e.getValue());
        }
        settings = Collections.unmodifiableSortedMap(copy);
        changes = List.copyOf(changes);
    }

    /** A record of {@code settings} with no changes yet. */
    public static RunRecord of(Map<String, String> settings) {
        return new RunRecord(settings, List.of());
    }

    /** The value of {@code key}, or null if not recorded. */
    public String get(String key) {
        return settings.get(key);
    }

    /** This record with {@code settings} replacing the old ones and {@code more} changes appended. */
    public RunRecord next(Map<String, String> newSettings, List<Change> more) {
        List<Change> all = new ArrayList<>(changes);
        all.addAll(more);
        return new RunRecord(newSettings, all);
    }

    /** The record as {@value #FILE_NAME}'s JSON. */
    public String toJson() {
        ObjectNode n = SpecJson.JSON.createObjectNode();
        n.put("format_version", FORMAT_VERSION);
        ObjectNode s = n.putObject("settings");
        settings.forEach(s::put);
        ArrayNode c = n.putArray("overrides");
        for (Change ch : changes) {
            ObjectNode o = c.addObject();
            o.put("step", ch.step());
            o.put("key", ch.key());
            if (ch.from() == null) {
                o.putNull("from");
            } else {
                o.put("from", ch.from());
            }
            o.put("to", ch.to());
        }
        return SpecJson.toString(n);
    }

    /**
     * Parses {@link #toJson()} output.
     *
     * @throws IllegalArgumentException if it is not a run record, or one of a newer format
     */
    public static RunRecord fromJson(String json) {
        JsonNode root;
        try {
            root = SpecJson.JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("a run record must be a JSON object, got " + json.strip());
        }
        JsonNode version = root.get("format_version");
        if (version == null || !version.canConvertToInt() || version.asInt() < 1) {
            throw new IllegalArgumentException("format_version must be an integer >= 1, got " + version);
        }
        if (version.asInt() > FORMAT_VERSION) {
            throw new IllegalArgumentException("format_version " + version.asInt() + " is newer than this diffusion4j "
                    + "reads (" + FORMAT_VERSION + "); resume with a newer diffusion4j");
        }
        JsonNode s = root.get("settings");
        if (s == null || !s.isObject()) {
            throw new IllegalArgumentException("settings must be an object, got " + s);
        }
        TreeMap<String, String> settings = new TreeMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = s.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isValueNode() || e.getValue().isNull()) {
                throw new IllegalArgumentException("setting " + e.getKey() + " must be a value, got " + e.getValue());
            }
            settings.put(e.getKey(), e.getValue().asText());
        }
        List<Change> changes = new ArrayList<>();
        JsonNode c = root.get("overrides");
        if (c != null && !c.isNull()) {
            if (!c.isArray()) {
                throw new IllegalArgumentException("overrides must be an array, got " + c);
            }
            for (JsonNode o : c) {
                JsonNode from = o.get("from");
                changes.add(new Change(o.path("step").asLong(-1), o.path("key").asText(null),
                        from == null || from.isNull() ? null : from.asText(), o.path("to").asText(null)));
            }
        }
        return new RunRecord(settings, changes);
    }
}
