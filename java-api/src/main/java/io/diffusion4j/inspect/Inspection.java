package io.diffusion4j.inspect;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.TorchScriptModule;
import io.diffusion4j.image.ValueRange;
import io.diffusion4j.model.ModelSpec;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * What {@link ModelInspector} found out about a TorchScript denoiser by calling it.
 *
 * @param arguments                 the forward's arguments after {@code self} (names and TorchScript types)
 * @param takesClassLabels          whether the forward takes a third, class-label argument
 * @param sampleShape               the per-sample shape the probes used (no batch dimension), or null if none was
 *                                  given (then nothing below was probed)
 * @param outputShape               the output shape for a batch of two such samples, or null
 * @param timestepDTypes            the timestep dtypes the forward accepted (int64, float32), in that order
 * @param embedsFractionalTimesteps whether timesteps 500 and 500.25 (float32) give different outputs
 * @param classIds                  how many class ids (0..classIds-1) the forward accepted, 0 when it takes none
 * @param failure                   why a probe with the sample shape failed (one line), or null
 */
public record Inspection(List<TorchScriptModule.Argument> arguments, boolean takesClassLabels, long[] sampleShape,
                         long[] outputShape, List<DType> timestepDTypes, boolean embedsFractionalTimesteps,
                         int classIds, String failure) {

    public Inspection {
        arguments = List.copyOf(arguments);
        timestepDTypes = List.copyOf(timestepDTypes);
        sampleShape = sampleShape == null ? null : sampleShape.clone();
        outputShape = outputShape == null ? null : outputShape.clone();
        if (classIds < 0) {
            throw new IllegalArgumentException("classIds must be >= 0, got " + classIds);
        }
    }

    @Override
    public long[] sampleShape() {
        return sampleShape == null ? null : sampleShape.clone();
    }

    @Override
    public long[] outputShape() {
        return outputShape == null ? null : outputShape.clone();
    }

    /**
     * The timestep dtype to declare: the only one accepted, or null when the forward takes both (then the scheduler's
     * own dtype applies, as in diffusers).
     */
    public DType declaredTimestepDType() {
        return timestepDTypes.size() == 1 ? timestepDTypes.get(0) : null;
    }

    /** Whether every probe succeeded: the sample shape was accepted and gave an output of the same shape. */
    public boolean ok() {
        if (failure != null || sampleShape == null || outputShape == null || timestepDTypes.isEmpty()) {
            return false;
        }
        long[] expected = new long[sampleShape.length + 1];
        expected[0] = ModelInspector.PROBE_BATCH;
        System.arraycopy(sampleShape, 0, expected, 1, sampleShape.length);
        long[] doubled = expected.clone();
        if (doubled.length > 1) {
            doubled[1] *= 2; // learned variance: twice the channels
        }
        return Arrays.equals(outputShape, expected) || Arrays.equals(outputShape, doubled);
    }

    /**
     * The {@code diffusion4j.json} this inspection supports.
     *
     * @param name        the model's name
     * @param valueRange  the data's range (null: not images)
     * @param nullClassId the unconditional class id of a class-conditional model, or -1 for none; the classes are
     *                    the accepted ids other than it
     * @throws IllegalStateException if the probes did not succeed
     */
    public ModelSpec toSpec(String name, ValueRange valueRange, int nullClassId) {
        if (!ok()) {
            throw new IllegalStateException("the model was not probed successfully"
                    + (failure != null ? ": " + failure : sampleShape == null ? ": no sample shape given" : ""));
        }
        if (nullClassId >= 0 && (!takesClassLabels || nullClassId >= classIds)) {
            throw new IllegalArgumentException("null class id " + nullClassId + " is not one of the class ids the model "
                    + "accepts (" + (takesClassLabels ? "0.." + (classIds - 1) : "none: it takes no class labels") + ")");
        }
        int numClasses = !takesClassLabels ? 0 : nullClassId >= 0 && nullClassId == classIds - 1 ? classIds - 1 : classIds;
        return new ModelSpec(Objects.requireNonNull(name, "name"), "denoiser", sampleShape, valueRange,
                arguments.stream().map(TorchScriptModule.Argument::name).toList(), declaredTimestepDType(), numClasses,
                takesClassLabels ? nullClassId : -1);
    }
}
