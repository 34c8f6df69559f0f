package io.diffusion4j.scheduler;

import io.diffusion4j.bindings.Scalar;
import io.diffusion4j.bindings.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * What the plans of the variance-preserving multistep solvers (UniPC, ...) share: integer timesteps, the {@code n + 1}
 * sigmas ({@code x = alpha x0 + sigma_vp eps}, {@code alpha = 1/sqrt(s^2+1)}), unscaled model input, unit initial
 * noise, the forward process at those levels, and the native scalars the plan owns.
 */
abstract class VpPlan implements SamplingPlan {
    final long[] timesteps;
    final double[] sigmas;
    private final List<Scalar> owned = new ArrayList<>();

    VpPlan(long[] timesteps, double[] sigmas) {
        this.timesteps = timesteps;
        this.sigmas = sigmas;
    }

    /** A native scalar freed with the plan. */
    final Scalar own(double v) {
        Scalar s = Scalar.of(v);
        owned.add(s);
        return s;
    }

    @Override
    public final long[] timesteps() {
        return timesteps.clone();
    }

    @Override
    public final int steps() {
        return timesteps.length;
    }

    @Override
    public final double modelTimestep(int i) {
        return timesteps[i];
    }

    @Override
    public boolean needsNoise(int i) {
        return false;
    }

    @Override
    public final Tensor addNoise(Tensor x0, Tensor noise, int i) {
        return x0.mul(Sigmas.alpha(sigmas[i])).add(noise, Sigmas.vpSigma(sigmas[i]));
    }

    @Override
    public final Tensor addNoiseAfter(Tensor x0, Tensor noise, int i) {
        if (sigmas[i + 1] == 0) {
            return x0.copy();
        }
        return x0.mul(Sigmas.alpha(sigmas[i + 1])).add(noise, Sigmas.vpSigma(sigmas[i + 1]));
    }

    @Override
    public void close() {
        owned.forEach(Scalar::close);
        owned.clear();
    }

    /** Solves the small dense system {@code a x = b} by Gaussian elimination with partial pivoting. */
    static double[] solve(double[][] a, double[] b) {
        int n = b.length;
        double[][] m = new double[n][n + 1];
        for (int r = 0; r < n; r++) {
            System.arraycopy(a[r], 0, m[r], 0, n);
            m[r][n] = b[r];
        }
        for (int c = 0; c < n; c++) {
            int p = c;
            for (int r = c + 1; r < n; r++) {
                if (Math.abs(m[r][c]) > Math.abs(m[p][c])) {
                    p = r;
                }
            }
            double[] tmp = m[c];
            m[c] = m[p];
            m[p] = tmp;
            for (int r = c + 1; r < n; r++) {
                double f = m[r][c] / m[c][c];
                for (int k = c; k <= n; k++) {
                    m[r][k] -= f * m[c][k];
                }
            }
        }
        double[] x = new double[n];
        for (int r = n - 1; r >= 0; r--) {
            double s = m[r][n];
            for (int k = r + 1; k < n; k++) {
                s -= m[r][k] * x[k];
            }
            x[r] = s / m[r][r];
        }
        return x;
    }
}
