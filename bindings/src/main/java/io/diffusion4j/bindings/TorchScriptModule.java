package io.diffusion4j.bindings;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.FunctionSchema;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Method;
import org.bytedeco.pytorch.parameter_iterator;
import org.bytedeco.pytorch.parameter_list;
import org.bytedeco.pytorch.global.torch;

/**
 * A TorchScript module (what Python's {@code torch.jit.save} writes) loaded onto a device. Thread-safe for
 * concurrent {@link #forward} calls in eval mode (TorchScript's interpreter is reentrant); training calls must
 * come from one thread.
 */
public final class TorchScriptModule implements AutoCloseable {
    static {
        Torch.load();
    }


    /** One argument of a method's TorchScript schema, e.g. {@code timestep: Tensor}. */
    public record Argument(String name, String type) {
        @Override
        public String toString() {
            return name + ": " + type;
        }
    }

    /** The forward's argument vector, reused by each thread (never shared between threads). */
    private static final ThreadLocal<IValueVector> INPUTS = ThreadLocal.withInitial(() -> {
        IValueVector v = new IValueVector();
        v.retainReference(); // lives as long as its thread; not owned by any scope the first call happens in
        return v;
    });

    private final JitModule module;
    private final String source;
    private final Device device;
    private final List<Argument> forwardArguments;
    private volatile boolean closed;

    private TorchScriptModule(JitModule module, String source, Device device) {
        this.module = module;
        this.module.retainReference();
        this.source = source;
        this.device = device;
        this.forwardArguments = readForwardArguments(module, source);
    }

    /**
     * Loads a TorchScript file onto {@code device}.
     *
     * @throws ModelLoadException if the file is missing, unreadable, not TorchScript, or truncated
     */
    public static TorchScriptModule load(Path file, Device device) throws ModelLoadException {
        Torch.load();
        Torch.checkAvailable(device);
        if (!Files.exists(file)) {
            throw new ModelLoadException("model file not found: " + file.toAbsolutePath());
        }
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw new ModelLoadException("model file is not a readable file: " + file.toAbsolutePath());
        }
        return loadNative(file, file.toString(), device);
    }

    /** Loads a TorchScript module from its bytes; {@code sourceName} names it in messages. */
    public static TorchScriptModule load(byte[] bytes, String sourceName, Device device) throws ModelLoadException {
        Torch.load();
        Torch.checkAvailable(device);
        Path tmp = null;
        try {
            tmp = Files.createTempFile("diffusion4j-module", ".pt");
            Files.write(tmp, bytes);
            return loadNative(tmp, sourceName, device);
        } catch (IOException e) {
            throw new ModelLoadException("cannot stage " + sourceName + " for loading: " + e.getMessage(), e);
        } finally {
            deleteQuietly(tmp);
        }
    }

    /**
     * Loads a TorchScript module from a classpath resource (e.g. {@code io/diffusion4j/models/toy2d/model.pt}).
     */
    public static TorchScriptModule loadResource(String resource, Device device) throws ModelLoadException {
        ClassLoader cl = Thread.currentThread().getContextClassLoader();
        if (cl == null) {
            cl = TorchScriptModule.class.getClassLoader();
        }
        try (InputStream in = cl.getResourceAsStream(resource)) {
            if (in == null) {
                throw new ModelLoadException("model resource not found on the classpath: " + resource);
            }
            return load(in.readAllBytes(), "classpath:" + resource, device);
        } catch (ModelLoadException e) {
            throw e;
        } catch (IOException e) {
            throw new ModelLoadException("cannot read model resource " + resource + ": " + e.getMessage(), e);
        }
    }

    private static TorchScriptModule loadNative(Path file, String sourceName, Device device)
            throws ModelLoadException {
        try (PointerScope ignored = new PointerScope()) {
            JitModule m = torch.load(file.toString(), new org.bytedeco.pytorch.DeviceOptional(device.toNative()), false);
            m.eval();
            StartupTrace.mark("torch::jit::load " + sourceName);
            return new TorchScriptModule(m, sourceName, device);
        } catch (RuntimeException e) {
            throw new ModelLoadException(sourceName + ": " + NativeErrors.explainModuleLoad(e), e);
        }
    }

    private static List<Argument> readForwardArguments(JitModule m, String source) {
        try (PointerScope ignored = new PointerScope()) {
            org.bytedeco.pytorch.MethodOptional opt = m.find_method("forward");
            if (!opt.has_value()) {
                return List.of();
            }
            Method forward = opt.get();
            FunctionSchema schema = forward.function().getSchema();
            org.bytedeco.pytorch.Argument args = schema.arguments();
            long n = forward.num_inputs();
            List<Argument> out = new ArrayList<>();
            for (long i = 0; i < n; i++) {
                org.bytedeco.pytorch.Argument a = args.getPointer(i);
                String name = a.name().getString();
                if (i == 0 && name.equals("self")) {
                    continue;
                }
                out.add(new Argument(name, a.type().get().str().getString()));
            }
            return List.copyOf(out);
        } catch (RuntimeException e) {
            throw new NativeOperationException("cannot read the forward schema of " + source + ": "
                    + NativeErrors.summary(e), e);
        }
    }

    /**
     * A frozen copy of this module for inference ({@code torch::jit::freeze}): the weights and attributes become
     * constants of the graph, which the graph passes can fold, so each forward does less work (measured on toy2d
     * and digits in BENCHMARKS.md, with outputs equal to the plain module's). The copy has no parameters, cannot be
     * trained or converted to another dtype, and holds its own copy of the weights; this module stays open and
     * unchanged. {@code optimize_for_inference} on top of freezing was tried and not taken: it changed digits'
     * outputs by 1.4e-6 and was slower there.
     *
     * @throws NativeOperationException if LibTorch cannot freeze the module (e.g. it has no forward)
     */
    public TorchScriptModule frozen() {
        JitModule m = handle();
        try (PointerScope ignored = new PointerScope()) {
            boolean training = m.is_training();
            if (training) {
                m.eval(); // freeze requires eval mode
            }
            // freezing with graph optimization off on this thread (as a Trainer leaves it) makes a module whose
            // forward fails ("Couldn't find method: 'forward' on class ...Linear"; checked here): freeze with it on
            boolean turnedOn = TorchScriptRuntime.optimizedGraphsOn();
            try {
                TorchScriptModule frozen = new TorchScriptModule(torch.freeze(m), source, device);
                StartupTrace.mark("torch::jit::freeze");
                return frozen;
            } finally {
                TorchScriptRuntime.restoreGraphOptimization(turnedOn);
                if (training) {
                    m.train(true);
                }
            }
        } catch (RuntimeException e) {
            throw new NativeOperationException("cannot freeze " + source + " for inference: "
                    + NativeErrors.summary(e), e);
        }
    }

    /** Where the module came from (a path or {@code classpath:...}), for messages. */
    public String source() {
        return source;
    }

    public Device device() {
        return device;
    }

    /** The arguments of {@code forward}, without {@code self}; empty if the module has no forward. */
    public List<Argument> forwardArguments() {
        return forwardArguments;
    }

    /**
     * Runs {@code forward}. Inputs may be {@link Tensor}s, integers ({@code Long}/{@code Integer}), floats
     * ({@code Double}/{@code Float}) or {@code Boolean}s. The result must be a tensor.
     *
     * @throws ModelInvocationException if the module rejects the inputs (count, shape, dtype, device) or fails
     */
    public Tensor forward(Object... inputs) {
        JitModule m = handle();
        if (!forwardArguments.isEmpty() && inputs.length != forwardArguments.size()) {
            throw new ModelInvocationException("forward of " + source + " takes " + forwardArguments.size()
                    + " argument(s) (" + signature() + "), got " + inputs.length, null);
        }
        // One input vector per thread, emptied after each call so that it holds no tensor between calls: a new
        // vector per call was a third of this method's own cost on toy2d (measured, BENCHMARKS.md).
        IValueVector in = INPUTS.get();
        try (PointerScope ignored = new PointerScope()) {
            for (Object x : inputs) {
                in.push_back(ModuleInputs.toIValue(x));
            }
            IValue out = m.forward(in);
            if (!out.isTensor()) {
                throw new ModelInvocationException("forward of " + source + " returned "
                        + out.tagKind().getString() + ", expected a Tensor", null);
            }
            return Tensor.own(new org.bytedeco.pytorch.Tensor(out.toTensor())); // toTensor() is a reference into out
        } catch (ModelInvocationException | IllegalArgumentException | IllegalStateException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new ModelInvocationException("forward(" + ModuleInputs.describe(inputs, forwardArguments) + ") of " + source
                    + " failed: " + NativeErrors.summary(e), e);
        } finally {
            in.clear();
        }
    }

    /** Whether the module has a method {@code name} (e.g. one exported with {@code @torch.jit.export}). */
    public boolean hasMethod(String name) {
        try (PointerScope ignored = new PointerScope()) {
            return handle().find_method(name).has_value();
        }
    }

    /**
     * Runs the module's method {@code name} (e.g. the digits classifier's {@code features}); inputs as for
     * {@link #forward}. The result must be a tensor.
     *
     * @throws ModelInvocationException if the module has no such method, rejects the inputs, or fails
     */
    public Tensor call(String name, Object... inputs) {
        JitModule m = handle();
        IValueVector in = INPUTS.get();
        try (PointerScope ignored = new PointerScope()) {
            org.bytedeco.pytorch.MethodOptional method = m.find_method(name);
            if (!method.has_value()) {
                throw new ModelInvocationException(source + " has no method '" + name + "' (export it with "
                        + "@torch.jit.export before torch.jit.script)", null);
            }
            for (Object x : inputs) {
                in.push_back(ModuleInputs.toIValue(x));
            }
            IValue out = method.get().apply(in);
            if (!out.isTensor()) {
                throw new ModelInvocationException(name + " of " + source + " returned "
                        + out.tagKind().getString() + ", expected a Tensor", null);
            }
            return Tensor.own(new org.bytedeco.pytorch.Tensor(out.toTensor()));
        } catch (ModelInvocationException | IllegalArgumentException | IllegalStateException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new ModelInvocationException(name + "(" + ModuleInputs.describe(inputs, List.of()) + ") of "
                    + source + " failed: " + NativeErrors.summary(e), e);
        } finally {
            in.clear();
        }
    }

    private String signature() {
        StringJoiner j = new StringJoiner(", ");
        forwardArguments.forEach(a -> j.add(a.toString()));
        return j.toString();
    }

    /** Converts the module's floating-point parameters and buffers to {@code dtype} in place (e.g. float16). */
    public void to(DType dtype) {
        if (!dtype.isFloatingPoint()) {
            throw new IllegalArgumentException("a module's weights must be floating point, got " + dtype.label());
        }
        try (PointerScope ignored = new PointerScope()) {
            handle().to(dtype.scalarType());
        } catch (RuntimeException e) {
            throw new NativeOperationException("cannot convert " + source + " to " + dtype.label() + ": "
                    + NativeErrors.summary(e), e);
        }
    }

    /** Sets training mode (dropout, batch-norm statistics) on this module and its children. */
    public void train(boolean on) {
        handle().train(on);
    }

    public boolean isTraining() {
        return handle().is_training();
    }

    /**
     * The module's parameters as handles that share their storage (and gradients) with the module; the caller owns
     * the list's handles.
     */
    public List<Tensor> parameters() {
        try (PointerScope ignored = new PointerScope()) {
            parameter_list pl = handle().parameters(true);
            List<Tensor> out = new ArrayList<>();
            for (parameter_iterator it = pl.begin(); it.notEquals(pl.end()); it = it.increment()) {
                out.add(Tensor.own(new org.bytedeco.pytorch.Tensor(it.access())));
            }
            return out;
        }
    }

    /**
     * The module's parameters by their dotted names ({@code conv_in.weight}, as Python's {@code named_parameters()}
     * names them), in module order; handles as in {@link #parameters()}.
     */
    public java.util.LinkedHashMap<String, Tensor> namedParameters() {
        try (PointerScope ignored = new PointerScope()) {
            org.bytedeco.pytorch.named_parameter_list pl = handle().named_parameters(true);
            java.util.LinkedHashMap<String, Tensor> out = new java.util.LinkedHashMap<>();
            for (org.bytedeco.pytorch.named_parameter_iterator it = pl.begin(); it.notEquals(pl.end());
                 it = it.increment()) {
                org.bytedeco.pytorch.NamedTensor nt = it.access();
                out.put(nt.name().getString(), Tensor.own(new org.bytedeco.pytorch.Tensor(nt.value())));
            }
            return out;
        }
    }

    /**
     * The TorchScript class name of every submodule by its dotted name (the root as {@code ""}), e.g.
     * {@code time_mlp.0 -> __torch__.torch.nn.modules.linear.Linear}: what kind of layer owns a parameter.
     */
    public java.util.Map<String, String> submoduleTypes() {
        try (PointerScope ignored = new PointerScope()) {
            java.util.LinkedHashMap<String, String> out = new java.util.LinkedHashMap<>();
            collectTypes(handle(), "", out);
            return out;
        } catch (RuntimeException e) {
            throw new NativeOperationException("cannot list the submodules of " + source + ": "
                    + NativeErrors.summary(e), e);
        }
    }

    private static void collectTypes(JitModule m, String prefix, java.util.Map<String, String> out) {
        out.put(prefix, m.type().str().getString());
        org.bytedeco.pytorch.named_module_list children = m.named_children();
        for (org.bytedeco.pytorch.named_module_iterator it = children.begin(); it.notEquals(children.end());
             it = it.increment()) {
            org.bytedeco.pytorch.NamedJitModule c = it.access();
            String name = c.name().getString();
            collectTypes(c.value(), prefix.isEmpty() ? name : prefix + "." + name, out);
        }
    }

    /**
     * Writes the module as a TorchScript file that Python's {@code torch.jit.load} reads. The file is written to a
     * temporary sibling and renamed, so an interrupted save never leaves a broken file at {@code file}.
     */
    public void save(Path file) throws IOException {
        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        Path tmp = Files.createTempFile(dir, abs.getFileName().toString(), ".tmp");
        try {
            try (PointerScope ignored = new PointerScope()) {
                handle().save(tmp.toString());
            } catch (RuntimeException e) {
                throw new IOException("cannot save TorchScript module to " + abs + ": " + NativeErrors.summary(e), e);
            }
            Files.move(tmp, abs, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } finally {
            deleteQuietly(tmp);
        }
    }

    /** The native module, valid while this object is open (escape hatch; do not deallocate it). */
    public JitModule unwrap() {
        return handle();
    }

    private JitModule handle() {
        if (closed) {
            throw new IllegalStateException("module " + source + " is closed");
        }
        return module;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            module.releaseReference();
        }
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
