package io.diffusion4j.bindings;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Element types that diffusion4j reads, writes and computes in. */
public enum DType {
    FLOAT32("float32", ScalarType.Float, true),
    FLOAT64("float64", ScalarType.Double, true),
    FLOAT16("float16", ScalarType.Half, true),
    BFLOAT16("bfloat16", ScalarType.BFloat16, true),
    INT64("int64", ScalarType.Long, false),
    INT32("int32", ScalarType.Int, false),
    INT16("int16", ScalarType.Short, false),
    INT8("int8", ScalarType.Char, false),
    UINT8("uint8", ScalarType.Byte, false),
    BOOL("bool", ScalarType.Bool, false);

    private final String label;
    private final ScalarType scalarType;
    private final boolean floatingPoint;

    DType(String label, ScalarType scalarType, boolean floatingPoint) {
        this.label = label;
        this.scalarType = scalarType;
        this.floatingPoint = floatingPoint;
    }

    /** The name PyTorch prints, e.g. {@code float32}. */
    public String label() {
        return label;
    }

    public boolean isFloatingPoint() {
        return floatingPoint;
    }

    ScalarType scalarType() {
        return scalarType;
    }

    /**
     * Parses a PyTorch-style name: {@code float32}/{@code float}/{@code fp32}, {@code float16}/{@code half},
     * {@code bfloat16}/{@code bf16}, {@code float64}/{@code double}, {@code int64}/{@code long}, ...
     */
    public static DType parse(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT).replace("torch.", "");
        switch (n) {
            case "float32": case "float": case "fp32": return FLOAT32;
            case "float64": case "double": case "fp64": return FLOAT64;
            case "float16": case "half": case "fp16": return FLOAT16;
            case "bfloat16": case "bf16": return BFLOAT16;
            case "int64": case "long": return INT64;
            case "int32": case "int": return INT32;
            case "int16": case "short": return INT16;
            case "int8": return INT8;
            case "uint8": case "byte": return UINT8;
            case "bool": return BOOL;
            default:
                throw new IllegalArgumentException("unknown dtype '" + name + "'; expected one of "
                        + Arrays.stream(values()).map(DType::label).collect(Collectors.joining(", ")));
        }
    }

    static DType of(ScalarType t) {
        for (DType d : values()) {
            if (d.scalarType.value == t.value) {
                return d;
            }
        }
        throw new NativeOperationException("tensor has dtype " + t + ", which diffusion4j does not handle");
    }
}
