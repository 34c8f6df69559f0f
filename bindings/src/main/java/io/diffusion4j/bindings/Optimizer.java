package io.diffusion4j.bindings;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.AdamOptions;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.OptimizerParamGroupVector;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.SGD;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.TensorVector;

/**
 * A LibTorch optimizer ({@code torch::optim::AdamW}, {@code Adam} or {@code SGD}) over a fixed list of parameters.
 * The optimizer holds its own native references to the parameters (sharing their storage and gradients), so it
 * does not depend on the {@link NativeScope} the parameter handles came from. Not thread-safe: one training
 * thread.
 */
public final class Optimizer implements AutoCloseable {
    static {
        Torch.load();
    }

    /** The optimizer algorithm. */
    public enum Kind { ADAMW, ADAM, SGD }

    /**
     * Whether {@code AdamOptions.betas()} (a {@code std::tuple<double, double>}) lays out beta2 before beta1, as
     * libstdc++ does. Read once from the library's defaults (0.9, 0.999) rather than assumed.
     */
    private static final boolean BETAS_REVERSED = detectBetaLayout();

    private final Kind kind;
    private final org.bytedeco.pytorch.Optimizer handle;
    private final TensorVector params;
    private final int paramCount;
    private boolean closed;

    private Optimizer(Kind kind, org.bytedeco.pytorch.Optimizer handle, TensorVector params, int paramCount) {
        this.kind = kind;
        this.handle = handle;
        this.params = params;
        this.paramCount = paramCount;
        handle.retainReference();
        params.retainReference();
    }

    /** AdamW (decoupled weight decay, Loshchilov &amp; Hutter 2019), PyTorch's {@code torch.optim.AdamW}. */
    public static Optimizer adamW(List<Tensor> params, double lr, double beta1, double beta2, double eps,
                                  double weightDecay) {
        checkAdam(params, lr, beta1, beta2, eps, weightDecay);
        try (PointerScope ignored = new PointerScope()) {
            AdamWOptions o = new AdamWOptions(lr);
            setBetas(o.betas(), beta1, beta2);
            o.eps().put(eps);
            o.weight_decay().put(weightDecay);
            TensorVector v = vector(params);
            return new Optimizer(Kind.ADAMW, new AdamW(v, o), v, params.size());
        } catch (RuntimeException e) {
            throw failure("create AdamW", e);
        }
    }

    /** Adam (L2 weight decay added to the gradient), PyTorch's {@code torch.optim.Adam}. */
    public static Optimizer adam(List<Tensor> params, double lr, double beta1, double beta2, double eps,
                                 double weightDecay) {
        checkAdam(params, lr, beta1, beta2, eps, weightDecay);
        try (PointerScope ignored = new PointerScope()) {
            AdamOptions o = new AdamOptions(lr);
            setBetas(o.betas(), beta1, beta2);
            o.eps().put(eps);
            o.weight_decay().put(weightDecay);
            TensorVector v = vector(params);
            return new Optimizer(Kind.ADAM, new Adam(v, o), v, params.size());
        } catch (RuntimeException e) {
            throw failure("create Adam", e);
        }
    }

    /** Stochastic gradient descent with optional momentum, PyTorch's {@code torch.optim.SGD}. */
    public static Optimizer sgd(List<Tensor> params, double lr, double momentum, double weightDecay) {
        checkParams(params);
        checkLr(lr);
        if (!(momentum >= 0 && momentum < 1)) {
            throw new IllegalArgumentException("momentum must be in [0, 1), got " + momentum);
        }
        checkWeightDecay(weightDecay);
        try (PointerScope ignored = new PointerScope()) {
            SGDOptions o = new SGDOptions(lr);
            o.momentum().put(momentum);
            o.weight_decay().put(weightDecay);
            TensorVector v = vector(params);
            return new Optimizer(Kind.SGD, new SGD(v, o), v, params.size());
        } catch (RuntimeException e) {
            throw failure("create SGD", e);
        }
    }

    public Kind kind() {
        return kind;
    }

    /** The number of parameter tensors this optimizer updates. */
    public int parameterCount() {
        return paramCount;
    }

    /** Clears the gradients of every parameter (sets them to none, as PyTorch 2 does by default). */
    public void zeroGrad() {
        try {
            handle().zero_grad(true);
        } catch (RuntimeException e) {
            throw failure("zero_grad", e);
        }
    }

    /** Updates the parameters from their gradients (parameters without a gradient are left alone). */
    public void step() {
        try (PointerScope ignored = new PointerScope()) {
            handle().step();
        } catch (RuntimeException e) {
            throw failure(kind + " step", e);
        }
    }

    /** The learning rate of the first parameter group. */
    public double learningRate() {
        try (PointerScope ignored = new PointerScope()) {
            return handle().param_groups().get(0).options().get_lr();
        }
    }

    /** Sets the learning rate of every parameter group ({@code >= 0}: a schedule may end at 0). */
    public void setLearningRate(double lr) {
        if (!(lr >= 0) || Double.isInfinite(lr)) {
            throw new IllegalArgumentException("learning rate must be >= 0 and finite, got " + lr);
        }
        try (PointerScope ignored = new PointerScope()) {
            OptimizerParamGroupVector groups = handle().param_groups();
            for (long i = 0, n = groups.size(); i < n; i++) {
                groups.get(i).options().set_lr(lr);
            }
        }
    }

    /**
     * The optimizer's state (per-parameter moments, step counts, group options) in LibTorch's serialization
     * format ({@code torch::serialize::OutputArchive}).
     */
    public byte[] saveState() {
        handle();
        Path tmp = null;
        try (PointerScope ignored = new PointerScope()) {
            tmp = Files.createTempFile("diffusion4j-optimizer", ".pt");
            OutputArchive archive = new OutputArchive();
            handle.save(archive);
            archive.save_to(tmp.toString());
            return Files.readAllBytes(tmp);
        } catch (IOException e) {
            throw new NativeOperationException("cannot stage the " + kind + " optimizer state: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw failure("save " + kind + " state", e);
        } finally {
            deleteQuietly(tmp);
        }
    }

    /**
     * Restores a state written by {@link #saveState()} of an optimizer of the same kind over parameters of the same
     * shapes, in the same order.
     *
     * @throws IllegalArgumentException if the bytes are not such a state
     */
    public void loadState(byte[] state) {
        handle();
        if (state == null || state.length == 0) {
            throw new IllegalArgumentException("optimizer state is empty");
        }
        Path tmp = null;
        try (PointerScope ignored = new PointerScope()) {
            tmp = Files.createTempFile("diffusion4j-optimizer", ".pt");
            Files.write(tmp, state);
            InputArchive archive = new InputArchive();
            archive.load_from(tmp.toString());
            handle.load(archive);
        } catch (IOException e) {
            throw new NativeOperationException("cannot stage the " + kind + " optimizer state: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("not a " + kind + " optimizer state for these " + paramCount
                    + " parameters: " + NativeErrors.summary(e), e);
        } finally {
            deleteQuietly(tmp);
        }
    }

    /** The native optimizer, valid while this object is open (escape hatch; do not deallocate it). */
    public org.bytedeco.pytorch.Optimizer unwrap() {
        return handle();
    }

    private org.bytedeco.pytorch.Optimizer handle() {
        if (closed) {
            throw new IllegalStateException(kind + " optimizer is closed");
        }
        return handle;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            handle.releaseReference();
            params.releaseReference();
        }
    }

    // ---- helpers -----------------------------------------------------------------------------------------

    private static TensorVector vector(List<Tensor> params) {
        TensorVector v = new TensorVector();
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            if (p == null) {
                throw new IllegalArgumentException("parameter " + i + " is null");
            }
            if (!p.dtype().isFloatingPoint()) {
                throw new IllegalArgumentException("parameter " + i + " (" + p.describe()
                        + ") is not floating point; an optimizer updates float tensors only");
            }
            v.push_back(p.unwrap());
        }
        return v;
    }

    private static void setBetas(DoublePointer betas, double beta1, double beta2) {
        betas.put(BETAS_REVERSED ? 0 : 1, beta2);
        betas.put(BETAS_REVERSED ? 1 : 0, beta1);
    }

    private static boolean detectBetaLayout() {
        Torch.load();
        try (PointerScope ignored = new PointerScope()) {
            DoublePointer b = new AdamOptions().betas();
            double first = b.get(0);
            double second = b.get(1);
            if (first == 0.9 && second == 0.999) {
                return false;
            }
            if (first == 0.999 && second == 0.9) {
                return true;
            }
            throw new IllegalStateException("unexpected default Adam betas (" + first + ", " + second + ")");
        }
    }

    private static void checkAdam(List<Tensor> params, double lr, double beta1, double beta2, double eps,
                                  double weightDecay) {
        checkParams(params);
        checkLr(lr);
        if (!(beta1 >= 0 && beta1 < 1)) {
            throw new IllegalArgumentException("beta1 must be in [0, 1), got " + beta1);
        }
        if (!(beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("beta2 must be in [0, 1), got " + beta2);
        }
        if (!(eps > 0) || Double.isInfinite(eps)) {
            throw new IllegalArgumentException("eps must be > 0, got " + eps);
        }
        checkWeightDecay(weightDecay);
    }

    private static void checkParams(List<Tensor> params) {
        if (params == null || params.isEmpty()) {
            throw new IllegalArgumentException("an optimizer needs at least one parameter tensor, got none");
        }
    }

    private static void checkLr(double lr) {
        if (!(lr > 0) || Double.isInfinite(lr)) {
            throw new IllegalArgumentException("learning rate must be > 0 and finite, got " + lr);
        }
    }

    private static void checkWeightDecay(double weightDecay) {
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
            throw new IllegalArgumentException("weight decay must be >= 0 and finite, got " + weightDecay);
        }
    }

    private static NativeOperationException failure(String op, RuntimeException e) {
        if (e instanceof IllegalStateException || e instanceof IllegalArgumentException
                || e instanceof NativeOperationException) {
            throw e;
        }
        return new NativeOperationException(op + " failed: " + NativeErrors.summary(e), e);
    }

    private static void deleteQuietly(Path p) {
        if (p != null) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException ignored) {
                // a leftover temp file is harmless
            }
        }
    }
}
