package io.diffusion4j.model.diffusers.autoencoder;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.model.ModelFolderException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Opens an autoencoder folder ({@code vae/} or {@code vqvae/}: {@code config.json} + weights) by its class. */
public final class Autoencoders {
    public static final String SAFETENSORS_FILE = "diffusion_pytorch_model.safetensors";
    public static final String BIN_FILE = "diffusion_pytorch_model.bin";

    private Autoencoders() {
    }

    /**
     * The config of the autoencoder in {@code dir}.
     *
     * @throws ModelFolderException naming the folder and what is missing or wrong
     */
    public static AutoencoderConfig config(Path dir) throws IOException {
        Path file = dir.resolve(AutoencoderConfig.FILE_NAME);
        if (!Files.isDirectory(dir)) {
            throw new ModelFolderException(dir + ": the autoencoder folder is missing");
        }
        if (!Files.isRegularFile(file)) {
            throw new ModelFolderException(dir + ": " + AutoencoderConfig.FILE_NAME + " is missing");
        }
        try {
            return AutoencoderConfig.fromJson(Files.readString(file), file.toString());
        } catch (IllegalArgumentException e) {
            throw new ModelFolderException(e.getMessage(), e);
        }
    }

    /** The weights file of the autoencoder in {@code dir} (safetensors, else the PyTorch pickle). */
    public static Path weights(Path dir) throws ModelFolderException {
        for (String name : new String[] {SAFETENSORS_FILE, BIN_FILE}) {
            if (Files.isRegularFile(dir.resolve(name))) {
                return dir.resolve(name);
            }
        }
        throw new ModelFolderException(dir + ": the weights are missing (" + SAFETENSORS_FILE + " or " + BIN_FILE
                + ")");
    }

    /** Loads the autoencoder in {@code dir} with its weights on {@code device}. */
    public static Autoencoder load(Path dir, Device device, DType dtype) throws IOException {
        AutoencoderConfig c = config(dir);
        Path w = weights(dir);
        try {
            return c.kind() == AutoencoderConfig.Kind.AUTOENCODER_KL ? AutoencoderKL.load(c, w, device, dtype)
                    : VQModel.load(c, w, device, dtype);
        } catch (IllegalArgumentException e) {
            throw new ModelFolderException(e.getMessage(), e);
        }
    }
}
