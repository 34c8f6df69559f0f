package io.diffusion4j.bindings;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;

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
}
