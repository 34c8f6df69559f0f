package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.Scalar;
import io.diffusion4j.bindings.Tensor;

/**
 * The linear multistep method on the probability-flow ODE in the sigma parameterisation (Karras et al. 2022; the
 * "LMS" sampler of k-diffusion), with diffusers' {@code LMSDiscreteScheduler} semantics: order 4 (lower during the
 * warm-up), each coefficient the integral over the step of a Lagrange basis polynomial through the last sigmas, and
 * the sigmas, Karras sigmas, input scaling and initial noise of {@link SigmaScheduler}; as in diffusers, Karras sigmas
 * span the spaced train sigmas whatever {@code sigma_min} and {@code sigma_max} say, and the run ends at sigma 0
 * whatever {@code final_sigmas_type} says (the class has none of these keys). diffusers integrates with
 * scipy's adaptive quadrature; the integrands are polynomials of degree at most 3, which 4-point Gauss-Legendre
 * integrates exactly, once per plan in Java doubles. Deterministic; one model evaluation per step; steps in place.
 */
public final class LmsScheduler extends SigmaScheduler {
    public static final String CLASS_NAME = "LMSDiscreteScheduler";
    /** diffusers' default order of {@code step}. */
    public static final int ORDER = 4;

    private static final double[] GAUSS_NODES = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563,
            0.8611363115940526};
    private static final double[] GAUSS_WEIGHTS = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461,
            0.3478548451374538};

    public LmsScheduler(SchedulerConfig config) {
        super(config);
    }

    @Override
    boolean readsFinalSigmasType() {
        return false;
    }

    @Override
    boolean karrasReadsSigmaRange() {
        return false;
    }

    @Override
    public String name() {
        return "lms";
    }

    @Override
    SamplingPlan newPlan(double[] timesteps, double[] sigmas, double initSigma) {
        return new LmsPlan(timesteps, sigmas, initSigma);
    }

    /**
     * The LMS coefficient of the derivative {@code j} steps back, for step {@code i} of order {@code p}: the integral
     * from {@code s_i} to {@code s_{i+1}} of the Lagrange basis polynomial that is 1 at {@code s_{i-j}} and 0 at the
     * other {@code s_{i-k}}, {@code k < p}.
     */
    static double coefficient(double[] s, int i, int p, int j) {
        double a = s[i];
        double b = s[i + 1];
        double half = (b - a) / 2;
        double mid = (a + b) / 2;
        double sum = 0;
        for (int q = 0; q < GAUSS_NODES.length; q++) {
            double tau = mid + half * GAUSS_NODES[q];
            double prod = 1;
            for (int k = 0; k < p; k++) {
                if (k != j) {
                    prod *= (tau - s[i - k]) / (s[i - j] - s[i - k]);
                }
            }
            sum += GAUSS_WEIGHTS[q] * prod;
        }
        return sum * half;
    }

    /**
     * Per step: the derivative {@code d_i = (x - x0) / s_i = dx x + dm m}, then {@code x += sum_j c_j d_{i-j}}.
     */
    private final class LmsPlan extends Plan {
        private final Scalar[] dx;
        private final Scalar[] dm;
        private final Scalar[][] c;

        LmsPlan(double[] timesteps, double[] sigmas, double initSigma) {
            super(timesteps, java.util.Arrays.copyOf(sigmas, timesteps.length),
                    java.util.Arrays.copyOfRange(sigmas, 1, sigmas.length), initSigma);
            int n = timesteps.length;
            dx = new Scalar[n];
            dm = new Scalar[n];
            c = new Scalar[n][];
            for (int i = 0; i < n; i++) {
                double s = sigmas[i];
                double[] ab = Sigmas.x0FromSigmaSpace(config.predictionType(), s);
                dx[i] = own((1 - ab[0]) / s);
                dm[i] = own(-ab[1] / s);
                int p = Math.min(i + 1, ORDER);
                c[i] = new Scalar[p];
                for (int j = 0; j < p; j++) {
                    c[i][j] = own(coefficient(sigmas, i, p, j));
                }
            }
        }

        @Override
        public boolean needsNoise(int i) {
            return false;
        }

        @Override
        public SamplerRun start() {
            return new SamplerRun() {
                private final TensorHistory derivatives = new TensorHistory(ORDER);

                @Override
                public Tensor step(int i, Tensor modelOutput, Tensor sample, Tensor noise) {
                    return stepInPlace(i, modelOutput, sample.copy(), noise);
                }

                @Override
                public Tensor stepInPlace(int i, Tensor modelOutput, Tensor sample, Tensor noise) {
                    derivatives.push(Tensor.linearCombination(sample, dx[i], modelOutput, dm[i]));
                    for (int j = 0; j < c[i].length; j++) {
                        sample.addInPlace(derivatives.get(j), c[i][j]);
                    }
                    return sample;
                }

                @Override
                public void close() {
                    derivatives.close();
                }
            };
        }
    }
}
