package io.diffusion4j.model.nn;

import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;

/** Builds the Java denoiser networks of an {@link Architecture}. */
public final class Networks {
    private Networks() {
    }

    /** A new network with LibTorch's default initialisation (not seeded: see {@link #build(Architecture, Device, long)}). */
    public static NetDenoiser build(Architecture architecture, Device device) {
        NetDenoiser n = switch (architecture.type()) {
            case MLP -> new MlpDenoiser(architecture, device);
            case UNET -> new UNetDenoiser(architecture, device);
        };
        n.zeroInitialise();
        return n;
    }

    /** A new network whose parameters are initialised by {@link Initializers} from {@code seed} (reproducible). */
    public static NetDenoiser build(Architecture architecture, Device device, long seed) {
        NetDenoiser n = build(architecture, device);
        try (NativeScope scope = new NativeScope()) {
            Initializers.reinit(n.namedParameters(), Initializers.roles(n.network()), seed);
            n.zeroInitialise();
        } catch (RuntimeException e) {
            n.close();
            throw e;
        }
        return n;
    }

    /**
     * The initial student of guidance distillation (Meng et al. 2023) for a class-conditional UNet {@code teacher}:
     * the same architecture with a guidance embedding ({@link Architecture#guidanceEmbedding()}), every parameter the
     * teacher has copied from it, the new {@code w_mlp.0} initialised from {@code seed} and {@code w_mlp.2} at zero,
     * so the student's prediction equals the teacher's conditional prediction at every guidance scale until trained.
     * On the teacher's device; the caller owns both.
     *
     * @throws IllegalArgumentException if the teacher is not a class-conditional UNet, or already takes a guidance
     *                                  scale
     */
    public static NetDenoiser guidanceStudent(NetDenoiser teacher, long seed) {
        Architecture a = teacher.architecture();
        if (a.guidanceEmbedding()) {
            throw new IllegalArgumentException(teacher.source() + " already takes a guidance scale "
                    + "(guidance_embedding true): use it as the student itself");
        }
        if (a.type() != Architecture.Type.UNET || !a.isConditional()) {
            throw new IllegalArgumentException("a guidance student needs a class-conditional unet teacher (a null "
                    + "class for classifier-free guidance), got " + a);
        }
        NetDenoiser s = build(a.withGuidanceEmbedding(true), teacher.device(), seed);
        try (NativeScope scope = new NativeScope()) {
            LinkedHashMap<String, Tensor> values = teacher.namedParameters();
            s.namedParameters().forEach((name, p) -> {
                if (name.startsWith(UNetDenoiser.GUIDANCE_MLP + ".")) {
                    values.put(name, p);
                }
            });
            s.network().loadTensors(values, teacher.source());
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
        return s;
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
