package io.diffusion4j.cli;

import io.diffusion4j.bindings.Torch;
import picocli.CommandLine;

final class VersionProvider implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
        String own = Main.class.getPackage().getImplementationVersion();
        return new String[] {
            "diffusion4j " + (own != null ? own : "(development build)"),
            "LibTorch " + Torch.libtorchVersion() + " (JavaCPP Presets " + Torch.presetsVersion() + ")"
        };
    }
}
