package io.diffusion4j.bindings;

import java.util.List;
import java.util.StringJoiner;
import org.bytedeco.pytorch.IValue;

/** Java values to TorchScript inputs ({@link IValue}s), and their description in error messages. */
final class ModuleInputs {
    private ModuleInputs() {
    }

    /** A tensor, integer ({@code Long}/{@code Integer}/{@code Short}), float ({@code Double}/{@code Float}) or boolean. */
    static IValue toIValue(Object x) {
        if (x instanceof Tensor t) {
            return new IValue(t.unwrap());
        } else if (x instanceof Long || x instanceof Integer || x instanceof Short) {
            return new IValue(((Number) x).longValue());
        } else if (x instanceof Double || x instanceof Float) {
            return new IValue(((Number) x).doubleValue());
        } else if (x instanceof Boolean b) {
            return new IValue(b.booleanValue());
        }
        throw new IllegalArgumentException("forward input of type "
                + (x == null ? "null" : x.getClass().getName()) + " is not supported; pass a Tensor, integer, "
                + "float or boolean");
    }

    /** {@code name: [shape] dtype device, ...}, argument names where known. */
    static String describe(Object[] inputs, List<TorchScriptModule.Argument> arguments) {
        StringJoiner j = new StringJoiner(", ");
        for (int i = 0; i < inputs.length; i++) {
            String name = i < arguments.size() ? arguments.get(i).name() + ": " : "";
            Object x = inputs[i];
            j.add(name + (x instanceof Tensor t ? t.describe() : String.valueOf(x)));
        }
        return j.toString();
    }
}
