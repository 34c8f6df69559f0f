package io.diffusion4j.model;

/** A model name that is neither a built-in model nor a directory. */
public class ModelNotFoundException extends ModelFolderException {
    private static final long serialVersionUID = 1L;

    public ModelNotFoundException(String message) {
        super(message);
    }
}
