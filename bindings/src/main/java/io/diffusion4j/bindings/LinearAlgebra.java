package io.diffusion4j.bindings;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.T_TensorTensor_T;
import org.bytedeco.pytorch.global.torch;

/**
 * The few LibTorch linear-algebra routines the library uses ({@code torch.linalg}): the eigendecomposition of a
 * symmetric matrix and singular values. Results follow the usual {@link Tensor} ownership rules; compute in float64
 * where accuracy matters (LibTorch works in the input's dtype).
 */
public final class LinearAlgebra {
    static {
        Torch.load();
    }

    private LinearAlgebra() {
    }

    /** The eigenvalues (ascending) and eigenvectors (the columns of {@code vectors}) of a symmetric matrix. */
    public record SymmetricEigen(Tensor values, Tensor vectors) {
        public SymmetricEigen {
            if (values == null || vectors == null) {
                throw new IllegalArgumentException("eigenvalues and eigenvectors must not be null");
            }
        }
    }

    /**
     * {@code torch.linalg.eigh} of a symmetric (Hermitian) matrix {@code [n, n]} (or a batch {@code [..., n, n]});
     * only the lower triangle is read.
     *
     * @throws IllegalArgumentException if {@code matrix} is not square
     * @throws NativeOperationException if LibTorch fails (e.g. the matrix holds NaN)
     */
    public static SymmetricEigen eigh(Tensor matrix) {
        checkSquare(matrix, "eigh");
        try (PointerScope ignored = new PointerScope()) {
            T_TensorTensor_T r = torch.linalg_eigh(matrix.unwrap());
            // get0()/get1() are references into r: copy the handles before the scope frees r
            return new SymmetricEigen(Tensor.own(new org.bytedeco.pytorch.Tensor(r.get0())),
                    Tensor.own(new org.bytedeco.pytorch.Tensor(r.get1())));
        } catch (RuntimeException e) {
            throw failure("eigh", matrix, e);
        }
    }

    /**
     * {@code torch.linalg.svdvals}: the singular values of a matrix {@code [m, n]} (or a batch), descending.
     *
     * @throws IllegalArgumentException if {@code matrix} has fewer than two dimensions
     */
    public static Tensor singularValues(Tensor matrix) {
        if (matrix.dim() < 2) {
            throw new IllegalArgumentException("singular values need a matrix, got " + matrix.describe());
        }
        try (PointerScope ignored = new PointerScope()) {
            return Tensor.own(torch.linalg_svdvals(matrix.unwrap()));
        } catch (RuntimeException e) {
            throw failure("svdvals", matrix, e);
        }
    }

    private static void checkSquare(Tensor m, String op) {
        long[] s = m.shape();
        if (s.length < 2 || s[s.length - 1] != s[s.length - 2]) {
            throw new IllegalArgumentException(op + " needs a square matrix [..., n, n], got " + m.describe());
        }
    }

    private static NativeOperationException failure(String op, Tensor a, RuntimeException e) {
        if (e instanceof IllegalStateException || e instanceof NativeOperationException) {
            throw e;
        }
        return new NativeOperationException(op + "(" + a.describe() + ") failed: " + NativeErrors.summary(e), e);
    }
}
