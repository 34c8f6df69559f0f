package io.diffusion4j.bindings;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Conv2dOptions;
import org.bytedeco.pytorch.EmbeddingImpl;
import org.bytedeco.pytorch.GroupNormImpl;
import org.bytedeco.pytorch.GroupNormOptions;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.StringTensorDict;
import org.bytedeco.pytorch.StringTensorDictItem;
import org.bytedeco.pytorch.global.torch;

/**
 * A network of LibTorch {@code torch::nn} layers built from Java: a root {@code torch::nn::Module} that owns named
 * layers ({@code Linear}, {@code Conv2d}, {@code GroupNorm}, {@code Embedding}) at dotted paths such as
 * {@code blocks.0.conv1}, so that its parameter names are the ones a PyTorch module with the same attribute names
 * has. Layers are initialised by LibTorch's defaults (PyTorch's), made on the CPU and moved to the network's device.
 * The architecture (which layers, how they connect) belongs to the caller; this class owns the native lifecycle.
 *
 * <p>Weights round-trip through a PyTorch state-dict file ({@link #saveStateDict}: Python's
 * {@code torch.load(path)} returns a {@code dict[str, Tensor]} that {@code module.load_state_dict} takes).
 * Not thread-safe while training; concurrent forwards in eval mode are safe.
 */
public final class NnModule implements AutoCloseable {
    static {
        Torch.load();
    }

    /** The kind of a layer, which also says how its parameters are initialised by default. */
    public enum LayerKind { LINEAR, CONV2D, GROUP_NORM, EMBEDDING }

    /** One layer of the network; {@link #forward} runs it (recording autograd when its parameters require grad). */
    public final class Layer {
        private final String path;
        private final LayerKind kind;
        private final Module module;

        private Layer(String path, LayerKind kind, Module module) {
            this.path = path;
            this.kind = kind;
            this.module = module;
        }

        public String path() {
            return path;
        }

        public LayerKind kind() {
            return kind;
        }

        /** The layer applied to {@code x}. */
        public Tensor forward(Tensor x) {
            checkOpen();
            try (PointerScope ignored = new PointerScope()) {
                org.bytedeco.pytorch.Tensor in = x.unwrap();
                org.bytedeco.pytorch.Tensor out = switch (kind) {
                    case LINEAR -> ((LinearImpl) module).forward(in);
                    case CONV2D -> ((Conv2dImpl) module).forward(in);
                    case GROUP_NORM -> ((GroupNormImpl) module).forward(in);
                    case EMBEDDING -> ((EmbeddingImpl) module).forward(in);
                };
                return Tensor.own(out);
            } catch (IllegalStateException e) {
                throw e;
            } catch (RuntimeException e) {
                throw new NativeOperationException(kind.name().toLowerCase() + " " + path + "(" + x.describe()
                        + ") failed: " + NativeErrors.summary(e), e);
            }
        }
    }

    private final String name;
    private final Device device;
    private final Module root;
    private final Map<String, Module> containers = new HashMap<>();
    private final List<Module> keep = new ArrayList<>();
    private final LinkedHashMap<String, Layer> layers = new LinkedHashMap<>();
    private final List<Tensor> ownedParameters = new ArrayList<>();
    private boolean closed;

    /** An empty network on {@code device}; {@code name} names it in messages. */
    public NnModule(String name, Device device) {
        Torch.checkAvailable(device);
        this.name = name;
        this.device = device;
        this.root = new Module(name);
        root.retainReference();
        containers.put("", root);
    }

    public String name() {
        return name;
    }

    public Device device() {
        return device;
    }

    /** {@code torch::nn::Linear(in, out)} (with bias) at {@code path}. */
    public Layer linear(String path, long in, long out) {
        positive(path, in, out);
        return add(path, LayerKind.LINEAR, () -> new LinearImpl(in, out));
    }

    /** {@code torch::nn::Conv2d(in, out, kernel, stride, padding)} (square kernel, with bias) at {@code path}. */
    public Layer conv2d(String path, long in, long out, long kernel, long stride, long padding) {
        return conv2d(path, in, out, kernel, stride, padding, true);
    }

    /** {@code torch::nn::Conv2d(in, out, kernel, stride, padding)} (square kernel), with a bias or without one. */
    public Layer conv2d(String path, long in, long out, long kernel, long stride, long padding, boolean bias) {
        positive(path, in, out, kernel, stride);
        if (padding < 0) {
            throw new IllegalArgumentException(path + ": padding must be >= 0, got " + padding);
        }
        return add(path, LayerKind.CONV2D, () -> {
            Conv2dOptions o = new Conv2dOptions(in, out, new LongPointer(kernel, kernel));
            o.stride().put(0, stride).put(1, stride);
            o.padding().put(new LongPointer(padding, padding));
            o.bias().put(bias);
            return new Conv2dImpl(o);
        });
    }

    /** {@code torch::nn::GroupNorm(groups, channels)} (affine, eps 1e-5) at {@code path}. */
    public Layer groupNorm(String path, long groups, long channels) {
        return groupNorm(path, groups, channels, 1e-5);
    }

    /** {@code torch::nn::GroupNorm(groups, channels, eps)} (affine) at {@code path}. */
    public Layer groupNorm(String path, long groups, long channels, double eps) {
        positive(path, groups, channels);
        if (channels % groups != 0) {
            throw new IllegalArgumentException(path + ": " + channels + " channels do not split into " + groups
                    + " groups");
        }
        if (!(eps > 0)) {
            throw new IllegalArgumentException(path + ": eps must be > 0, got " + eps);
        }
        return add(path, LayerKind.GROUP_NORM, () -> {
            GroupNormOptions o = new GroupNormOptions(groups, channels);
            o.eps().put(eps);
            return new GroupNormImpl(o);
        });
    }

    /**
     * A bare parameter of {@code shape} at {@code path} (e.g. {@code time_proj.weight}), zero-initialised, that
     * gradients skip unless {@code requiresGrad}. The returned handle shares storage with the network, belongs to no
     * scope and stays valid until the network is closed.
     */
    public Tensor parameter(String path, boolean requiresGrad, long... shape) {
        checkOpen();
        positive(path, shape);
        int dot = path == null ? -1 : path.lastIndexOf('.');
        if (path == null || path.isEmpty() || dot == path.length() - 1 || dot == 0) {
            throw new IllegalArgumentException("a parameter path must be dotted names like 'time_proj.weight', got '"
                    + path + "'");
        }
        String parentPath = dot < 0 ? "" : path.substring(0, dot);
        if (layers.containsKey(parentPath)) {
            throw new IllegalArgumentException(name + ": '" + parentPath + "' is a layer, not a block");
        }
        return NativeScope.unscoped(() -> {
            try (PointerScope ignored = new PointerScope()) {
                Module parent = container(parentPath);
                org.bytedeco.pytorch.Tensor init = torch.zeros(shape,
                        new org.bytedeco.pytorch.TensorOptions(torch.ScalarType.Float));
                if (!device.equals(Device.CPU)) {
                    init = init.to(device.toNative(), torch.ScalarType.Float);
                }
                Tensor handle = Tensor.own(parent.register_parameter(path.substring(dot + 1), init, requiresGrad));
                ownedParameters.add(handle);
                return handle;
            } catch (RuntimeException e) {
                throw new NativeOperationException("cannot add parameter " + path + " to " + name + ": "
                        + NativeErrors.summary(e), e);
            }
        });
    }

    /** Converts every parameter to {@code dtype} (floating point), like {@code module.to(dtype)}. */
    public void to(DType dtype) {
        checkOpen();
        if (!dtype.isFloatingPoint()) {
            throw new IllegalArgumentException(name + ": parameters must be floating point, got " + dtype.label());
        }
        try (PointerScope ignored = new PointerScope()) {
            root.to(dtype.scalarType(), false);
        } catch (RuntimeException e) {
            throw new NativeOperationException("cannot convert " + name + " to " + dtype.label() + ": "
                    + NativeErrors.summary(e), e);
        }
    }

    /**
     * Copies {@code values} into the parameters of the same names (converting dtype and device), strictly: every
     * parameter needs a value and every value a parameter, with the same shape.
     *
     * @param source names the values in messages (a file)
     * @throws IllegalArgumentException naming the first missing or unexpected tensor, or a shape that differs
     */
    public void loadTensors(Map<String, Tensor> values, String source) {
        checkOpen();
        try (PointerScope ignored = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            StringTensorDict params = root.named_parameters(true);
            java.util.Set<String> names = new java.util.LinkedHashSet<>();
            for (long i = 0, n = params.size(); i < n; i++) {
                names.add(params.get(i).key().getString());
            }
            for (String k : names) {
                if (!values.containsKey(k)) {
                    throw new IllegalArgumentException(source + ": missing tensor " + k + " (a parameter of " + name
                            + "; " + values.size() + " tensors for " + names.size() + " parameters)");
                }
            }
            for (String k : values.keySet()) {
                if (!names.contains(k)) {
                    throw new IllegalArgumentException(source + ": unexpected tensor " + k + " (no such parameter in "
                            + name + ")");
                }
            }
            for (long i = 0, n = params.size(); i < n; i++) {
                StringTensorDictItem item = params.get(i);
                String key = item.key().getString();
                org.bytedeco.pytorch.Tensor src = values.get(key).unwrap();
                org.bytedeco.pytorch.Tensor dst = item.value();
                long[] a = src.sizes().vec().get();
                long[] b = dst.sizes().vec().get();
                if (!java.util.Arrays.equals(a, b)) {
                    throw new IllegalArgumentException(source + ": " + key + " has shape "
                            + java.util.Arrays.toString(a) + ", the parameter " + java.util.Arrays.toString(b));
                }
                dst.copy_(src);
            }
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new NativeOperationException(source + ": cannot load the tensors into " + name + ": "
                    + NativeErrors.summary(e), e);
        }
    }

    /** {@code torch::nn::Embedding(count, dim)} at {@code path}. */
    public Layer embedding(String path, long count, long dim) {
        positive(path, count, dim);
        return add(path, LayerKind.EMBEDDING, () -> new EmbeddingImpl(count, dim));
    }

    private interface Maker {
        Module make();
    }

    private Layer add(String path, LayerKind kind, Maker maker) {
        checkOpen();
        if (path == null || path.isEmpty() || path.startsWith(".") || path.endsWith(".") || path.contains("..")) {
            throw new IllegalArgumentException("a layer path must be dotted names like 'blocks.0.conv1', got '"
                    + path + "'");
        }
        if (layers.containsKey(path) || containers.containsKey(path)) {
            throw new IllegalArgumentException(name + " already has a layer or block at '" + path + "'");
        }
        int dot = path.lastIndexOf('.');
        String parentPath = dot < 0 ? "" : path.substring(0, dot);
        String leaf = path.substring(dot + 1);
        if (layers.containsKey(parentPath)) {
            throw new IllegalArgumentException(name + ": '" + parentPath + "' is a layer, not a block");
        }
        try (PointerScope ignored = new PointerScope()) {
            Module parent = container(parentPath);
            Module m = parent.register_module(leaf, maker.make());
            m.retainReference();
            keep.add(m);
            if (!device.equals(Device.CPU)) {
                m.to(device.toNative(), false);
            }
            Layer layer = new Layer(path, kind, m);
            layers.put(path, layer);
            return layer;
        } catch (IllegalArgumentException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new NativeOperationException("cannot add " + kind + " layer " + path + " to " + name + ": "
                    + NativeErrors.summary(e), e);
        }
    }

    private Module container(String path) {
        Module m = containers.get(path);
        if (m != null) {
            return m;
        }
        int dot = path.lastIndexOf('.');
        Module parent = container(dot < 0 ? "" : path.substring(0, dot));
        Module child = parent.register_module(path.substring(dot + 1), new Module(path));
        child.retainReference();
        keep.add(child);
        containers.put(path, child);
        return child;
    }

    /** The layers by path, in the order they were added. */
    public Map<String, Layer> layers() {
        return java.util.Collections.unmodifiableMap(layers);
    }

    /**
     * The parameters by dotted name ({@code blocks.0.conv1.weight}), in registration order; handles share storage
     * and gradients with the network and belong to the current scope.
     */
    public LinkedHashMap<String, Tensor> namedParameters() {
        checkOpen();
        try (PointerScope ignored = new PointerScope()) {
            StringTensorDict d = root.named_parameters(true);
            LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
            for (long i = 0, n = d.size(); i < n; i++) {
                StringTensorDictItem item = d.get(i);
                out.put(item.key().getString(), Tensor.own(new org.bytedeco.pytorch.Tensor(item.value())));
            }
            return out;
        }
    }

    /** The parameters in the order of {@link #namedParameters()}. */
    public List<Tensor> parameters() {
        return new ArrayList<>(namedParameters().values());
    }

    public void train(boolean on) {
        checkOpen();
        root.train(on);
    }

    public boolean isTraining() {
        checkOpen();
        return root.is_training();
    }

    /**
     * Writes the parameters as a PyTorch state dict (what {@code torch.save(module.state_dict(), path)} writes: a
     * {@code dict[str, Tensor]}, read by Python's {@code torch.load}), to a temporary sibling renamed into place.
     */
    public void saveStateDict(Path file) throws IOException {
        checkOpen();
        try (NativeScope scope = new NativeScope()) {
            TensorFiles.writeStateDict(file, namedParameters());
        }
    }

    /**
     * Copies the values of a state-dict file ({@link #saveStateDict}, or Python's
     * {@code torch.save(module.state_dict())}) into the parameters.
     *
     * @throws TensorFileException if the file is not a dict of tensors, or a name or shape does not match
     */
    public void loadStateDict(Path file) throws IOException {
        checkOpen();
        try (NativeScope scope = new NativeScope()) {
            copyParameters(TensorFiles.readStateDict(file), file.toString());
        }
    }

    /**
     * Copies {@code values} (by parameter name) into the parameters, casting to each parameter's dtype and device;
     * every parameter needs exactly one value of its shape. {@code source} names the values in messages.
     */
    private void copyParameters(Map<String, Tensor> values, String source) throws TensorFileException {
        checkOpen();
        try (PointerScope ignored = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            StringTensorDict params = root.named_parameters(true);
            java.util.Set<String> names = new java.util.HashSet<>();
            for (long i = 0, n = params.size(); i < n; i++) {
                names.add(params.get(i).key().getString());
            }
            for (String key : values.keySet()) {
                if (!names.contains(key)) {
                    throw new TensorFileException(source + ": unexpected tensor " + key + ", which is no parameter of "
                            + name + " (" + values.size() + " tensors for " + names.size() + " parameters)");
                }
            }
            for (long i = 0, n = params.size(); i < n; i++) {
                StringTensorDictItem item = params.get(i);
                String key = item.key().getString();
                Tensor src = values.get(key);
                if (src == null) {
                    throw new TensorFileException(source + ": no tensor for parameter " + key + " of " + name);
                }
                org.bytedeco.pytorch.Tensor dst = item.value();
                long[] want = dst.sizes().vec().get();
                if (!java.util.Arrays.equals(src.shape(), want)) {
                    throw new TensorFileException(source + ": " + key + " has shape "
                            + java.util.Arrays.toString(src.shape()) + ", the parameter "
                            + java.util.Arrays.toString(want));
                }
                dst.copy_(src.unwrap());
            }
        } catch (TensorFileException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new TensorFileException(source + ": cannot load the state dict into " + name + ": "
                    + NativeErrors.summary(e), e);
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("network " + name + " is closed");
        }
    }

    private static void positive(String path, long... values) {
        for (long v : values) {
            if (v < 1) {
                throw new IllegalArgumentException(path + ": sizes must be >= 1, got " + java.util.Arrays.toString(values));
            }
        }
    }

    /** Frees the network's native memory. Idempotent. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            for (Module m : keep) {
                m.releaseReference();
            }
            keep.clear();
            ownedParameters.forEach(Tensor::close);
            ownedParameters.clear();
            root.releaseReference();
        }
    }
}
