package io.diffusion4j.bindings;

/** Turns LibTorch's multi-line error texts (message + C++ backtrace) into one readable line. */
final class NativeErrors {
    private NativeErrors() {
    }

    /**
     * The first meaningful line of a native error: LibTorch appends "Exception raised from ..." and a
     * backtrace, and TorchScript errors add the interpreter's traceback; users need the reason.
     */
    static String summary(Throwable t) {
        String msg = t.getMessage();
        if (msg == null || msg.isBlank()) {
            return t.getClass().getSimpleName();
        }
        String reason = null;
        String[] lines = msg.split("\\R");
        for (String line : lines) {
            String l = line.strip();
            if (l.startsWith("RuntimeError:") || l.startsWith("Expected ") && reason == null) {
                reason = l.startsWith("RuntimeError:") ? l.substring("RuntimeError:".length()).strip() : l;
                if (line.strip().startsWith("RuntimeError:")) {
                    break;
                }
            }
        }
        if (reason == null) {
            for (String line : lines) {
                String l = line.strip();
                if (!l.isEmpty() && !l.startsWith("Exception raised from") && !l.startsWith("frame #")
                        && !l.startsWith("The following operation failed") && !l.startsWith("Traceback")) {
                    reason = l;
                    break;
                }
            }
        }
        if (reason == null) {
            reason = lines[0].strip();
        }
        int cut = reason.indexOf("Exception raised from");
        if (cut > 0) {
            reason = reason.substring(0, cut).strip();
        }
        return reason.length() > 400 ? reason.substring(0, 400) + "..." : reason;
    }

    /** Why a TorchScript file did not load, in words a user can act on, with the native summary. */
    static String explainModuleLoad(RuntimeException e) {
        String native_ = summary(e);
        String msg = e.getMessage() == null ? "" : e.getMessage();
        if (msg.contains("central directory") || msg.contains("zip archive")) {
            return "not a TorchScript archive (not a zip file, or truncated) [" + native_ + "]";
        }
        if (msg.contains("constants.pkl") || msg.contains("code/")) {
            return "a PyTorch file but not a TorchScript module (save it with "
                    + "torch.jit.save(torch.jit.script(model), path), not torch.save) [" + native_ + "]";
        }
        if (msg.contains("failed reading file") || msg.contains("file not found") || msg.contains("crc")) {
            return "the TorchScript archive is damaged or truncated [" + native_ + "]";
        }
        return "cannot load TorchScript module: " + native_;
    }
}
