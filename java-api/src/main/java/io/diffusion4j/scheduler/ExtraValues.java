package io.diffusion4j.scheduler;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The untyped keys of a {@link SchedulerConfig} ({@link SchedulerConfig#extra()}): their JSON-shaped normal form and
 * their typed reads, each refusing a value of the wrong type with a message that names the key.
 */
final class ExtraValues {
    private ExtraValues() {
    }

    static int asInt(String key, Object v, int defaultValue) {
        if (v == null) {
            return defaultValue;
        }
        if (v instanceof Integer i) {
            return i;
        }
        if (v instanceof Double d && d == Math.rint(d) && Math.abs(d) <= Integer.MAX_VALUE) {
            return (int) (double) d;
        }
        throw new IllegalArgumentException(key + " must be an integer, got " + describe(v));
    }

    static double asDouble(String key, Object v, double defaultValue) {
        if (v == null) {
            return defaultValue;
        }
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        throw new IllegalArgumentException(key + " must be a number, got " + describe(v));
    }

    static boolean asBoolean(String key, Object v, boolean defaultValue) {
        if (v == null) {
            return defaultValue;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        throw new IllegalArgumentException(key + " must be true or false, got " + describe(v));
    }

    static String asString(String key, Object v, String defaultValue) {
        if (v == null) {
            return defaultValue;
        }
        if (v instanceof String s) {
            return s;
        }
        throw new IllegalArgumentException(key + " must be a string, got " + describe(v));
    }

    private static String describe(Object v) {
        return v instanceof String s ? "\"" + s + "\"" : String.valueOf(v);
    }

    /**
     * Normalizes an extra value to the JSON-shaped types {@link SchedulerConfig#extra()} documents, copying lists and
     * maps into unmodifiable ones.
     */
    static Object normalize(String key, Object v) {
        if (v == null || v instanceof String || v instanceof Boolean || v instanceof Double) {
            return v;
        }
        if (v instanceof Integer || v instanceof Short || v instanceof Byte) {
            return ((Number) v).intValue();
        }
        if (v instanceof Long l) {
            return l == l.intValue() ? (Object) l.intValue() : l;
        }
        if (v instanceof BigInteger big) {
            if (big.bitLength() < 64) {
                return normalize(key, big.longValue());
            }
            return big.doubleValue();
        }
        if (v instanceof Float || v instanceof BigDecimal) {
            return ((Number) v).doubleValue();
        }
        if (v instanceof List<?> list) {
            List<Object> out = new ArrayList<>(list.size());
            for (Object item : list) {
                out.add(normalize(key, item));
            }
            return Collections.unmodifiableList(out);
        }
        if (v instanceof Map<?, ?> map) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : map.entrySet()) {
                if (!(e.getKey() instanceof String k)) {
                    throw new IllegalArgumentException(key + ": map keys must be strings, got " + e.getKey());
                }
                out.put(k, normalize(key, e.getValue()));
            }
            return Collections.unmodifiableMap(out);
        }
        throw new IllegalArgumentException(key + ": unsupported value type " + v.getClass().getName()
                + "; expected null, String, Boolean, a number, List or Map");
    }
}
