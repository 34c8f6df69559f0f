package io.diffusion4j.evaluation;

/**
 * The energy distance between two samples of points (Székely and Rizzo): {@code 2 E|X-Y| - E|X-X'| - E|Y-Y'|}, over
 * all ordered pairs (including a point with itself), Euclidean, in doubles. Zero for identical samples; it measures
 * how far generated low-dimensional data (toy2d) lie from the true data. Cost: O(n m d).
 */
public final class EnergyDistance {
    private EnergyDistance() {
    }

    /**
     * @param x   n points of dimension {@code dim}, row-major
     * @param y   m points of dimension {@code dim}, row-major
     * @param dim the dimension of a point
     * @throws IllegalArgumentException if a length is not a positive multiple of {@code dim}
     */
    public static double of(double[] x, double[] y, int dim) {
        check(x, dim, "x");
        check(y, dim, "y");
        return 2 * meanDistance(x, y, dim) - meanDistance(x, x, dim) - meanDistance(y, y, dim);
    }

    private static void check(double[] points, int dim, String name) {
        if (dim < 1 || points.length == 0 || points.length % dim != 0) {
            throw new IllegalArgumentException(name + " has " + points.length + " values: not a positive multiple of "
                    + "the dimension " + dim);
        }
    }

    private static double meanDistance(double[] a, double[] b, int dim) {
        int n = a.length / dim;
        int m = b.length / dim;
        double sum = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < m; j++) {
                double sq = 0;
                for (int k = 0; k < dim; k++) {
                    double d = a[i * dim + k] - b[j * dim + k];
                    sq += d * d;
                }
                sum += Math.sqrt(sq);
            }
        }
        return sum / ((double) n * m);
    }
}
