package io.diffusion4j.model.nn;

import io.diffusion4j.bindings.Generator;
import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TorchScriptModule;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Re-initialises a network's parameters with PyTorch's default initialisation for the role of each parameter,
 * seeded: Linear and Conv weights {@code kaiming_uniform_(a = sqrt(5))}, i.e. {@code U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in))}; their biases {@code U(-1/sqrt(fan_in), 1/sqrt(fan_in))} with the fan-in of their weight; norm
 * weights 1 and biases 0; embeddings {@code N(0, 1)}. The draws come from one CPU generator seeded with
 * {@code seed}, parameter by parameter in module order, so the same seed gives the same weights.
 */
public final class Initializers {
    private Initializers() {
    }

    /** What a parameter is, which decides its initialisation. */
    public enum Role { WEIGHT, BIAS, NORM_WEIGHT, NORM_BIAS, EMBEDDING }

    /**
     * Re-initialises every parameter of {@code model} (a TorchScript module or a Java-built network) from
     * {@code seed}; see the class comment for the rules.
     *
     * @throws IllegalArgumentException naming a parameter whose role cannot be decided
     */
    public static void reinit(io.diffusion4j.model.TrainableModel model, long seed) {
        try (io.diffusion4j.bindings.NativeScope scope = new io.diffusion4j.bindings.NativeScope()) {
            LinkedHashMap<String, Tensor> named = model.namedParameters();
            TorchScriptModule ts = io.diffusion4j.model.TrainableModel.torchScriptModule(model);
            Map<String, Role> roles = ts != null ? roles(ts, named)
                    : model instanceof NetDenoiser n ? roles(n.network()) : null;
            if (roles == null) {
                throw new IllegalArgumentException("cannot tell the parameter roles of " + model.source());
            }
            reinit(named, roles, seed);
            if (model instanceof NetDenoiser n) {
                n.zeroInitialise();
            }
        }
    }

    /** {@link #reinit(io.diffusion4j.model.TrainableModel, long)} for a TorchScript module. */
    public static void reinit(TorchScriptModule module, long seed) {
        try (io.diffusion4j.bindings.NativeScope scope = new io.diffusion4j.bindings.NativeScope()) {
            LinkedHashMap<String, Tensor> named = module.namedParameters();
            reinit(named, roles(module, named), seed);
        }
    }

    /** The roles of a Java-built network's parameters, from its layer kinds. */
    public static Map<String, Role> roles(NnModule net) {
        Map<String, Role> out = new LinkedHashMap<>();
        for (NnModule.Layer l : net.layers().values()) {
            switch (l.kind()) {
                case LINEAR, CONV2D -> {
                    out.put(l.path() + ".weight", Role.WEIGHT);
                    out.put(l.path() + ".bias", Role.BIAS);
                }
                case GROUP_NORM -> {
                    out.put(l.path() + ".weight", Role.NORM_WEIGHT);
                    out.put(l.path() + ".bias", Role.NORM_BIAS);
                }
                case EMBEDDING -> out.put(l.path() + ".weight", Role.EMBEDDING);
            }
        }
        return out;
    }

    /**
     * The roles of a TorchScript module's parameters: from the class of the submodule that owns each one
     * ({@code torch.nn} Linear, Conv*, *Norm, Embedding), else from the name and shape (a {@code weight} of 2 or more
     * dimensions is a Linear/Conv weight, a 1-d {@code weight} a norm weight, a {@code bias} goes with its weight).
     *
     * @throws IllegalArgumentException naming a parameter whose role cannot be decided
     */
    public static Map<String, Role> roles(TorchScriptModule module, Map<String, Tensor> named) {
        Map<String, String> types = module.submoduleTypes();
        Map<String, Role> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : named.entrySet()) {
            String name = e.getKey();
            int dot = name.lastIndexOf('.');
            String owner = dot < 0 ? "" : name.substring(0, dot);
            String leaf = name.substring(dot + 1);
            String type = types.getOrDefault(owner, "");
            boolean weight = leaf.equals("weight");
            boolean bias = leaf.equals("bias");
            if (!weight && !bias) {
                throw new IllegalArgumentException("cannot re-initialise parameter '" + name + "' of "
                        + module.source() + ": only 'weight' and 'bias' parameters of layers have a known default");
            }
            Role r;
            if (type.contains("Embedding")) {
                r = Role.EMBEDDING;
            } else if (type.contains("Norm")) {
                r = weight ? Role.NORM_WEIGHT : Role.NORM_BIAS;
            } else if (type.contains("Linear") || type.contains("Conv")) {
                r = weight ? Role.WEIGHT : Role.BIAS;
            } else if (weight) {
                r = e.getValue().dim() >= 2 ? Role.WEIGHT : Role.NORM_WEIGHT;
            } else {
                Tensor w = named.get(owner.isEmpty() ? "weight" : owner + ".weight");
                r = w != null && w.dim() >= 2 ? Role.BIAS : Role.NORM_BIAS;
            }
            out.put(name, r);
        }
        return out;
    }

    /**
     * Overwrites every parameter of {@code named} by its role's default initialisation, drawing from a generator
     * seeded with {@code seed}.
     *
     * @throws IllegalArgumentException if a parameter has no role, or a bias has no weight to take its fan-in from
     */
    public static void reinit(LinkedHashMap<String, Tensor> named, Map<String, Role> roles, long seed) {
        try (Generator g = Generator.cpu(seed)) {
            for (Map.Entry<String, Tensor> e : named.entrySet()) {
                String name = e.getKey();
                Tensor p = e.getValue();
                Role r = roles.get(name);
                if (r == null) {
                    throw new IllegalArgumentException("no initialisation role for parameter '" + name + "'");
                }
                switch (r) {
                    case WEIGHT -> {
                        double bound = 1.0 / Math.sqrt(fanIn(p, name));
                        p.uniformInPlace(g, -bound, bound);
                    }
                    case BIAS -> {
                        int dot = name.lastIndexOf('.');
                        String wn = (dot < 0 ? "" : name.substring(0, dot + 1)) + "weight";
                        Tensor w = named.get(wn);
                        if (w == null || w.dim() < 2) {
                            throw new IllegalArgumentException("bias '" + name + "' has no weight '" + wn
                                    + "' to take its fan-in from");
                        }
                        double bound = 1.0 / Math.sqrt(fanIn(w, wn));
                        p.uniformInPlace(g, -bound, bound);
                    }
                    case NORM_WEIGHT -> p.fillInPlace(1.0);
                    case NORM_BIAS -> p.fillInPlace(0.0);
                    case EMBEDDING -> p.normalInPlace(g, 0.0, 1.0);
                }
            }
        }
    }

    /** {@code shape[1] * prod(shape[2:])}, PyTorch's {@code _calculate_fan_in_and_fan_out}. */
    static long fanIn(Tensor w, String name) {
        long[] s = w.shape();
        if (s.length < 2) {
            throw new IllegalArgumentException("weight '" + name + "' of shape " + java.util.Arrays.toString(s)
                    + " has no fan-in (needs 2 or more dimensions)");
        }
        long f = s[1];
        for (int i = 2; i < s.length; i++) {
            f *= s[i];
        }
        return f;
    }
}
