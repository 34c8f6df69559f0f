package io.diffusion4j.cli;

import io.diffusion4j.image.ValueRange;

/** The {@code --value-range MIN,MAX} option's parser. */
final class ValueRanges {
    private ValueRanges() {
    }

    /** {@code MIN,MAX} with MIN < MAX; null for null. */
    static ValueRange parse(String option, String value) {
        if (value == null) {
            return null;
        }
        String[] parts = value.split(",");
        try {
            if (parts.length == 2) {
                return new ValueRange(Double.parseDouble(parts[0].trim()), Double.parseDouble(parts[1].trim()));
            }
        } catch (IllegalArgumentException e) {
            // reported below (NumberFormatException, or min >= max from ValueRange)
        }
        throw new UsageException(option + " must be MIN,MAX with MIN < MAX, e.g. -1,1 or 0,1, got " + value);
    }
}
