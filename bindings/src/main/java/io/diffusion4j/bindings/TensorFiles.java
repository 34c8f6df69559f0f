package io.diffusion4j.bindings;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.ByteVector;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.global.torch;

/**
 * Tensor files in PyTorch's own format: what Python's {@code torch.save(tensor, path)} writes and
 * {@code torch.load(path)} reads.
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
            IValue v = torch.pickle_load(new ByteVector(bytes));
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
        byte[] bytes = toBytes(tensor);
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

    /** TEMP (replaced by issue-13a): a PyTorch state-dict pickle ({@code .bin}/{@code .pt}) as name -> tensor. */
    public static java.util.LinkedHashMap<String, Tensor> readStateDict(Path file) throws java.io.IOException {
        byte[] bytes = java.nio.file.Files.readAllBytes(file);
        java.util.LinkedHashMap<String, Tensor> out = new java.util.LinkedHashMap<>();
        try (org.bytedeco.javacpp.PointerScope ignored = new org.bytedeco.javacpp.PointerScope()) {
            IValue v = torch.pickle_load(new ByteVector(bytes));
            if (!v.isGenericDict()) {
                throw new TensorFileException(file + ": expected a state dict (dict of tensors)");
            }
            org.bytedeco.pytorch.GenericDict d = v.toGenericDict();
            for (org.bytedeco.pytorch.GenericDictIterator it = d.begin(); it.notEquals(d.end()); it = it.increment()) {
                out.put(it.access().key().toStringRef().getString(), Tensor.wrap(it.access().value().toTensor()));
            }
        } catch (TensorFileException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new TensorFileException(file + ": not a PyTorch state dict (" + NativeErrors.summary(e) + ")", e);
        }
        return out;
    }
}
