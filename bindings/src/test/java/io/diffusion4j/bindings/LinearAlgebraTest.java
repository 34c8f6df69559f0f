package io.diffusion4j.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LinearAlgebraTest {

    @Test
    void eighOfASymmetricMatrixGivesItsKnownEigenpairs() {
        // [[2, 1], [1, 2]]: eigenvalues 1 and 3, eigenvectors (1, -1)/sqrt 2 and (1, 1)/sqrt 2
        try (NativeScope scope = new NativeScope()) {
            Tensor m = Tensor.fromDoubles(new double[] {2, 1, 1, 2}, 2, 2);
            LinearAlgebra.SymmetricEigen e = LinearAlgebra.eigh(m);
            assertArrayEquals(new double[] {1, 3}, e.values().toDoubleArray(), 1e-12);
            double[] v = e.vectors().toDoubleArray(); // columns are eigenvectors
            double r = Math.sqrt(0.5);
            assertEquals(r, Math.abs(v[0]), 1e-12);
            assertEquals(-Math.signum(v[0]), Math.signum(v[2]), "first eigenvector is (1, -1)");
            assertEquals(Math.signum(v[1]), Math.signum(v[3]), "second eigenvector is (1, 1)");
            // V diag(w) V^T rebuilds the matrix
            Tensor back = e.vectors().mul(e.values()).matmul(e.vectors().transpose(0, 1));
            assertArrayEquals(new double[] {2, 1, 1, 2}, back.toDoubleArray(), 1e-12);
        }
    }

    @Test
    void singularValuesOfAKnownMatrix() {
        // [[3, 0], [4, 5]]: A^T A = [[25, 20], [20, 25]], eigenvalues 45 and 5, singular values sqrt 45 and sqrt 5
        try (NativeScope scope = new NativeScope()) {
            double[] s = LinearAlgebra.singularValues(Tensor.fromDoubles(new double[] {3, 0, 4, 5}, 2, 2))
                    .toDoubleArray();
            assertArrayEquals(new double[] {Math.sqrt(45), Math.sqrt(5)}, s, 1e-12);
        }
    }

    @Test
    void rejectsWhatIsNotAMatrix() {
        try (NativeScope scope = new NativeScope()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> LinearAlgebra.eigh(Tensor.fromDoubles(new double[] {1, 2, 3, 4, 5, 6}, 2, 3)));
            assertTrue(e.getMessage().contains("square matrix"), e.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> LinearAlgebra.singularValues(Tensor.fromDoubles(new double[] {1, 2}, 2)));
        }
    }
}
