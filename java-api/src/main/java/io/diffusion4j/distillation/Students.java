package io.diffusion4j.distillation;

import io.diffusion4j.bindings.TorchScriptRuntime;
import io.diffusion4j.model.TrainableModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Helpers shared by the distillation methods. */
final class Students {
    private static final Logger LOG = LoggerFactory.getLogger(Students.class);

    private Students() {
    }

    /**
     * As the {@code Trainer} does for a TorchScript model on the CPU: turns TorchScript's graph-executor optimization
     * off on the calling thread (LibTorch's switch is per thread), so that a run is bit-reproducible across resume (a
     * freshly loaded module runs the plain plan).
     */
    static void preferPlainGraphs(TrainableModel student) {
        if (TrainableModel.torchScriptModule(student) != null && !student.device().isCuda()
                && TorchScriptRuntime.graphOptimization()) {
            TorchScriptRuntime.setGraphOptimization(false);
            LOG.info("TorchScript graph-executor optimization turned off on this thread for distillation on the CPU");
        }
    }
}
