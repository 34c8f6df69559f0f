package io.diffusion4j.bindings;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.TensorVector;

/**
 * Copies of a list of parameters (own storage, no autograd history) kept in native memory for the life of this
 * object, independent of any {@link NativeScope}: the storage behind an exponential moving average of weights.
 * All updates run without gradient recording. Not thread-safe.
 */
public final class ShadowWeights implements AutoCloseable {
    static {
        Torch.load();
    }

    private final TensorVector shadows;
    private final long[][] shapes;
    private boolean closed;

    private ShadowWeights(TensorVector shadows, long[][] shapes) {
        this.shadows = shadows;
        this.shapes = shapes;
        shadows.retainReference();
    }

    /** Detached copies of {@code params}. */
    public static ShadowWeights copyOf(List<Tensor> params) {
        if (params == null || params.isEmpty()) {
            throw new IllegalArgumentException("shadow weights need at least one parameter tensor, got none");
        }
        try (PointerScope ignored = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            TensorVector v = new TensorVector();
            long[][] shapes = new long[params.size()][];
            for (int i = 0; i < params.size(); i++) {
                Tensor p = params.get(i);
                shapes[i] = p.shape();
                v.push_back(p.unwrap().detach().clone(new org.bytedeco.pytorch.MemoryFormatOptional()));
            }
            return new ShadowWeights(v, shapes);
        } catch (IllegalStateException | IllegalArgumentException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new NativeOperationException("copying " + params.size() + " parameters failed: "
                    + NativeErrors.summary(e), e);
        }
    }

    /** The number of tensors. */
    public int size() {
        return shapes.length;
    }

    /** {@code shadow += weight * (param - shadow)} for each pair (an EMA update with decay {@code 1 - weight}). */
    public void lerpTowards(List<Tensor> params, double weight) {
        if (!(weight >= 0 && weight <= 1)) {
            throw new IllegalArgumentException("interpolation weight must be in [0, 1], got " + weight);
        }
        check(params);
        try (PointerScope ignored = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            org.bytedeco.pytorch.Scalar w = new org.bytedeco.pytorch.Scalar(weight);
            for (int i = 0; i < shapes.length; i++) {
                shadows.get(i).lerp_(params.get(i).unwrap(), w);
            }
        } catch (RuntimeException e) {
            throw failure("lerp_", e);
        }
    }

    /** Copies the shadow values into {@code params} (in place, without recording gradients). */
    public void copyTo(List<Tensor> params) {
        check(params);
        try (PointerScope ignored = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            for (int i = 0; i < shapes.length; i++) {
                params.get(i).unwrap().copy_(shadows.get(i));
            }
        } catch (RuntimeException e) {
            throw failure("copy_", e);
        }
    }

    /** Copies {@code params} into the shadow values. */
    public void copyFrom(List<Tensor> params) {
        check(params);
        try (PointerScope ignored = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            for (int i = 0; i < shapes.length; i++) {
                shadows.get(i).copy_(params.get(i).unwrap());
            }
        } catch (RuntimeException e) {
            throw failure("copy_", e);
        }
    }

    /** Exchanges the values of the shadows and {@code params}. */
    public void swapWith(List<Tensor> params) {
        check(params);
        try (PointerScope ignored = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            for (int i = 0; i < shapes.length; i++) {
                org.bytedeco.pytorch.Tensor p = params.get(i).unwrap();
                org.bytedeco.pytorch.Tensor tmp = p.clone(new org.bytedeco.pytorch.MemoryFormatOptional());
                p.copy_(shadows.get(i));
                shadows.get(i).copy_(tmp);
            }
        } catch (RuntimeException e) {
            throw failure("swap", e);
        }
    }

    /**
     * New handles on the shadow tensors (shared storage), owned by the current {@link NativeScope} or the caller.
     * Valid while this object is open.
     */
    public List<Tensor> tensors() {
        handle();
        try (PointerScope ignored = new PointerScope()) {
            List<Tensor> out = new ArrayList<>(shapes.length);
            for (int i = 0; i < shapes.length; i++) {
                out.add(Tensor.own(new org.bytedeco.pytorch.Tensor(shadows.get(i))));
            }
            return out;
        }
    }

    private void check(List<Tensor> params) {
        handle();
        if (params.size() != shapes.length) {
            throw new IllegalArgumentException("expected " + shapes.length + " parameter tensors, got " + params.size());
        }
        for (int i = 0; i < shapes.length; i++) {
            long[] s = params.get(i).shape();
            if (!Arrays.equals(s, shapes[i])) {
                throw new IllegalArgumentException("parameter " + i + " has shape " + Arrays.toString(s)
                        + ", its shadow " + Arrays.toString(shapes[i]));
            }
        }
    }

    private TensorVector handle() {
        if (closed) {
            throw new IllegalStateException("shadow weights are closed");
        }
        return shadows;
    }

    private NativeOperationException failure(String op, RuntimeException e) {
        if (e instanceof IllegalStateException || e instanceof IllegalArgumentException
                || e instanceof NativeOperationException) {
            throw e;
        }
        return new NativeOperationException(op + " on " + shapes.length + " shadow weights failed: "
                + NativeErrors.summary(e), e);
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            shadows.releaseReference();
        }
    }
}
