package io.diffusion4j.model.diffusers.autoencoder;

import io.diffusion4j.bindings.NativeScope;
import io.diffusion4j.bindings.NnModule;
import io.diffusion4j.bindings.Safetensors;
import io.diffusion4j.bindings.Tensor;
import io.diffusion4j.bindings.TensorFiles;
import io.diffusion4j.model.diffusers.UNet2DModel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;

/** Loads an autoencoder's weights file (safetensors or a state-dict pickle) into its network, name for name. */
final class AutoencoderWeights {
    private AutoencoderWeights() {
    }

    static void load(NnModule net, Path weights) throws IOException {
        try (NativeScope scope = new NativeScope()) {
            LinkedHashMap<String, Tensor> values = weights.getFileName().toString().endsWith(".safetensors")
                    ? Safetensors.read(weights) : TensorFiles.readStateDict(weights);
            net.loadTensors(UNet2DModel.renameDeprecatedAttention(values), weights.toString());
        }
    }
}
