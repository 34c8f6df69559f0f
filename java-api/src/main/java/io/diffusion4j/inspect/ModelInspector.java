package io.diffusion4j.inspect;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.InferenceGuard;
import io.diffusion4j.bindings.NativeOperationException;
import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.Torch;
import io.diffusion4j.bindings.TorchScriptModule;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds out by calling it what a TorchScript denoiser takes: its forward's arguments, whether it takes class labels
 * (and how many ids), its output shape for a sample shape, and which timestep dtypes it accepts. What a model folder
 * without {@code diffusion4j.json} needs to be used like one with it.
 */
public final class ModelInspector {
    /** The batch size of the probes. */
    static final int PROBE_BATCH = 2;
    /** The largest class-id count probed. */
    static final int MAX_CLASS_IDS = 1 << 20;

    private ModelInspector() {
    }

    /**
     * Probes {@code module} (left in eval mode without gradients on its parameters) with zero samples of
     * {@code sampleShape} (no batch dimension; null probes the signature only).
     */
    public static Inspection inspect(TorchScriptModule module, long[] sampleShape) {
        List<TorchScriptModule.Argument> args = module.forwardArguments();
        boolean labels = args.size() == 3;
        if (sampleShape == null) {
            return new Inspection(args, labels, null, null, List.of(), false, 0, null);
        }
        if (args.size() != 2 && args.size() != 3) {
            return new Inspection(args, labels, sampleShape, null, List.of(), false, 0, "forward must take (sample, "
                    + "timestep) or (sample, timestep, class_labels), found " + args);
        }
        module.train(false);
        try (NativeScope scope = new NativeScope()) {
            for (Tensor p : module.parameters()) {
                p.requiresGrad(false);
            }
        }
        long[] batch = new long[sampleShape.length + 1];
        batch[0] = PROBE_BATCH;
        System.arraycopy(sampleShape, 0, batch, 1, sampleShape.length);
        List<DType> accepted = new ArrayList<>();
        long[] outShape = null;
        String failure = null;
        boolean fractional = false;
        int classIds = 0;
        try (InferenceGuard inference = Torch.inferenceMode(); NativeScope scope = new NativeScope()) {
            Tensor x = Tensor.zeros(DType.FLOAT32, module.device(), batch);
            for (DType td : List.of(DType.INT64, DType.FLOAT32)) {
                try (NativeScope call = new NativeScope()) {
                    Tensor out = call(module, x, Tensor.full(500, td, module.device(), PROBE_BATCH), labels ? 0 : -1);
                    accepted.add(td);
                    outShape = out.shape();
                } catch (NativeOperationException | IllegalArgumentException e) {
                    failure = firstLine(e);
                }
            }
            if (!accepted.isEmpty()) {
                failure = null;
            }
            if (accepted.contains(DType.FLOAT32)) {
                try (NativeScope call = new NativeScope()) {
                    Tensor a = call(module, x, Tensor.full(500, DType.FLOAT32, module.device(), PROBE_BATCH),
                            labels ? 0 : -1);
                    Tensor b = call(module, x, Tensor.full(500.25, DType.FLOAT32, module.device(), PROBE_BATCH),
                            labels ? 0 : -1);
                    for (float d : a.sub(b).abs().toFloatArray()) {
                        fractional |= d > 0;
                    }
                }
            }
            if (labels && !accepted.isEmpty()) {
                classIds = classIds(module, x, accepted.get(0));
            }
        }
        return new Inspection(args, labels, sampleShape, outShape, accepted, fractional, classIds, failure);
    }

    /** The number of class ids the forward accepts: the first failing id, found by doubling then bisection. */
    private static int classIds(TorchScriptModule module, Tensor x, DType td) {
        if (!accepts(module, x, td, 0)) {
            return 0;
        }
        int ok = 0;
        int bad = 1;
        while (bad < MAX_CLASS_IDS && accepts(module, x, td, bad)) {
            ok = bad;
            bad *= 2;
        }
        if (bad >= MAX_CLASS_IDS && accepts(module, x, td, bad)) {
            return MAX_CLASS_IDS;
        }
        while (bad - ok > 1) {
            int mid = (ok + bad) >>> 1;
            if (accepts(module, x, td, mid)) {
                ok = mid;
            } else {
                bad = mid;
            }
        }
        return ok + 1;
    }

    private static boolean accepts(TorchScriptModule module, Tensor x, DType td, int label) {
        try (NativeScope call = new NativeScope()) {
            call(module, x, Tensor.full(500, td, module.device(), PROBE_BATCH), label);
            return true;
        } catch (NativeOperationException e) {
            return false;
        }
    }

    private static Tensor call(TorchScriptModule module, Tensor x, Tensor t, int label) {
        if (label < 0) {
            return module.forward(x, t);
        }
        return module.forward(x, t, Tensor.full(label, DType.INT64, module.device(), PROBE_BATCH));
    }

    private static String firstLine(Exception e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.lines().findFirst().orElse(m);
    }
}
