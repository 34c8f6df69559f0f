package io.diffusion4j.cli;

import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.image.ValueRange;
import io.diffusion4j.inspect.Inspection;
import io.diffusion4j.inspect.ModelInspector;
import io.diffusion4j.model.ModelFolder;
import io.diffusion4j.model.ModelSpec;
import io.diffusion4j.training.data.DatasetException;
import io.diffusion4j.training.data.ImageFolderDataset;
import io.diffusion4j.training.data.TensorFileDataset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The spec {@code train --model DIR} trains and exports with: the folder's {@code diffusion4j.json} with
 * {@code --sample-shape} / {@code --value-range} applied, or, for a folder with only {@code model.pt} +
 * {@code scheduler_config.json}, one inferred from the data (an image folder's first image, a tensor file's sample
 * shape), {@code --value-range} (default [-1, 1], diffusers' convention, for images) and probing the model.
 */
final class TrainingSpec {
    private TrainingSpec() {
    }

    static ModelSpec resolve(ModelFolder folder, TorchScriptModule module, String sampleShapeOption,
                             String valueRangeOption, Path data, Path labels) throws IOException {
        long[] shape = SampleShapes.parse("--sample-shape", sampleShapeOption);
        ValueRange range = ValueRanges.parse("--value-range", valueRangeOption);
        ModelSpec own = folder.spec();
        boolean images = Files.isDirectory(data);
        if (own != null) {
            if (shape == null && range == null) {
                return own;
            }
            return new ModelSpec(own.name(), own.kind(), shape != null ? shape : own.sampleShape(),
                    range != null ? range : own.valueRange(), own.forwardSignature(), own.timestepDType(),
                    own.numClasses(), own.nullClassId());
        }
        if (shape == null) {
            try {
                shape = images ? ImageFolderDataset.sampleShapeOf(data) : TensorFileDataset.read(data, labels)
                        .sampleShape();
            } catch (DatasetException | io.diffusion4j.bindings.TensorFileException e) {
                throw new UsageException("--data: " + e.getMessage());
            }
        }
        if (range == null && images) {
            range = ValueRange.MINUS_ONE_TO_ONE;
        }
        Inspection found = ModelInspector.inspect(module, shape);
        if (!found.ok()) {
            throw new UsageException(folder.location() + " has no " + ModelSpec.FILE_NAME + " and does not take samples "
                    + Arrays.toString(shape) + (found.failure() != null ? " (" + found.failure() + ")"
                    : found.outputShape() != null ? " (its output is " + Arrays.toString(found.outputShape()) + ")" : "")
                    + "; give --sample-shape, or describe it with 'diffusion4j inspect --model DIR --write'");
        }
        String name = Path.of(folder.location()).getFileName().toString();
        return found.toSpec(name, range, -1);
    }
}
