package io.diffusion4j.model.nn;

import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import java.io.IOException;
import java.nio.file.Path;

/** Builds the Java denoiser networks of an {@link Architecture}. */
public final class Networks {
    private Networks() {
    }

    /** A new network with LibTorch's default initialisation (not seeded: see {@link #build(Architecture, Device, long)}). */
    public static NetDenoiser build(Architecture architecture, Device device) {
        return switch (architecture.type()) {
            case MLP -> new MlpDenoiser(architecture, device);
            case UNET -> new UNetDenoiser(architecture, device);
        };
    }

    /** A new network whose parameters are initialised by {@link Initializers} from {@code seed} (reproducible). */
    public static NetDenoiser build(Architecture architecture, Device device, long seed) {
        NetDenoiser n = build(architecture, device);
        try (NativeScope scope = new NativeScope()) {
            Initializers.reinit(n.namedParameters(), Initializers.roles(n.network()), seed);
        } catch (RuntimeException e) {
            n.close();
            throw e;
        }
        return n;
    }

    /** A network of {@code architecture} with the weights of a state-dict file. */
    public static NetDenoiser load(Architecture architecture, Path weights, Device device) throws IOException {
        NetDenoiser n = build(architecture, device);
        try {
            n.loadWeights(weights);
            return n;
        } catch (IOException | RuntimeException e) {
            n.close();
            throw e;
        }
    }

}
