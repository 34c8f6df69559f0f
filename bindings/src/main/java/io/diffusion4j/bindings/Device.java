package io.diffusion4j.bindings;

import java.util.Locale;
import org.bytedeco.pytorch.global.torch.DeviceType;

/**
 * A compute device: {@code cpu}, {@code cuda} (= {@code cuda:0}) or {@code cuda:N}. Parsing checks the syntax
 * only; {@link Torch#device(String)} also checks that the device exists on this machine.
 */
public record Device(Kind kind, int index) {

    /** The kinds of device diffusion4j runs on. */
    public enum Kind { CPU, CUDA }

    public static final Device CPU = new Device(Kind.CPU, -1);

    public Device {
        if (kind == null) {
            throw new IllegalArgumentException("device kind must not be null");
        }
        if (kind == Kind.CPU && index != -1) {
            throw new IllegalArgumentException("cpu takes no device index, got " + index);
        }
        if (kind == Kind.CUDA && index < 0) {
            throw new IllegalArgumentException("cuda device index must be >= 0, got " + index);
        }
    }

    public static Device cuda(int index) {
        return new Device(Kind.CUDA, index);
    }

    /** Parses {@code cpu}, {@code cuda} or {@code cuda:N}. */
    public static Device parse(String spec) {
        if (spec == null || spec.isBlank()) {
            throw new IllegalArgumentException("device must be 'cpu', 'cuda' or 'cuda:N', got an empty value");
        }
        String s = spec.trim().toLowerCase(Locale.ROOT);
        if (s.equals("cpu")) {
            return CPU;
        }
        if (s.equals("cuda")) {
            return cuda(0);
        }
        if (s.startsWith("cuda:")) {
            try {
                int i = Integer.parseInt(s.substring(5));
                if (i >= 0) {
                    return cuda(i);
                }
            } catch (NumberFormatException ignored) {
                // fall through to the message below
            }
        }
        throw new IllegalArgumentException("device must be 'cpu', 'cuda' or 'cuda:N', got '" + spec + "'");
    }

    public boolean isCuda() {
        return kind == Kind.CUDA;
    }

    /** The native device; the caller owns the returned object. */
    org.bytedeco.pytorch.Device toNative() {
        return kind == Kind.CPU
                ? new org.bytedeco.pytorch.Device(DeviceType.CPU)
                : new org.bytedeco.pytorch.Device(DeviceType.CUDA, (byte) index);
    }

    static Device of(org.bytedeco.pytorch.Device d) {
        DeviceType type = d.type();
        if (type.value == DeviceType.CPU.value) {
            return CPU;
        }
        if (type.value == DeviceType.CUDA.value) {
            return cuda(Math.max(0, d.index()));
        }
        throw new NativeOperationException("tensor lives on device type " + type + ", which diffusion4j does not handle");
    }

    @Override
    public String toString() {
        return kind == Kind.CPU ? "cpu" : "cuda:" + index;
    }
}
