package io.diffusion4j.model.diffusers;

import com.fasterxml.jackson.databind.JsonNode;
import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.model.ModelFolderException;
import io.diffusion4j.model.diffusers.autoencoder.Autoencoder;
import io.diffusion4j.model.diffusers.autoencoder.AutoencoderConfig;
import io.diffusion4j.model.diffusers.autoencoder.Autoencoders;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The autoencoder entry of a latent pipeline's {@code model_index.json}: {@code "vae": ["diffusers", "AutoencoderKL"]}
 * or {@code "vqvae": ["diffusers", "VQModel"]} (diffusers' LDMPipeline), its folder and config. The config is read when
 * the pipeline folder is opened, so that a missing folder or a latent that does not fit the UNet is reported before
 * any weights are loaded.
 */
public record LatentComponent(String name, Path dir, AutoencoderConfig config) {
    public static final String VAE = "vae";
    public static final String VQVAE = "vqvae";

    /**
     * The autoencoder that {@code index} names, or null for a pixel pipeline.
     *
     * @throws ModelFolderException when a latent pipeline names none, or names a folder that is missing or wrong
     */
    static LatentComponent of(Path dir, JsonNode index, String pipeline, Path indexFile) throws IOException {
        String name = index.has(VAE) ? VAE : index.has(VQVAE) ? VQVAE : null;
        boolean latentPipeline = DiffusersFolder.LDM_PIPELINE.equals(pipeline)
                || DiffusersFolder.LATENT_PIPELINE.equals(pipeline);
        if (name == null) {
            if (latentPipeline) {
                throw new ModelFolderException(indexFile + ": " + pipeline + " needs an autoencoder (\"vae\" or "
                        + "\"vqvae\")");
            }
            return null;
        }
        JsonNode entry = index.get(name);
        String cls = entry.isArray() && entry.size() == 2 ? entry.get(1).asText() : null;
        if (!"AutoencoderKL".equals(cls) && !"VQModel".equals(cls)) {
            throw new ModelFolderException(indexFile + ": \"" + name + "\" must be [\"diffusers\", \"AutoencoderKL\"] "
                    + "or [\"diffusers\", \"VQModel\"], got " + entry);
        }
        Path aeDir = dir.resolve(name);
        if (!java.nio.file.Files.isDirectory(aeDir)) {
            throw new ModelFolderException(dir + ": the " + name + "/ folder that model_index.json names is missing");
        }
        AutoencoderConfig config = Autoencoders.config(aeDir);
        if (!config.kind().className().equals(cls)) {
            throw new ModelFolderException(aeDir + ": config.json is a " + config.kind().className()
                    + ", model_index.json says " + cls);
        }
        Autoencoders.weights(aeDir);
        return new LatentComponent(name, aeDir, config);
    }

    /** The UNet must work on the autoencoder's latent: its in/out channels are the latent's channels. */
    void checkFits(UNet2DConfig unet, Path unetConfig) throws ModelFolderException {
        int z = config.diffusionChannels();
        if (unet.inChannels() != z || unet.outChannels() != z) {
            throw new ModelFolderException(dir + ": the " + config.kind().className() + "'s latent has " + z
                    + " channels but the UNet's in_channels/out_channels are " + unet.inChannels() + "/"
                    + unet.outChannels() + " (" + unetConfig + "); they must match");
        }
    }

    /** Loads the autoencoder with its weights. */
    public Autoencoder load(Device device, DType dtype) throws IOException {
        return Autoencoders.load(dir, device, dtype);
    }
}
