package io.diffusion4j.bindings;

import java.lang.management.ManagementFactory;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Test files written by Python PyTorch (see src/test/python/make_fixtures.py). */
final class Fixtures {
    private Fixtures() {
    }

    static Path python(String name) {
        URL url = Fixtures.class.getResource("/python/" + name);
        if (url == null) {
            throw new IllegalStateException("missing test fixture python/" + name);
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The command that runs {@code main} in a new JVM with this one's class path and system properties (so that, for
     * example, the JavaCPP cache folder CI chose carries over), plus {@code extraOptions} before the class name.
     */
    static List<String> javaCommand(Class<?> main, List<String> extraOptions, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("-D") && extraOptions.stream().noneMatch(o -> o.startsWith(a.split("=", 2)[0] + "="))) {
                cmd.add(a);
            }
        }
        cmd.addAll(extraOptions);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(main.getName());
        cmd.addAll(List.of(args));
        return cmd;
    }
}
