package io.diffusion4j.lint;

import java.util.Objects;

/**
 * One problem {@link ConfigCheck} found: how bad it is, the config key at its heart, and a one-line message that
 * says what goes wrong and how to fix it.
 *
 * @param severity how bad
 * @param key      the scheduler_config.json key (or option) to change, e.g. {@code clip_sample}
 * @param message  one line: the combination, its effect, and the fix
 */
public record Finding(Severity severity, String key, String message) {

    /** How bad a finding is. */
    public enum Severity {
        /** May cost quality or be a no-op the user did not intend; sampling goes on. */
        WARNING,
        /** Known to produce wrong images (or NaNs); {@code diffusion4j lint} exits 1. */
        ERROR;

        /** {@code warning} or {@code error}. */
        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public Finding {
        Objects.requireNonNull(severity, "severity");
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(message, "message");
        if (message.isBlank() || message.contains("\n")) {
            throw new IllegalArgumentException("a finding's message is one non-blank line, got '" + message + "'");
        }
    }

    /** {@code "warning: <message>"}: the line the CLI prints. */
    @Override
    public String toString() {
        return severity.label() + ": " + message;
    }
}
