package io.diffusion4j.bindings;

import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;

/**
 * Loads the natives the safe way ({@link Torch#load()}: every library extracted before the first is loaded) when a
 * test run starts, before any test class exists. Tests that touch {@code org.bytedeco} classes directly would
 * otherwise trigger JavaCPP's own load, which on an empty cache and a machine with a system LibTorch crashes the JVM
 * (see {@link Torch#extractNatives()}). Registered through {@code META-INF/services}; the other modules get it with
 * this module's test jar.
 */
public final class NativesFirst implements LauncherSessionListener {
    @Override
    public void launcherSessionOpened(LauncherSession session) {
        Torch.load();
    }
}
