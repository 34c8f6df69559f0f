package io.diffusion4j.model;

import java.io.IOException;

/** A model folder is incomplete or one of its files is wrong; the message names the file and the field. */
public class ModelFolderException extends IOException {
    private static final long serialVersionUID = 1L;

    public ModelFolderException(String message) {
        super(message);
    }

    public ModelFolderException(String message, Throwable cause) {
        super(message, cause);
    }
}
