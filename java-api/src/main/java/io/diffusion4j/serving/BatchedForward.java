package io.diffusion4j.serving;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.model.Denoiser;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The engine's one model call per step: the inputs, timesteps and labels of every active row in one batch (guided
 * rows twice, conditional and unconditional), the forward, and classifier-free guidance for the guided rows. A
 * guidance-distilled model ({@link Denoiser#takesGuidanceScale()}) runs every row once with its guidance scale as an
 * input instead (as {@link io.diffusion4j.model.GuidedDenoiser} samples it). Knows no queue, scheduler or threads;
 * runs in the caller's native scope.
 */
final class BatchedForward {
    private final Denoiser denoiser;

    BatchedForward(Denoiser denoiser) {
        this.denoiser = denoiser;
    }

    /**
     * One model call for {@code rows}: the guided rows' samples with their labels, then the other rows' samples, then
     * the guided rows' samples again with the null class; guidance is applied to all guided rows at once (a per-row
     * scale tensor when their scales differ). Returns each row's prediction, in float32, in the caller's scope.
     */
    Map<Row, Tensor> apply(List<Row> rows) {
        if (denoiser.takesGuidanceScale()) {
            return applyWithScales(rows);
        }
        List<Row> ordered = new ArrayList<>(rows.size());
        int guidedSamples = 0;
        boolean oneScale = true;
        double scale = Double.NaN;
        for (Row r : rows) {
            if (r.guided) {
                ordered.add(r);
                guidedSamples += r.batch;
                oneScale &= Double.isNaN(scale) || scale == r.guidance;
                scale = r.guidance;
            }
        }
        for (Row r : rows) {
            if (!r.guided) {
                ordered.add(r);
            }
        }
        int samples = 0;
        for (Row r : rows) {
            samples += r.batch;
        }
        int n = samples + guidedSamples;
        List<Tensor> inputs = new ArrayList<>(rows.size() * 2);
        double[] timesteps = new double[n];
        long[] labels = denoiser.isConditional() ? new long[n] : null;
        float[] scales = oneScale ? null : new float[guidedSamples];
        int at = 0;
        for (Row r : ordered) {
            Tensor in = r.modelInput();
            inputs.add(in);
            Arrays.fill(timesteps, at, at + r.batch, r.modelTimestep());
            if (labels != null) {
                System.arraycopy(r.labels, 0, labels, at, r.batch);
            }
            if (r.guided) {
                int u = samples + at; // the unconditional copy, in the same order after all samples
                Arrays.fill(timesteps, u, u + r.batch, r.modelTimestep());
                Arrays.fill(labels, u, u + r.batch, denoiser.nullClassId());
                if (scales != null) {
                    Arrays.fill(scales, at, at + r.batch, (float) r.guidance);
                }
            }
            at += r.batch;
        }
        for (Row r : ordered) {
            if (r.guided) {
                inputs.add(r.modelInput());
            }
        }
        Tensor x = inputs.size() == 1 ? inputs.get(0) : Tensor.cat(inputs, 0);
        Tensor out = predict(x, timestepTensor(timesteps), labels == null ? null : onDevice(Tensor.fromLongs(labels, n)));
        Tensor guided = null;
        if (guidedSamples > 0) {
            Tensor cond = out.narrow(0, 0, guidedSamples);
            Tensor uncond = out.narrow(0, samples, guidedSamples);
            Tensor diff = cond.sub(uncond);
            if (scales == null) {
                guided = uncond.add(diff, scale); // as GuidedDenoiser combines them
            } else {
                long[] shape = new long[out.dim()];
                Arrays.fill(shape, 1);
                shape[0] = guidedSamples;
                guided = uncond.add(diff.mul(onDevice(Tensor.fromFloats(scales, shape))));
            }
        }
        Map<Row, Tensor> result = new IdentityHashMap<>();
        at = 0;
        for (Row r : ordered) {
            result.put(r, r.guided ? (guidedSamples == r.batch ? guided : guided.narrow(0, at, r.batch))
                    : out.narrow(0, at, r.batch));
            at += r.batch;
        }
        return result;
    }

    /**
     * One model call for {@code rows} of a guidance-distilled model: each row's samples once, with a [B] float32
     * guidance scale per sample: the row's scale for a guided row, 1 for the others (the conditional prediction, what
     * the model's three-argument predict gives). Returns each row's prediction, in float32, in the caller's scope.
     */
    private Map<Row, Tensor> applyWithScales(List<Row> rows) {
        int n = 0;
        for (Row r : rows) {
            n += r.batch;
        }
        List<Tensor> inputs = new ArrayList<>(rows.size());
        double[] timesteps = new double[n];
        long[] labels = new long[n];
        float[] scales = new float[n];
        int at = 0;
        for (Row r : rows) {
            inputs.add(r.modelInput());
            Arrays.fill(timesteps, at, at + r.batch, r.modelTimestep());
            System.arraycopy(r.labels, 0, labels, at, r.batch);
            Arrays.fill(scales, at, at + r.batch, r.guided ? (float) r.guidance : 1f);
            at += r.batch;
        }
        Tensor x = inputs.size() == 1 ? inputs.get(0) : Tensor.cat(inputs, 0);
        Tensor out = predict(x, timestepTensor(timesteps), onDevice(Tensor.fromLongs(labels, n)),
                onDevice(Tensor.fromFloats(scales, n)));
        Map<Row, Tensor> result = new IdentityHashMap<>();
        at = 0;
        for (Row r : rows) {
            result.put(r, rows.size() == 1 ? out : out.narrow(0, at, r.batch));
            at += r.batch;
        }
        return result;
    }

    private Tensor predict(Tensor in, Tensor timesteps, Tensor labels) {
        return predict(in, timesteps, labels, null);
    }

    /** The forward in the model's dtype, the 4-argument one when {@code scales} are given; float32 out. */
    private Tensor predict(Tensor in, Tensor timesteps, Tensor labels, Tensor scales) {
        DType dtype = denoiser.dtype();
        Tensor x = dtype == DType.FLOAT32 ? in : in.to(dtype);
        Tensor out = scales == null ? denoiser.predict(x, timesteps, labels)
                : denoiser.predict(x, timesteps, labels, scales);
        return dtype == DType.FLOAT32 ? out : out.to(DType.FLOAT32);
    }

    /** The timesteps in the model's timestep dtype, rounded for integer-timestep models (as the pipeline does). */
    private Tensor timestepTensor(double[] values) {
        DType td = denoiser.timestepDType();
        Tensor t;
        if (!td.isFloatingPoint()) {
            long[] rounded = new long[values.length];
            for (int i = 0; i < values.length; i++) {
                rounded[i] = (long) Math.rint(values[i]);
            }
            t = Tensor.fromLongs(rounded, values.length);
            t = td == DType.INT64 ? t : t.to(td);
        } else if (td == DType.FLOAT64) {
            t = Tensor.fromDoubles(values, values.length);
        } else {
            float[] f = new float[values.length];
            for (int i = 0; i < values.length; i++) {
                f[i] = (float) values[i];
            }
            t = Tensor.fromFloats(f, values.length);
            t = td == DType.FLOAT32 ? t : t.to(td);
        }
        return onDevice(t);
    }

    private Tensor onDevice(Tensor t) {
        return denoiser.device().isCuda() ? t.to(denoiser.device()) : t;
    }
}
