package io.diffusion4j.bindings;

import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/** Operations on the gradients of a set of parameters. */
public final class Gradients {
    static {
        Torch.load();
    }

    private Gradients() {
    }

    /**
     * Scales the gradients of {@code params} in place so that their global L2 norm (all gradients seen as one
     * vector) is at most {@code maxNorm}: LibTorch's {@code torch::nn::utils::clip_grad_norm_}, the same as
     * PyTorch's {@code torch.nn.utils.clip_grad_norm_} (gradients are multiplied by
     * {@code min(1, maxNorm / (norm + 1e-6))}). Parameters without a gradient are skipped.
     *
     * @return the global norm before clipping (0 when no parameter has a gradient; NaN or infinite when a gradient
     *         is, and then the gradients are no longer finite either)
     * @throws IllegalArgumentException if {@code params} is empty or {@code maxNorm} is not a positive number
     */
    public static double clipGlobalNorm(List<Tensor> params, double maxNorm) {
        if (params == null || params.isEmpty()) {
            throw new IllegalArgumentException("clipGlobalNorm needs at least one parameter tensor, got none");
        }
        if (!(maxNorm > 0) || Double.isInfinite(maxNorm)) {
            throw new IllegalArgumentException("max gradient norm must be > 0 and finite, got " + maxNorm);
        }
        try (PointerScope ignored = new PointerScope()) {
            TensorVector v = new TensorVector();
            for (Tensor p : params) {
                v.push_back(p.unwrap());
            }
            return torch.clip_grad_norm_(v, maxNorm);
        } catch (IllegalStateException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new NativeOperationException("clip_grad_norm_(" + params.size() + " parameters, max " + maxNorm
                    + ") failed: " + NativeErrors.summary(e), e);
        }
    }
}
