package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.Scalar;
import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Pseudo numerical methods for diffusion models (Liu et al. 2022, "PNDM"): the pseudo linear multistep method PLMS
 * (Adams-Bashforth of order up to 4 on the noise prediction, each step through the DDIM transfer
 * {@code x_prev = sqrt(ab_prev/ab_t) x - (ab_prev - ab_t) e / (ab_t sqrt(1 - ab_prev) + sqrt(ab_t (1 - ab_t) ab_prev))}),
 * warmed up either by three pseudo Runge-Kutta steps (four evaluations each) or, with {@code skip_prk_steps}, by a
 * pseudo improved-Euler restart of the first step, with diffusers' {@code PNDMScheduler} semantics (the Stable
 * Diffusion default): {@code skip_prk_steps}, {@code set_alpha_to_one}, leading/linspace/trailing spacing,
 * {@code steps_offset}, epsilon and v prediction. Each evaluation's output weights are worked out once per plan by
 * replaying diffusers' bookkeeping on evaluation indices, so a step is one fused sum of the sample and a few outputs.
 */
public final class PndmScheduler implements Scheduler {

    public static final String CLASS_NAME = "PNDMScheduler";

    private final SchedulerConfig config;
    private final boolean skipPrk;

    public PndmScheduler(SchedulerConfig config) {
        if (config.predictionType() == PredictionType.SAMPLE) {
            throw new IllegalArgumentException("prediction_type sample is not supported by PNDM; use epsilon or "
                    + "v_prediction");
        }
        if (config.rescaleBetasZeroSnr()) {
            throw new IllegalArgumentException("rescale_betas_zero_snr is not a key of PNDMScheduler; remove it");
        }
        if (config.timesteps() != null) {
            // PLMS's fixed weights (55, -59, 37, -9) / 24 and its half steps assume evenly spaced timesteps
            throw new IllegalArgumentException("PNDM runs evenly spaced timesteps only, not a timesteps list; remove "
                    + "the list or use ddim, dpmsolver++, unipc, deis, euler, heun, lms, ddpm or lcm");
        }
        this.config = config;
        this.skipPrk = config.extraBoolean("skip_prk_steps", false);
    }

    @Override
    public SchedulerConfig config() {
        return config;
    }

    @Override
    public String name() {
        return "pndm";
    }

    /** Whether the Runge-Kutta warm-up is skipped. */
    public boolean skipsPrkSteps() {
        return skipPrk;
    }

    @Override
    public SamplingPlan plan(int n) {
        int t = config.numTrainTimesteps();
        if (n < 1 || n > t) {
            throw new IllegalArgumentException("steps must be between 1 and num_train_timesteps (" + t + "), got " + n);
        }
        if (!skipPrk && n < 4) {
            throw new IllegalArgumentException("PNDM with Runge-Kutta warm-up needs at least 4 steps, got " + n
                    + "; use more steps or skip_prk_steps true");
        }
        long[] desc = Timesteps.of(config.timestepSpacing(), t, n, config.stepsOffset());
        long[] asc = new long[n];
        for (int i = 0; i < n; i++) {
            asc[i] = desc[n - 1 - i];
        }
        return new Bookkeeping(asc, t / n).plan();
    }

    /** One evaluation: {@code next = a * s + sum_j w[j] * m_{idx[j]}}, {@code s} the input sample or the saved one. */
    private record Eval(long listed, long timestep, long prevTimestep, boolean saveSample, boolean fromSaved, boolean stepStart,
            int[] outputs, double[] weights, double sampleWeight) {
    }

    /** Replays diffusers' PRK/PLMS counters on evaluation indices. */
    private final class Bookkeeping {
        private final long[] asc;
        private final int ratio;
        private final double[] ab;
        private final List<Eval> evals = new ArrayList<>();

        Bookkeeping(long[] asc, int ratio) {
            this.asc = asc;
            this.ratio = ratio;
            this.ab = config.noiseSchedule().alphasCumprod();
        }

        SamplingPlan plan() {
            int n = asc.length;
            List<Integer> ets = new ArrayList<>();
            List<Long> prk = new ArrayList<>();
            List<Long> plms = new ArrayList<>();
            if (skipPrk) {
                for (int i = n - 1; i >= 0; i--) { // [_ts[:-1], _ts[-2], _ts[-1]] reversed
                    plms.add(i == n - 1 ? asc[n - 1] : asc[i]);
                    if (i == n - 1 && n >= 2) {
                        plms.add(asc[n - 2]);
                    }
                }
            } else {
                long half = ratio / 2;
                List<Long> base = new ArrayList<>();
                for (int k = n - 4; k < n; k++) {
                    base.add(asc[k]);
                    base.add(asc[k] + half);
                }
                base.remove(base.size() - 1);
                List<Long> doubled = new ArrayList<>();
                for (long v : base) {
                    doubled.add(v);
                    doubled.add(v);
                }
                List<Long> inner = doubled.subList(1, doubled.size() - 1);
                for (int k = inner.size() - 1; k >= 0; k--) {
                    prk.add(inner.get(k));
                }
                for (int k = n - 4; k >= 0; k--) {
                    plms.add(asc[k]);
                }
            }
            int counter = 0;
            for (int c = 0; c < prk.size(); c++, counter++) {
                long given = prk.get(c);
                long prev = given - (c % 2 == 1 ? 0 : ratio / 2);
                long ts = prk.get(c / 4 * 4);
                int[] idx;
                double[] w;
                if (c % 4 == 0) {
                    ets.add(c);
                }
                if (c % 4 == 3) { // (m0 + 2 m1 + 2 m2 + m3) / 6 over this Runge-Kutta step's evaluations
                    idx = new int[] {c - 3, c - 2, c - 1, c};
                    w = new double[] {1 / 6.0, 1 / 3.0, 1 / 3.0, 1 / 6.0};
                } else {
                    idx = new int[] {c};
                    w = new double[] {1};
                }
                add(given, ts, prev, c % 4 == 0, c % 4 != 0, c % 4 == 0, idx, w);
            }
            for (int k = 0; k < plms.size(); k++, counter++) {
                int e = prk.size() + k;
                long listed = plms.get(k);
                long ts = listed;
                long prev = ts - ratio;
                if (counter != 1) {
                    while (ets.size() > 3) {
                        ets.remove(0);
                    }
                    ets.add(e);
                } else {
                    prev = ts;
                    ts = ts + ratio;
                }
                int m = ets.size();
                int[] idx;
                double[] w;
                boolean save = false;
                boolean fromSaved = false;
                if (m == 1 && counter == 0) {
                    idx = new int[] {e};
                    w = new double[] {1};
                    save = true;
                } else if (m == 1 && counter == 1) {
                    idx = new int[] {e, ets.get(0)};
                    w = new double[] {0.5, 0.5};
                    fromSaved = true;
                } else if (m == 2) {
                    idx = new int[] {ets.get(1), ets.get(0)};
                    w = new double[] {1.5, -0.5};
                } else if (m == 3) {
                    idx = new int[] {ets.get(2), ets.get(1), ets.get(0)};
                    w = new double[] {23 / 12.0, -16 / 12.0, 5 / 12.0};
                } else {
                    idx = new int[] {ets.get(3), ets.get(2), ets.get(1), ets.get(0)};
                    w = new double[] {55 / 24.0, -59 / 24.0, 37 / 24.0, -9 / 24.0};
                }
                add(listed, ts, prev, save, fromSaved, counter != 1, idx, w);
            }
            return new Plan(evals.toArray(new Eval[0]));
        }

        /** DDIM's transfer from {@code ts} to {@code prev} applied to the combined output. */
        private void add(long listed, long ts, long prev, boolean save, boolean fromSaved, boolean stepStart, int[] idx,
                double[] w) {
            double at = ab[(int) ts];
            double ap = prev >= 0 ? ab[(int) prev] : config.setAlphaToOne() ? 1.0 : ab[0];
            double cs = Math.sqrt(ap / at);
            double ce = (ap - at) / (at * Math.sqrt(1 - ap) + Math.sqrt(at * (1 - at) * ap));
            double a = cs;
            double scale = -ce;
            if (config.predictionType() == PredictionType.V_PREDICTION) {
                // eps = sqrt(ab_t) v + sqrt(1 - ab_t) s
                a = cs - ce * Math.sqrt(1 - at);
                scale = -ce * Math.sqrt(at);
            }
            double[] ws = new double[w.length];
            for (int k = 0; k < w.length; k++) {
                ws[k] = scale * w[k];
            }
            evals.add(new Eval(listed, ts, prev, save, fromSaved, stepStart, idx, ws, a));
        }
    }

    private final class Plan implements SamplingPlan {
        private final Eval[] evals;
        private final long[] timesteps;
        private final int[] lastUse;
        private final Scalar[] a;
        private final Scalar[][] w;
        private final List<Scalar> owned = new ArrayList<>();
        private final double[] ab;

        Plan(Eval[] evals) {
            this.evals = evals;
            this.ab = config.noiseSchedule().alphasCumprod();
            int n = evals.length;
            timesteps = new long[n];
            lastUse = new int[n];
            Arrays.fill(lastUse, -1);
            a = new Scalar[n];
            w = new Scalar[n][];
            for (int i = 0; i < n; i++) {
                timesteps[i] = evals[i].listed();
                a[i] = own(evals[i].sampleWeight());
                w[i] = new Scalar[evals[i].outputs().length];
                for (int k = 0; k < w[i].length; k++) {
                    w[i][k] = own(evals[i].weights()[k]);
                    lastUse[evals[i].outputs()[k]] = Math.max(lastUse[evals[i].outputs()[k]], i);
                }
            }
        }

        private Scalar own(double v) {
            Scalar s = Scalar.of(v);
            owned.add(s);
            return s;
        }

        /** The timesteps the model sees, as diffusers lists them (the Runge-Kutta midpoints included). */
        @Override
        public long[] timesteps() {
            return timesteps.clone();
        }

        @Override
        public double modelTimestep(int i) {
            return timesteps[i];
        }

        @Override
        public int steps() {
            return timesteps.length;
        }

        @Override
        public boolean isStepStart(int i) {
            return evals[i].stepStart();
        }

        @Override
        public boolean needsNoise(int i) {
            return false;
        }

        @Override
        public Tensor addNoise(Tensor x0, Tensor noise, int i) {
            double at = ab[(int) modelTimestep(i)];
            return x0.mul(Math.sqrt(at)).add(noise, Math.sqrt(1 - at));
        }

        @Override
        public Tensor addNoiseAfter(Tensor x0, Tensor noise, int i) {
            long prev = evals[i].prevTimestep();
            double ap = prev >= 0 ? ab[(int) prev] : config.setAlphaToOne() ? 1.0 : ab[0];
            return ap >= 1.0 ? x0.copy() : x0.mul(Math.sqrt(ap)).add(noise, Math.sqrt(1 - ap));
        }

        @Override
        public SamplerRun start() {
            return new Run();
        }

        @Override
        public void close() {
            owned.forEach(Scalar::close);
            owned.clear();
        }

        /** The model outputs later evaluations still need, and the sample the warm-up steps restart from. */
        private final class Run implements SamplerRun {
            private final Map<Integer, Tensor> outputs = new HashMap<>();
            private Tensor saved;

            @Override
            public Tensor step(int i, Tensor m, Tensor x, Tensor noise) {
                Eval e = evals[i];
                if (lastUse[i] > i) {
                    outputs.put(i, NativeScope.unscoped(m::detach));
                }
                if (e.saveSample()) {
                    if (saved != null) {
                        saved.close();
                    }
                    saved = NativeScope.unscoped(x::detach);
                }
                Tensor s = e.fromSaved() ? saved : x;
                Tensor next = s.mul(a[i]);
                for (int k = 0; k < e.outputs().length; k++) {
                    int j = e.outputs()[k];
                    next.addInPlace(j == i ? m : outputs.get(j), w[i][k]);
                }
                outputs.entrySet().removeIf(en -> {
                    if (lastUse[en.getKey()] <= i) {
                        en.getValue().close();
                        return true;
                    }
                    return false;
                });
                return next;
            }

            @Override
            public void close() {
                outputs.values().forEach(Tensor::close);
                outputs.clear();
                if (saved != null) {
                    saved.close();
                    saved = null;
                }
            }
        }
    }
}
