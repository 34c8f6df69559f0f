package io.diffusion4j.bindings;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.channels.FileChannel;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.ByteVector;
import org.bytedeco.pytorch.GenericDict;
import org.bytedeco.pytorch.GenericDictIterator;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.QualifiedName;
import org.bytedeco.pytorch.global.torch;

/**
 * Tensor files in PyTorch's own format: what Python's {@code torch.save(tensor, path)} writes and
 * {@code torch.load(path)} reads, and state dicts ({@code torch.save(module.state_dict(), path)}: the
 * {@code .bin}/{@code .pt} weights of diffusers and PyTorch), read and written by LibTorch's own pickler.
 */
public final class TensorFiles {
    static {
        Torch.load();
    }

    private TensorFiles() {
    }

    /** Reads a tensor saved by {@code torch.save} (a plain tensor, not a dict or a module). */
    public static Tensor read(Path file) throws TensorFileException {
        if (!Files.exists(file)) {
            throw new TensorFileException("tensor file not found: " + file.toAbsolutePath());
        }
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new TensorFileException("cannot read tensor file " + file.toAbsolutePath() + ": " + e.getMessage(), e);
        }
        return fromBytes(bytes, file.toString());
    }

    /** Reads a tensor file from a classpath resource. */
    public static Tensor readResource(String resource) throws TensorFileException {
        ClassLoader cl = Thread.currentThread().getContextClassLoader();
        if (cl == null) {
            cl = TensorFiles.class.getClassLoader();
        }
        try (InputStream in = cl.getResourceAsStream(resource)) {
            if (in == null) {
                throw new TensorFileException("tensor resource not found on the classpath: " + resource);
            }
            return fromBytes(in.readAllBytes(), "classpath:" + resource);
        } catch (TensorFileException e) {
            throw e;
        } catch (IOException e) {
            throw new TensorFileException("cannot read tensor resource " + resource + ": " + e.getMessage(), e);
        }
    }

    /** Decodes the bytes of a {@code torch.save} file; {@code sourceName} names it in messages. */
    public static Tensor fromBytes(byte[] bytes, String sourceName) throws TensorFileException {
        Torch.load();
        try (PointerScope ignored = new PointerScope()) {
            IValue v = torch.pickle_load(byteVector(bytes));
            if (!v.isTensor()) {
                throw new TensorFileException(sourceName + " holds a " + v.tagKind().getString()
                        + ", expected a single tensor (save one with torch.save(tensor, path))");
            }
            return Tensor.own(new org.bytedeco.pytorch.Tensor(v.toTensor()));
        } catch (RuntimeException e) {
            throw new TensorFileException(sourceName + " is not a PyTorch tensor file (torch.save format): "
                    + NativeErrors.summary(e), e);
        }
    }

    /** Encodes a tensor in {@code torch.save} format. */
    public static byte[] toBytes(Tensor tensor) {
        try (PointerScope ignored = new PointerScope()) {
            return torch.pickle_save(new IValue(tensor.unwrap())).get();
        } catch (RuntimeException e) {
            throw new NativeOperationException("cannot serialize " + tensor.describe() + ": "
                    + NativeErrors.summary(e), e);
        }
    }

    /**
     * Writes a tensor that Python's {@code torch.load} reads. Written to a temporary sibling and renamed, so an
     * interrupted write never leaves a broken file.
     */
    public static void write(Path file, Tensor tensor) throws IOException {
        writeAtomically(file, toBytes(tensor));
    }

    /**
     * Reads a state dict: a {@code dict[str, Tensor]} or the {@code OrderedDict} (with {@code _metadata}) that
     * Python's {@code torch.save(module.state_dict(), path)} writes, or what {@link #writeStateDict} writes, in the
     * file's order. The tensors
     * are on the CPU in their saved dtypes and belong to the current {@link NativeScope}, or to the caller.
     *
     * @throws TensorFileException if the file is missing, not in {@code torch.save}'s (zip) format, or not a
     *     dict from names to tensors
     */
    public static LinkedHashMap<String, Tensor> readStateDict(Path file) throws IOException {
        Torch.load();
        String source = file.toAbsolutePath().toString();
        if (!Files.isRegularFile(file)) {
            throw new TensorFileException("state dict not found: " + source);
        }
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        boolean done = false;
        try (PointerScope ignored = new PointerScope()) {
            OrderedDictPickles.Plan plan;
            ByteVector archive;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                checkNotLegacy(ch, source);
                try { // torch.save(module.state_dict()) pickles an OrderedDict, which LibTorch cannot read as is
                    plan = OrderedDictPickles.plan(ch);
                } catch (IOException | RuntimeException e) {
                    plan = null; // not the expected shape after all: LibTorch gives its own error below
                }
                archive = readArchive(ch, plan);
            } catch (TensorFileException e) {
                throw e;
            } catch (IOException e) {
                throw new TensorFileException("cannot read state dict " + source + ": " + e.getMessage(), e);
            }
            IValue v;
            try {
                v = torch.pickle_load(archive);
            } catch (RuntimeException e) {
                throw new TensorFileException(source + " is not a PyTorch file in torch.save's format ("
                        + NativeErrors.summary(e) + ")", e);
            }
            if (plan != null && v.isTuple() && v.toTupleRef().size() == 2) {
                v = new IValue(v.toTupleRef().elements().get(1)); // (OrderedDict global, the state dict)
            }
            if (!v.isGenericDict()) {
                throw new TensorFileException(source + ": expected a state dict (dict of tensors), got "
                        + v.tagKind().getString() + " (save one with torch.save(module.state_dict(), path))");
            }
            GenericDict d = v.toGenericDict();
            for (GenericDictIterator it = d.begin(); it.notEquals(d.end()); it = it.increment()) {
                IValue key = it.access().key();
                IValue value = it.access().value();
                if (!key.isString()) {
                    throw new TensorFileException(source + ": a state dict maps names to tensors, found a "
                            + key.tagKind().getString() + " key");
                }
                String name = key.toStringRef().getString();
                if (!value.isTensor()) {
                    throw new TensorFileException(source + ": a state dict maps names to tensors, '" + name
                            + "' holds a " + value.tagKind().getString());
                }
                out.put(name, Tensor.own(new org.bytedeco.pytorch.Tensor(value.toTensor())));
            }
            done = true;
            return out;
        } catch (TensorFileException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new TensorFileException("cannot read state dict " + source + ": " + NativeErrors.summary(e), e);
        } finally {
            if (!done) {
                out.values().forEach(Tensor::close);
            }
        }
    }

    /**
     * Writes {@code tensors} as a state dict that Python's {@code torch.load(path)} reads as a
     * {@code dict[str, Tensor]} (for {@code module.load_state_dict}), in the map's order; tensors are detached and
     * copied to the CPU as they are. Written to a temporary sibling and renamed.
     */
    public static void writeStateDict(Path file, Map<String, Tensor> tensors) throws IOException {
        Torch.load();
        byte[] bytes;
        try (PointerScope ignored = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            IValueVector args = new IValueVector();
            // TorchScript hands out one constant empty dict on every call: fill a copy of it, never the dict itself
            IValue dict = new IValue(StateDictBuilder.METHODS.get_method("empty").apply(args).toGenericDict().copy());
            org.bytedeco.pytorch.Method put = StateDictBuilder.METHODS.get_method("put");
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                if (e.getKey() == null || e.getValue() == null || e.getValue().isClosed()) {
                    throw new IllegalArgumentException("state dict entries need a name and an open tensor, got "
                            + e.getKey() + " -> " + e.getValue());
                }
                args.clear();
                args.push_back(dict);
                args.push_back(new IValue(e.getKey()));
                args.push_back(new IValue(e.getValue().unwrap().detach().cpu().contiguous()));
                put.apply(args);
            }
            bytes = torch.pickle_save(dict).get();
        } catch (RuntimeException e) {
            if (e instanceof IllegalArgumentException) {
                throw e;
            }
            throw new TensorFileException("cannot write the state dict " + file.toAbsolutePath() + ": "
                    + NativeErrors.summary(e), e);
        }
        writeAtomically(file, bytes);
    }

    /** LibTorch offers Java no constructor of a {@code Dict[str, Tensor]}; two TorchScript methods build one. */
    private static final class StateDictBuilder {
        static final JitModule METHODS = NativeScope.unscoped(() -> {
            try (PointerScope ignored = new PointerScope()) {
                JitModule m = new JitModule(new QualifiedName("StateDictBuilder"));
                m.define("def empty(self) -> Dict[str, Tensor]:\n"
                        + "    d: Dict[str, Tensor] = {}\n"
                        + "    return d\n"
                        + "def put(self, d: Dict[str, Tensor], k: str, v: Tensor):\n"
                        + "    d[k] = v\n");
                m.retainReference();
                return m;
            }
        });
    }

    /** torch.save before PyTorch 1.6 (or with _use_new_zipfile_serialization=False) wrote a bare pickle stream. */
    private static void checkNotLegacy(FileChannel ch, String source) throws IOException {
        java.nio.ByteBuffer head = java.nio.ByteBuffer.allocate(4);
        ch.read(head, 0);
        if (head.position() == 4 && head.get(0) == (byte) 0x80 && head.get(1) == 2 && head.get(2) == (byte) 0x8a
                && head.get(3) == 10) {
            throw new TensorFileException(source + " is in torch.save's legacy (pre-1.6, not zip) format, which "
                    + "LibTorch cannot read; re-save it in Python: torch.save(torch.load(path), path)");
        }
    }

    /**
     * The archive open on {@code ch} in a {@code std::vector<char>} for {@code torch::pickle_load}, read straight
     * from the file into the vector's memory (as {@code plan} says, if not null).
     */
    private static ByteVector readArchive(FileChannel ch, OrderedDictPickles.Plan plan) throws IOException {
        long keep = plan == null ? ch.size() : plan.keep();
        long total = plan == null ? keep : keep + plan.tail().length;
        ByteVector v = new ByteVector(total);
        BytePointer data = vectorData(v, total);
        if (data == null) { // unexpected vector layout: through the heap
            byte[] all = new byte[Math.toIntExact(total)];
            SafetensorsHeader.readFully(ch, java.nio.ByteBuffer.wrap(all, 0, (int) keep), 0, "state dict");
            if (plan != null) {
                System.arraycopy(plan.tail(), 0, all, (int) keep, plan.tail().length);
            }
            return byteVector(all);
        }
        for (long off = 0; off < keep; off += 1L << 30) {
            long n = Math.min(1L << 30, keep - off);
            SafetensorsHeader.readFully(ch, data.position(off).limit(off + n).asByteBuffer(), off, "state dict");
        }
        if (plan != null) {
            data.position(keep).limit(total).asByteBuffer().put(plan.tail());
        }
        return v;
    }

    /** The memory of {@code v} ({@code size} bytes), or null if the vector's layout is not the expected one. */
    private static BytePointer vectorData(ByteVector v, long size) {
        if (size == 0 || v.size() != size) {
            return null;
        }
        // a std::vector starts with its begin and end pointers (libstdc++, libc++ and MSVC alike): check that
        PointerPointer<BytePointer> fields = new PointerPointer<>(v);
        BytePointer begin = fields.get(BytePointer.class, 0);
        BytePointer end = fields.get(BytePointer.class, 1);
        if (begin == null || end == null || end.address() - begin.address() != size) {
            return null;
        }
        return begin.capacity(size);
    }

    /**
     * A {@code std::vector<char>} holding {@code bytes}, filled by one bulk copy: JavaCPP's
     * {@code new ByteVector(byte...)} stores element by element, one native call per byte (14 s for 143 MB).
     */
    static ByteVector byteVector(byte[] bytes) {
        ByteVector v = new ByteVector(bytes.length);
        BytePointer data = vectorData(v, bytes.length);
        if (data == null) {
            return bytes.length == 0 ? v : new ByteVector(bytes); // unexpected layout: the slow, safe way
        }
        data.put(bytes);
        return v;
    }

    private static void writeAtomically(Path file, byte[] bytes) throws IOException {
        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        Path tmp = Files.createTempFile(dir, abs.getFileName().toString(), ".tmp");
        try {
            Files.write(tmp, bytes);
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
