package io.diffusion4j.bindings;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * A handle to a native tensor (LibTorch), with the operations diffusion4j needs. Pure ops return new tensors; an
 * op that modifies this tensor says so ({@code InPlace}).
 *
 * <p>Ownership: a tensor made while a {@link NativeScope} is open belongs to that scope and is freed when it
 * closes; otherwise its maker closes it (or, late, the garbage collector frees it). Using a closed tensor throws
 * {@link IllegalStateException}. Not thread-safe.
 *
 * <p>Escape hatch: {@link #wrap} and {@link #unwrap} convert from and to {@code org.bytedeco.pytorch.Tensor} for
 * what this handle does not offer.
 */
public final class Tensor implements AutoCloseable {
    static {
        Torch.load();
    }

    private org.bytedeco.pytorch.Tensor t;
    /** The scope that owns this tensor, or null when the caller owns it. */
    NativeScope scope;

    private Tensor(org.bytedeco.pytorch.Tensor t) {
        this.t = t;
        t.retainReference();
        NativeScope s = NativeScope.current();
        this.scope = s;
        if (s != null) {
            s.register(this);
        }
    }

    /** Takes ownership of a native result made by this package. */
    static Tensor own(org.bytedeco.pytorch.Tensor t) {
        return new Tensor(t);
    }

    /**
     * A new handle on the same tensor (shared storage) as {@code tensor}. The caller keeps ownership of its own
     * object; the handle holds its own native reference and follows the usual ownership rules.
     */
    public static Tensor wrap(org.bytedeco.pytorch.Tensor tensor) {
        Torch.load();
        if (tensor == null || tensor.isNull() || !tensor.defined()) {
            throw new IllegalArgumentException("cannot wrap an undefined tensor");
        }
        return new Tensor(new org.bytedeco.pytorch.Tensor(tensor));
    }

    /**
     * The underlying native tensor, valid while this handle is open. Do not close or deallocate it; to keep it
     * longer, copy the reference with {@code new org.bytedeco.pytorch.Tensor(unwrap())}.
     */
    public org.bytedeco.pytorch.Tensor unwrap() {
        org.bytedeco.pytorch.Tensor h = t;
        if (h == null) {
            throw new IllegalStateException("tensor is closed");
        }
        return h;
    }

    public boolean isClosed() {
        return t == null;
    }

    /** Frees this tensor now (its storage is freed once no other tensor views it). Idempotent. */
    @Override
    public void close() {
        org.bytedeco.pytorch.Tensor h = t;
        if (h != null) {
            t = null;
            scope = null;
            h.releaseReference();
        }
    }

    // ---- factories ---------------------------------------------------------------------------------------

    public static Tensor zeros(DType dtype, Device device, long... shape) {
        try (PointerScope ignored = new PointerScope()) {
            return own(torch.zeros(shape, options(dtype, device)));
        } catch (RuntimeException e) {
            throw failure("zeros" + Arrays.toString(shape), e);
        }
    }

    public static Tensor full(double value, DType dtype, Device device, long... shape) {
        try (PointerScope ignored = new PointerScope()) {
            return own(torch.full(shape, new org.bytedeco.pytorch.Scalar(value), options(dtype, device)));
        } catch (RuntimeException e) {
            throw failure("full" + Arrays.toString(shape), e);
        }
    }

    /** A float32 tensor on the CPU holding a copy of {@code data}, laid out row-major in {@code shape}. */
    public static Tensor fromFloats(float[] data, long... shape) {
        checkCount(data.length, shape);
        Torch.load();
        try (PointerScope ignored = new PointerScope()) {
            org.bytedeco.pytorch.Tensor t = emptyHost(torch.ScalarType.Float, shape);
            t.data_ptr_float().put(data); // straight into the new storage: no JavaCPP-managed staging buffer
            return own(t);
        }
    }

    private static org.bytedeco.pytorch.Tensor emptyHost(torch.ScalarType type, long[] shape) {
        return torch.empty(shape, new TensorOptions(type), new org.bytedeco.pytorch.MemoryFormatOptional());
    }

    /** A float64 tensor on the CPU holding a copy of {@code data}. */
    public static Tensor fromDoubles(double[] data, long... shape) {
        checkCount(data.length, shape);
        Torch.load();
        try (PointerScope ignored = new PointerScope()) {
            org.bytedeco.pytorch.Tensor t = emptyHost(torch.ScalarType.Double, shape);
            t.data_ptr_double().put(data);
            return own(t);
        }
    }

    /** An int64 tensor on the CPU holding a copy of {@code data}. */
    public static Tensor fromLongs(long[] data, long... shape) {
        checkCount(data.length, shape);
        Torch.load();
        try (PointerScope ignored = new PointerScope()) {
            org.bytedeco.pytorch.Tensor t = emptyHost(torch.ScalarType.Long, shape);
            t.data_ptr_long().put(data);
            return own(t);
        }
    }

    /**
     * Standard normal noise drawn from {@code generator} (on the CPU, then moved to {@code device}), identical to
     * Python's {@code torch.randn(shape, generator=g)} for the same generator state.
     */
    public static Tensor randn(Generator generator, DType dtype, Device device, long... shape) {
        try (PointerScope ignored = new PointerScope()) {
            org.bytedeco.pytorch.Tensor r = torch.randn(shape, generator.optional(),
                    new TensorOptions(torch.ScalarType.Float));
            if (dtype != DType.FLOAT32 || device.isCuda()) {
                r = r.to(device.toNative(), dtype.scalarType());
            }
            return own(r);
        } catch (RuntimeException e) {
            throw failure("randn" + Arrays.toString(shape) + " on " + device, e);
        }
    }

    /**
     * One draw per generator, stacked: row i is {@code randn(shapeOfOne)} from {@code generators.get(i)}, exactly
     * as {@code torch.cat([torch.randn(shapeOfOne, generator=g) for g in generators])} in Python. Made in one native
     * batch (no handle per row), then moved to {@code device}.
     *
     * @param shapeOfOne the shape of one draw, leading dimension 1 (e.g. {@code [1, C, H, W]})
     */
    public static Tensor randnStacked(List<Generator> generators, DType dtype, Device device, long... shapeOfOne) {
        if (generators.isEmpty()) {
            throw new IllegalArgumentException("randnStacked needs at least one generator");
        }
        try (PointerScope ignored = new PointerScope()) {
            TensorOptions f32 = new TensorOptions(torch.ScalarType.Float);
            TensorVector rows = new TensorVector();
            for (Generator g : generators) {
                rows.push_back(torch.randn(shapeOfOne, g.optional(), f32));
            }
            org.bytedeco.pytorch.Tensor r = torch.cat(rows, 0);
            if (dtype != DType.FLOAT32 || device.isCuda()) {
                r = r.to(device.toNative(), dtype.scalarType());
            }
            return own(r);
        } catch (RuntimeException e) {
            throw failure("randn" + Arrays.toString(shapeOfOne) + " x " + generators.size() + " on " + device, e);
        }
    }

    /** Concatenates along {@code dim}. */
    public static Tensor cat(List<Tensor> tensors, int dim) {
        if (tensors.isEmpty()) {
            throw new IllegalArgumentException("cat needs at least one tensor");
        }
        try (PointerScope ignored = new PointerScope()) {
            TensorVector v = new TensorVector();
            for (Tensor x : tensors) {
                v.push_back(x.unwrap());
            }
            return own(torch.cat(v, dim));
        } catch (RuntimeException e) {
            throw failure("cat(" + describeAll(tensors) + ", dim=" + dim + ")", e);
        }
    }

    /** Stacks along a new dimension {@code dim}. */
    public static Tensor stack(List<Tensor> tensors, int dim) {
        if (tensors.isEmpty()) {
            throw new IllegalArgumentException("stack needs at least one tensor");
        }
        try (PointerScope ignored = new PointerScope()) {
            TensorVector v = new TensorVector();
            for (Tensor x : tensors) {
                v.push_back(x.unwrap());
            }
            return own(torch.stack(v, dim));
        } catch (RuntimeException e) {
            throw failure("stack(" + describeAll(tensors) + ", dim=" + dim + ")", e);
        }
    }

    // ---- facts -------------------------------------------------------------------------------------------

    public long[] shape() {
        org.bytedeco.pytorch.Tensor h = unwrap();
        int n = (int) h.dim();
        long[] s = new long[n];
        for (int i = 0; i < n; i++) {
            s[i] = h.size(i);
        }
        return s;
    }

    public int dim() {
        return (int) unwrap().dim();
    }

    public long size(int dim) {
        return unwrap().size(dim);
    }

    public long numel() {
        return unwrap().numel();
    }

    public DType dtype() {
        return DType.of(unwrap().scalar_type());
    }

    public Device device() {
        try (PointerScope ignored = new PointerScope()) {
            return Device.of(unwrap().device());
        }
    }

    /** E.g. {@code float32[4, 1, 8, 8] on cpu}. */
    public String describe() {
        if (t == null) {
            return "<closed tensor>";
        }
        return dtype().label() + Arrays.toString(shape()) + (unwrap().is_cuda() ? " on " + device() : "");
    }

    @Override
    public String toString() {
        return "Tensor(" + describe() + ")";
    }

    // ---- arithmetic (new tensors) ------------------------------------------------------------------------

    public Tensor add(Tensor other) {
        try {
            return own(unwrap().add(other.unwrap()));
        } catch (RuntimeException e) {
            throw failure("add", this, other, e);
        }
    }

    /** {@code this + alpha * other}. */
    public Tensor add(Tensor other, Scalar alpha) {
        try {
            return own(unwrap().add(other.unwrap(), alpha.handle()));
        } catch (RuntimeException e) {
            throw failure("add", this, other, e);
        }
    }

    /** {@code this + alpha * other}. */
    public Tensor add(Tensor other, double alpha) {
        try (PointerScope ignored = new PointerScope()) {
            return own(unwrap().add(other.unwrap(), new org.bytedeco.pytorch.Scalar(alpha)));
        } catch (RuntimeException e) {
            throw failure("add", this, other, e);
        }
    }

    public Tensor add(double value) {
        try (PointerScope ignored = new PointerScope()) {
            return own(unwrap().add(new org.bytedeco.pytorch.Scalar(value)));
        } catch (RuntimeException e) {
            throw failure("add(" + value + ")", this, null, e);
        }
    }

    public Tensor sub(Tensor other) {
        try {
            return own(unwrap().sub(other.unwrap()));
        } catch (RuntimeException e) {
            throw failure("sub", this, other, e);
        }
    }

    public Tensor mul(Tensor other) {
        try {
            return own(unwrap().mul(other.unwrap()));
        } catch (RuntimeException e) {
            throw failure("mul", this, other, e);
        }
    }

    public Tensor mul(Scalar s) {
        try {
            return own(unwrap().mul(s.handle()));
        } catch (RuntimeException e) {
            throw failure("mul(" + s + ")", this, null, e);
        }
    }

    public Tensor mul(double value) {
        try (PointerScope ignored = new PointerScope()) {
            return own(unwrap().mul(new org.bytedeco.pytorch.Scalar(value)));
        } catch (RuntimeException e) {
            throw failure("mul(" + value + ")", this, null, e);
        }
    }

    public Tensor div(Tensor other) {
        try {
            return own(unwrap().div(other.unwrap()));
        } catch (RuntimeException e) {
            throw failure("div", this, other, e);
        }
    }

    public Tensor div(double value) {
        try (PointerScope ignored = new PointerScope()) {
            return own(unwrap().div(new org.bytedeco.pytorch.Scalar(value)));
        } catch (RuntimeException e) {
            throw failure("div(" + value + ")", this, null, e);
        }
    }

    /** {@code a * sa + b * sb} in two fused native ops (the shape of most scheduler steps). */
    public static Tensor linearCombination(Tensor a, Scalar sa, Tensor b, Scalar sb) {
        try (PointerScope ignored = new PointerScope()) {
            return own(torch.add(a.unwrap().mul(sa.handle()), b.unwrap(), sb.handle()));
        } catch (RuntimeException e) {
            throw failure("linear combination", a, b, e);
        }
    }

    public Tensor neg() {
        try {
            return own(unwrap().neg());
        } catch (RuntimeException e) {
            throw failure("neg", this, null, e);
        }
    }

    public Tensor sqrt() {
        try {
            return own(unwrap().sqrt());
        } catch (RuntimeException e) {
            throw failure("sqrt", this, null, e);
        }
    }

    public Tensor exp() {
        try {
            return own(unwrap().exp());
        } catch (RuntimeException e) {
            throw failure("exp", this, null, e);
        }
    }

    public Tensor log() {
        try {
            return own(unwrap().log());
        } catch (RuntimeException e) {
            throw failure("log", this, null, e);
        }
    }

    public Tensor abs() {
        try {
            return own(unwrap().abs());
        } catch (RuntimeException e) {
            throw failure("abs", this, null, e);
        }
    }

    /** {@code x * sigmoid(x)} (SiLU / swish). */
    public Tensor silu() {
        try {
            return own(torch.silu(unwrap()));
        } catch (RuntimeException e) {
            throw failure("silu", this, null, e);
        }
    }

    /** {@code max(x, 0)}. */
    public Tensor relu() {
        try {
            return own(unwrap().relu());
        } catch (RuntimeException e) {
            throw failure("relu", this, null, e);
        }
    }

    public Tensor tanh() {
        try {
            return own(unwrap().tanh());
        } catch (RuntimeException e) {
            throw failure("tanh", this, null, e);
        }
    }

    public Tensor sin() {
        try {
            return own(unwrap().sin());
        } catch (RuntimeException e) {
            throw failure("sin", this, null, e);
        }
    }

    public Tensor cos() {
        try {
            return own(unwrap().cos());
        } catch (RuntimeException e) {
            throw failure("cos", this, null, e);
        }
    }

    /** Matrix product with PyTorch's broadcasting rules ({@code torch.matmul}); batched for 3-D operands. */
    public Tensor matmul(Tensor other) {
        try {
            return own(unwrap().matmul(other.unwrap()));
        } catch (RuntimeException e) {
            throw failure("matmul", this, other, e);
        }
    }

    /** {@code softmax} along {@code dim}, computed in this tensor's dtype. */
    public Tensor softmax(int dim) {
        try {
            return own(unwrap().softmax(dim));
        } catch (RuntimeException e) {
            throw failure("softmax(" + dim + ")", this, null, e);
        }
    }

    /** Swaps dimensions {@code a} and {@code b} (a view). */
    public Tensor transpose(int a, int b) {
        try {
            return own(unwrap().transpose(a, b));
        } catch (RuntimeException e) {
            throw failure("transpose(" + a + ", " + b + ")", this, null, e);
        }
    }

    /**
     * Zero padding of the last two dimensions ({@code F.pad(x, (left, right, top, bottom))}); negative values crop.
     */
    public Tensor pad2d(long left, long right, long top, long bottom) {
        try {
            return own(torch.constant_pad_nd(unwrap(), left, right, top, bottom));
        } catch (RuntimeException e) {
            throw failure("pad(" + left + ", " + right + ", " + top + ", " + bottom + ")", this, null, e);
        }
    }

    /** {@code F.conv2d(x, weight, stride=stride)}: no bias, no padding ({@code weight [out, in, kh, kw]}). */
    public Tensor conv2d(Tensor weight, int stride) {
        try (PointerScope ignored = new PointerScope()) {
            return own(torch.conv2d(unwrap(), weight.unwrap(), new TensorOptional(), new long[] {stride, stride},
                    new long[] {0, 0}, new long[] {1, 1}, 1));
        } catch (RuntimeException e) {
            throw failure("conv2d(stride " + stride + ")", this, weight, e);
        }
    }

    /** {@code F.avg_pool2d(x, k)}: mean over non-overlapping {@code k x k} windows of {@code [B, C, H, W]}. */
    public Tensor avgPool2d(int k) {
        try {
            return own(torch.avg_pool2d(unwrap(), k, k));
        } catch (RuntimeException e) {
            throw failure("avg_pool2d(" + k + ")", this, null, e);
        }
    }

    /** {@code F.interpolate(x, scale_factor=k, mode="nearest")} for {@code [B, C, H, W]}: each pixel repeated k x k. */
    public Tensor upsampleNearest(int k) {
        long[] s = shape();
        if (s.length != 4) {
            throw new IllegalArgumentException("upsampleNearest takes [B, C, H, W], got " + describe());
        }
        try (NativeScope scope = new NativeScope()) {
            Tensor up = unsqueeze(3).unsqueeze(5).expand(s[0], s[1], s[2], k, s[3], k)
                    .reshape(s[0], s[1], s[2] * k, s[3] * k);
            return scope.keep(up);
        }
    }

    /** {@code [B, C*r*r, H, W] -> [B, C, H*r, W*r]} (PyTorch's {@code pixel_shuffle}). */
    public Tensor pixelShuffle(int factor) {
        try {
            return own(torch.pixel_shuffle(unwrap(), factor));
        } catch (RuntimeException e) {
            throw failure("pixel_shuffle(" + factor + ")", this, null, e);
        }
    }

    public Tensor square() {
        try {
            return own(unwrap().square());
        } catch (RuntimeException e) {
            throw failure("square", this, null, e);
        }
    }

    public Tensor clamp(double min, double max) {
        try (PointerScope ignored = new PointerScope()) {
            return own(unwrap().clamp(new ScalarOptional(new org.bytedeco.pytorch.Scalar(min)),
                    new ScalarOptional(new org.bytedeco.pytorch.Scalar(max))));
        } catch (RuntimeException e) {
            throw failure("clamp(" + min + ", " + max + ")", this, null, e);
        }
    }

    /** Element-wise {@code max(this, min)}. */
    public Tensor clampMin(double min) {
        try (PointerScope ignored = new PointerScope()) {
            return own(unwrap().clamp_min(new org.bytedeco.pytorch.Scalar(min)));
        } catch (RuntimeException e) {
            throw failure("clampMin(" + min + ")", this, null, e);
        }
    }

    /** Element-wise maximum (broadcast). */
    public Tensor maximum(Tensor other) {
        try {
            return own(unwrap().maximum(other.unwrap()));
        } catch (RuntimeException e) {
            throw failure("maximum", this, other, e);
        }
    }

    /** Element-wise clamp between tensors (broadcast). */
    public Tensor clamp(Tensor min, Tensor max) {
        try (PointerScope ignored = new PointerScope()) {
            return own(unwrap().clamp(new TensorOptional(min.unwrap()), new TensorOptional(max.unwrap())));
        } catch (RuntimeException e) {
            throw failure("clamp", this, min, e);
        }
    }

    /** Linear interpolation {@code this + weight * (end - this)}, weight broadcast. */
    public Tensor lerp(Tensor end, Tensor weight) {
        try {
            return own(unwrap().lerp(end.unwrap(), weight.unwrap()));
        } catch (RuntimeException e) {
            throw failure("lerp", this, end, e);
        }
    }

    /** The {@code q}-quantile along {@code dim}. */
    public Tensor quantile(double q, int dim, boolean keepDim) {
        try (PointerScope ignored = new PointerScope()) {
            return own(unwrap().quantile(q, new LongOptional(dim), keepDim, "linear"));
        } catch (RuntimeException e) {
            throw failure("quantile(" + q + ", dim=" + dim + ")", this, null, e);
        }
    }

    // ---- reductions --------------------------------------------------------------------------------------

    public Tensor sum() {
        try {
            return own(unwrap().sum());
        } catch (RuntimeException e) {
            throw failure("sum", this, null, e);
        }
    }

    public Tensor mean() {
        try {
            return own(unwrap().mean());
        } catch (RuntimeException e) {
            throw failure("mean", this, null, e);
        }
    }

    /** Sum over {@code dims}. */
    public Tensor sum(boolean keepDim, long... dims) {
        try (PointerScope ignored = new PointerScope()) {
            return own(unwrap().sum(dims, keepDim, new org.bytedeco.pytorch.ScalarTypeOptional()));
        } catch (RuntimeException e) {
            throw failure("sum" + Arrays.toString(dims), this, null, e);
        }
    }

    /** Mean over {@code dims}. */
    public Tensor mean(boolean keepDim, long... dims) {
        try (PointerScope ignored = new PointerScope()) {
            return own(unwrap().mean(dims, keepDim, new org.bytedeco.pytorch.ScalarTypeOptional()));
        } catch (RuntimeException e) {
            throw failure("mean" + Arrays.toString(dims), this, null, e);
        }
    }

    /** Index of the largest value along {@code dim}. */
    public Tensor argmax(int dim) {
        try (PointerScope ignored = new PointerScope()) {
            return own(unwrap().argmax(new LongOptional(dim), false));
        } catch (RuntimeException e) {
            throw failure("argmax(dim=" + dim + ")", this, null, e);
        }
    }

    /** Whether every element is finite (not NaN or infinite). Reads one value back from the device. */
    public boolean allFinite() {
        try (PointerScope ignored = new PointerScope()) {
            return unwrap().isfinite().all().item_bool();
        } catch (RuntimeException e) {
            throw failure("isfinite", this, null, e);
        }
    }

    // ---- shape and indexing ------------------------------------------------------------------------------

    public Tensor reshape(long... shape) {
        try {
            return own(unwrap().reshape(shape));
        } catch (RuntimeException e) {
            throw failure("reshape to " + Arrays.toString(shape), this, null, e);
        }
    }

    public Tensor unsqueeze(int dim) {
        try {
            return own(unwrap().unsqueeze(dim));
        } catch (RuntimeException e) {
            throw failure("unsqueeze(" + dim + ")", this, null, e);
        }
    }

    public Tensor expand(long... shape) {
        try {
            return own(unwrap().expand(shape));
        } catch (RuntimeException e) {
            throw failure("expand to " + Arrays.toString(shape), this, null, e);
        }
    }

    /** Repeats the tensor along each dimension {@code repeats[i]} times. */
    public Tensor repeat(long... repeats) {
        try {
            return own(unwrap().repeat(repeats));
        } catch (RuntimeException e) {
            throw failure("repeat" + Arrays.toString(repeats), this, null, e);
        }
    }

    public Tensor narrow(int dim, long start, long length) {
        try {
            return own(unwrap().narrow(dim, start, length));
        } catch (RuntimeException e) {
            throw failure("narrow(dim=" + dim + ", " + start + ", " + length + ")", this, null, e);
        }
    }

    public Tensor select(int dim, long index) {
        try {
            return own(unwrap().select(dim, index));
        } catch (RuntimeException e) {
            throw failure("select(dim=" + dim + ", " + index + ")", this, null, e);
        }
    }

    public Tensor permute(long... dims) {
        try {
            return own(unwrap().permute(dims));
        } catch (RuntimeException e) {
            throw failure("permute" + Arrays.toString(dims), this, null, e);
        }
    }

    public Tensor indexSelect(int dim, Tensor index) {
        try {
            return own(unwrap().index_select(dim, index.unwrap()));
        } catch (RuntimeException e) {
            throw failure("index_select(dim=" + dim + ")", this, index, e);
        }
    }

    public Tensor gather(int dim, Tensor index) {
        try {
            return own(unwrap().gather(dim, index.unwrap()));
        } catch (RuntimeException e) {
            throw failure("gather(dim=" + dim + ")", this, index, e);
        }
    }

    /** Splits into {@code chunks} parts along {@code dim}. */
    public List<Tensor> chunk(int chunks, int dim) {
        try (PointerScope ignored = new PointerScope()) {
            TensorVector v = unwrap().chunk(chunks, dim);
            List<Tensor> out = new ArrayList<>((int) v.size());
            for (long i = 0; i < v.size(); i++) {
                out.add(own(new org.bytedeco.pytorch.Tensor(v.get(i))));
            }
            return out;
        } catch (RuntimeException e) {
            throw failure("chunk(" + chunks + ", dim=" + dim + ")", this, null, e);
        }
    }

    // ---- conversion --------------------------------------------------------------------------------------

    public Tensor to(Device device) {
        try (PointerScope ignored = new PointerScope()) {
            return own(unwrap().to(device.toNative(), unwrap().scalar_type()));
        } catch (RuntimeException e) {
            throw failure("move to " + device, this, null, e);
        }
    }

    public Tensor to(DType dtype) {
        try {
            return own(unwrap().to(dtype.scalarType()));
        } catch (RuntimeException e) {
            throw failure("convert to " + dtype.label(), this, null, e);
        }
    }

    public Tensor to(Device device, DType dtype) {
        try (PointerScope ignored = new PointerScope()) {
            return own(unwrap().to(device.toNative(), dtype.scalarType()));
        } catch (RuntimeException e) {
            throw failure("move to " + device + " as " + dtype.label(), this, null, e);
        }
    }

    public Tensor contiguous() {
        return own(unwrap().contiguous());
    }

    /** A copy with its own storage. */
    public Tensor copy() {
        try (PointerScope ignored = new PointerScope()) {
            return own(unwrap().clone(new org.bytedeco.pytorch.MemoryFormatOptional()));
        }
    }

    /** The same values without autograd history. */
    public Tensor detach() {
        return own(unwrap().detach());
    }

    // ---- in place ----------------------------------------------------------------------------------------

    /** {@code this *= s}; returns this. */
    public Tensor mulInPlace(Scalar s) {
        try {
            unwrap().mul_(s.handle());
            return this;
        } catch (RuntimeException e) {
            throw failure("mul_(" + s + ")", this, null, e);
        }
    }

    /** {@code this += alpha * other}; returns this. */
    public Tensor addInPlace(Tensor other, Scalar alpha) {
        try {
            unwrap().add_(other.unwrap(), alpha.handle());
            return this;
        } catch (RuntimeException e) {
            throw failure("add_", this, other, e);
        }
    }

    /** {@code this += other}; returns this. */
    public Tensor addInPlace(Tensor other) {
        try {
            unwrap().add_(other.unwrap());
            return this;
        } catch (RuntimeException e) {
            throw failure("add_", this, other, e);
        }
    }

    /** Clamps this tensor in place; returns this. */
    public Tensor clampInPlace(Scalar min, Scalar max) {
        try {
            unwrap().clamp_(min.optional(), max.optional());
            return this;
        } catch (RuntimeException e) {
            throw failure("clamp_", this, null, e);
        }
    }

    /** Copies {@code source} (broadcast, converted) into this tensor; returns this. */
    public Tensor copyFrom(Tensor source) {
        try {
            unwrap().copy_(source.unwrap());
            return this;
        } catch (RuntimeException e) {
            throw failure("copy_", this, source, e);
        }
    }

    // ---- reading back ------------------------------------------------------------------------------------

    /** All values as float32, row-major (copies to the CPU if needed). */
    public float[] toFloatArray() {
        try (PointerScope ignored = new PointerScope()) {
            org.bytedeco.pytorch.Tensor c = hostContiguous(torch.ScalarType.Float);
            float[] out = new float[(int) c.numel()];
            c.data_ptr_float().get(out);
            return out;
        }
    }

    /** All values as float64, row-major. */
    public double[] toDoubleArray() {
        try (PointerScope ignored = new PointerScope()) {
            org.bytedeco.pytorch.Tensor c = hostContiguous(torch.ScalarType.Double);
            double[] out = new double[(int) c.numel()];
            c.data_ptr_double().get(out);
            return out;
        }
    }

    /** All values as int64, row-major. */
    public long[] toLongArray() {
        try (PointerScope ignored = new PointerScope()) {
            org.bytedeco.pytorch.Tensor c = hostContiguous(torch.ScalarType.Long);
            long[] out = new long[(int) c.numel()];
            c.data_ptr_long().get(out);
            return out;
        }
    }

    /** The single value of a one-element tensor. */
    public double item() {
        if (numel() != 1) {
            throw new IllegalStateException("item() needs a one-element tensor, got " + describe());
        }
        return unwrap().item_double();
    }

    private org.bytedeco.pytorch.Tensor hostContiguous(torch.ScalarType type) {
        org.bytedeco.pytorch.Tensor h = unwrap();
        org.bytedeco.pytorch.Tensor c = h.to(new org.bytedeco.pytorch.Device(torch.DeviceType.CPU), type);
        return c.contiguous();
    }

    // ---- autograd (training) ------------------------------------------------------------------------------

    /**
     * Overwrites this tensor (e.g. a parameter) with {@code U(low, high)} draws from {@code generator}, without
     * recording autograd: the numbers of Python's {@code torch.empty(shape).uniform_(low, high, generator=g)} (drawn
     * on the CPU, then copied to this tensor's device and dtype). Returns this.
     */
    public Tensor uniformInPlace(Generator generator, double low, double high) {
        if (!(low <= high)) {
            throw new IllegalArgumentException("uniform needs low <= high, got " + low + ", " + high);
        }
        try (PointerScope ignored = new PointerScope(); org.bytedeco.pytorch.NoGradGuard g = new org.bytedeco.pytorch.NoGradGuard()) {
            org.bytedeco.pytorch.Tensor r = torch.empty(shape(), new TensorOptions(torch.ScalarType.Float),
                    new org.bytedeco.pytorch.MemoryFormatOptional());
            r.uniform_(low, high, generator.optional());
            unwrap().copy_(r);
            return this;
        } catch (RuntimeException e) {
            throw failure("uniform_(" + low + ", " + high + ")", this, null, e);
        }
    }

    /**
     * Overwrites this tensor with {@code N(mean, std^2)} draws from {@code generator}, without recording autograd
     * (Python's {@code torch.empty(shape).normal_(mean, std, generator=g)}). Returns this.
     */
    public Tensor normalInPlace(Generator generator, double mean, double std) {
        if (!(std >= 0)) {
            throw new IllegalArgumentException("normal needs std >= 0, got " + std);
        }
        try (PointerScope ignored = new PointerScope(); org.bytedeco.pytorch.NoGradGuard g = new org.bytedeco.pytorch.NoGradGuard()) {
            org.bytedeco.pytorch.Tensor r = torch.empty(shape(), new TensorOptions(torch.ScalarType.Float),
                    new org.bytedeco.pytorch.MemoryFormatOptional());
            r.normal_(mean, std, generator.optional());
            unwrap().copy_(r);
            return this;
        } catch (RuntimeException e) {
            throw failure("normal_(" + mean + ", " + std + ")", this, null, e);
        }
    }

    /** Overwrites every element with {@code value}, without recording autograd. Returns this. */
    public Tensor fillInPlace(double value) {
        try (PointerScope ignored = new PointerScope(); org.bytedeco.pytorch.NoGradGuard g = new org.bytedeco.pytorch.NoGradGuard()) {
            unwrap().fill_(new org.bytedeco.pytorch.Scalar(value));
            return this;
        } catch (RuntimeException e) {
            throw failure("fill_(" + value + ")", this, null, e);
        }
    }

    /** Turns gradient recording for this (leaf) tensor on or off, in place; returns this. */
    public Tensor requiresGrad(boolean on) {
        try (PointerScope ignored = new PointerScope()) {
            unwrap().requires_grad_(on);
            return this;
        } catch (RuntimeException e) {
            throw failure("requires_grad_(" + on + ")", this, null, e);
        }
    }

    /** Whether autograd records operations on this tensor. */
    public boolean requiresGrad() {
        return unwrap().requires_grad();
    }

    /**
     * Back-propagates from this one-element tensor (a loss), adding to the {@link #grad()} of every leaf that
     * requires grad; the graph is freed afterwards.
     *
     * @throws IllegalStateException if this tensor has more than one element or does not require grad
     */
    public void backward() {
        if (numel() != 1) {
            throw new IllegalStateException("backward() needs a one-element loss, got " + describe());
        }
        if (!requiresGrad()) {
            throw new IllegalStateException("backward() on " + describe() + ", which does not require grad (was "
                    + "it computed under no-grad or inference mode, or from parameters without requiresGrad?)");
        }
        try (PointerScope ignored = new PointerScope()) {
            unwrap().backward();
        } catch (RuntimeException e) {
            throw failure("backward", this, null, e);
        }
    }

    /** The accumulated gradient of this leaf tensor (shares storage with it), or null if it has none. */
    public Tensor grad() {
        try (PointerScope ignored = new PointerScope()) {
            org.bytedeco.pytorch.Tensor g = unwrap().grad();
            if (g == null || g.isNull() || !g.defined()) {
                return null;
            }
            return own(new org.bytedeco.pytorch.Tensor(g));
        }
    }

    /** Mean squared error {@code mean((prediction - target)^2)} over all elements (a one-element tensor). */
    public static Tensor mseLoss(Tensor prediction, Tensor target) {
        try {
            return own(torch.mse_loss(prediction.unwrap(), target.unwrap()));
        } catch (RuntimeException e) {
            throw failure("mse_loss", prediction, target, e);
        }
    }

    /**
     * Per-sample mean squared error: {@code mean((this - target)^2)} over every dimension but the first, shape
     * {@code [B]} (for a 1-d tensor, the squared differences themselves).
     */
    public Tensor mseLossPerSample(Tensor target) {
        try (PointerScope ignored = new PointerScope()) {
            org.bytedeco.pytorch.Tensor sq = unwrap().sub(target.unwrap()).square();
            int n = (int) sq.dim();
            if (n <= 1) {
                return own(sq);
            }
            long[] dims = new long[n - 1];
            for (int i = 1; i < n; i++) {
                dims[i - 1] = i;
            }
            return own(sq.mean(dims, false, new org.bytedeco.pytorch.ScalarTypeOptional()));
        } catch (RuntimeException e) {
            throw failure("mse_loss per sample", this, target, e);
        }
    }

    // ---- helpers -----------------------------------------------------------------------------------------

    static TensorOptions options(DType dtype, Device device) {
        return new TensorOptions(dtype.scalarType()).device(new org.bytedeco.pytorch.DeviceOptional(device.toNative()));
    }

    private static void checkCount(int length, long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n *= d;
        }
        if (n != length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + n
                    + " values, but " + length + " were given");
        }
    }

    private static String describeAll(List<Tensor> tensors) {
        StringBuilder b = new StringBuilder();
        for (Tensor x : tensors) {
            if (b.length() > 0) {
                b.append(", ");
            }
            b.append(x.describe());
        }
        return b.toString();
    }

    private static NativeOperationException failure(String op, Tensor a, Tensor b, RuntimeException e) {
        if (e instanceof IllegalStateException || e instanceof NativeOperationException) {
            throw e;
        }
        String args = a.describe() + (b != null ? ", " + b.describe() : "");
        return new NativeOperationException(op + "(" + args + ") failed: " + NativeErrors.summary(e), e);
    }

    private static NativeOperationException failure(String op, RuntimeException e) {
        if (e instanceof IllegalStateException || e instanceof NativeOperationException) {
            throw e;
        }
        return new NativeOperationException(op + " failed: " + NativeErrors.summary(e), e);
    }
}
