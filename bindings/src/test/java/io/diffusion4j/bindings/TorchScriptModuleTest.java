package io.diffusion4j.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TorchScriptModuleTest {

    @Test
    void runsAPythonWrittenModuleWithPythonsResult() throws Exception {
        try (NativeScope scope = new NativeScope();
             TorchScriptModule m = TorchScriptModule.load(Fixtures.python("conv.pt"), Device.CPU)) {
            assertEquals(List.of(new TorchScriptModule.Argument("sample", "Tensor"),
                    new TorchScriptModule.Argument("timestep", "Tensor")), m.forwardArguments());
            Tensor x = TensorFiles.read(Fixtures.python("conv_input.pt"));
            Tensor t = TensorFiles.read(Fixtures.python("conv_timesteps.pt"));
            float[] expected = TensorFiles.read(Fixtures.python("conv_output.pt")).toFloatArray();
            float[] got = m.forward(x, t).toFloatArray();
            assertEquals(expected.length, got.length);
            for (int i = 0; i < got.length; i++) {
                assertEquals(expected[i], got[i], 1e-6, "element " + i);
            }
        }
    }

    @Test
    void loadsFromBytesAndSavesAFileThatLoadsBack(@TempDir Path dir) throws Exception {
        byte[] bytes = Files.readAllBytes(Fixtures.python("conv.pt"));
        try (NativeScope scope = new NativeScope();
             TorchScriptModule m = TorchScriptModule.load(bytes, "conv bytes", Device.CPU)) {
            Path copy = dir.resolve("copy.pt");
            m.save(copy);
            try (TorchScriptModule back = TorchScriptModule.load(copy, Device.CPU)) {
                Tensor x = TensorFiles.read(Fixtures.python("conv_input.pt"));
                Tensor t = TensorFiles.read(Fixtures.python("conv_timesteps.pt"));
                assertArrayEquals(m.forward(x, t).toFloatArray(), back.forward(x, t).toFloatArray());
            }
            assertEquals(2, m.parameters().size(), "conv weight and bias");
        }
    }

    @Test
    void callsAnExportedMethodByNameAndNamesAMissingOne() throws Exception {
        org.bytedeco.pytorch.JitModule raw = new org.bytedeco.pytorch.JitModule(
                new org.bytedeco.pytorch.QualifiedName("Twice"));
        raw.define("def forward(self, x: Tensor) -> Tensor:\n    return x\n"
                + "def twice(self, x: Tensor, k: int) -> Tensor:\n    return x * 2 + k\n"
                + "def count(self, x: Tensor) -> int:\n    return x.numel()\n");
        Path file = Files.createTempDirectory("twice").resolve("twice.pt");
        raw.save(file.toString());
        try (NativeScope scope = new NativeScope(); TorchScriptModule m = TorchScriptModule.load(file, Device.CPU)) {
            assertTrue(m.hasMethod("twice"));
            assertTrue(!m.hasMethod("features"));
            assertArrayEquals(new float[] {3, 5}, m.call("twice", Tensor.fromFloats(new float[] {1, 2}, 2), 1L)
                    .toFloatArray());
            ModelInvocationException missing = assertThrows(ModelInvocationException.class,
                    () -> m.call("features", Tensor.fromFloats(new float[] {1}, 1)));
            assertTrue(missing.getMessage().contains("has no method 'features'"), missing.getMessage());
            ModelInvocationException notTensor = assertThrows(ModelInvocationException.class,
                    () -> m.call("count", Tensor.fromFloats(new float[] {1}, 1)));
            assertTrue(notTensor.getMessage().contains("count of"), notTensor.getMessage());
            ModelInvocationException badArgs = assertThrows(ModelInvocationException.class,
                    () -> m.call("twice", Tensor.fromFloats(new float[] {1}, 1)));
            assertTrue(badArgs.getMessage().startsWith("twice("), badArgs.getMessage());
        }
    }

    @Test
    void forwardTakesIntsAndFloatsToo() throws Exception {
        org.bytedeco.pytorch.JitModule raw = new org.bytedeco.pytorch.JitModule(
                new org.bytedeco.pytorch.QualifiedName("Affine"));
        raw.define("def forward(self, x: Tensor, scale: float, shift: int) -> Tensor:\n"
                + "    return x * scale + shift\n");
        Path dir = Files.createTempDirectory("affine");
        Path file = dir.resolve("affine.pt");
        raw.save(file.toString());
        try (NativeScope scope = new NativeScope(); TorchScriptModule m = TorchScriptModule.load(file, Device.CPU)) {
            assertEquals("[x: Tensor, scale: float, shift: int]", m.forwardArguments().toString());
            Tensor x = Tensor.fromFloats(new float[] {1, 2}, 2);
            assertArrayEquals(new float[] {5, 8}, m.forward(x, 3.0, 2L).toFloatArray());
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }

    @Test
    void missingFile(@TempDir Path dir) {
        Path missing = dir.resolve("model.pt");
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> TorchScriptModule.load(missing, Device.CPU));
        assertEquals("model file not found: " + missing.toAbsolutePath(), e.getMessage());
    }

    @Test
    void notATorchScriptFile(@TempDir Path dir) throws Exception {
        Path text = dir.resolve("model.pt");
        Files.writeString(text, "this is not a model");
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> TorchScriptModule.load(text, Device.CPU));
        assertTrue(e.getMessage().startsWith(text + ": not a TorchScript archive"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        assertTrue(e.getCause() instanceof RuntimeException, "native error kept as cause");
    }

    @Test
    void aStateDictIsNotTorchScript() {
        Path sd = Fixtures.python("state_dict.pt");
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> TorchScriptModule.load(sd, Device.CPU));
        assertTrue(e.getMessage().contains("not a TorchScript module"), e.getMessage());
        assertTrue(e.getMessage().contains("torch.jit.save"), e.getMessage());
    }

    @Test
    void truncatedFile(@TempDir Path dir) throws Exception {
        byte[] bytes = Files.readAllBytes(Fixtures.python("conv.pt"));
        Path cut = dir.resolve("cut.pt");
        Files.write(cut, Arrays.copyOf(bytes, bytes.length / 2));
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> TorchScriptModule.load(cut, Device.CPU));
        assertTrue(e.getMessage().startsWith(cut.toString() + ": "), e.getMessage());
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
    }

    @Test
    void wrongInputShapeNamesTheArgumentsAndTheReason() throws Exception {
        try (NativeScope scope = new NativeScope();
             TorchScriptModule m = TorchScriptModule.load(Fixtures.python("conv.pt"), Device.CPU)) {
            Tensor x = Tensor.zeros(DType.FLOAT32, Device.CPU, 2, 3, 8, 8);
            Tensor t = Tensor.fromLongs(new long[] {1, 2}, 2);
            ModelInvocationException e = assertThrows(ModelInvocationException.class, () -> m.forward(x, t));
            String msg = e.getMessage();
            assertTrue(msg.startsWith("forward(sample: float32[2, 3, 8, 8], timestep: int64[2]) of "), msg);
            assertTrue(msg.contains("conv.pt failed: "), msg);
            assertTrue(msg.contains("channels"), msg);
            assertEquals(1, msg.lines().count(), msg);
        }
    }

    @Test
    void wrongInputDtypeAndArity() throws Exception {
        try (NativeScope scope = new NativeScope();
             TorchScriptModule m = TorchScriptModule.load(Fixtures.python("conv.pt"), Device.CPU)) {
            Tensor x = Tensor.zeros(DType.FLOAT64, Device.CPU, 2, 1, 8, 8);
            Tensor t = Tensor.fromLongs(new long[] {1, 2}, 2);
            ModelInvocationException e = assertThrows(ModelInvocationException.class, () -> m.forward(x, t));
            assertTrue(e.getMessage().startsWith("forward(sample: float64[2, 1, 8, 8], timestep: int64[2])"), e.getMessage());
            assertTrue(e.getMessage().toLowerCase().contains("double") || e.getMessage().contains("type"), e.getMessage());
            ModelInvocationException arity = assertThrows(ModelInvocationException.class, () -> m.forward(x));
            assertTrue(arity.getMessage().contains("takes 2 argument(s) (sample: Tensor, timestep: Tensor), got 1"),
                    arity.getMessage());
        }
    }

    @Test
    void useAfterCloseIsAnIllegalState() throws Exception {
        TorchScriptModule m = TorchScriptModule.load(Fixtures.python("conv.pt"), Device.CPU);
        m.close();
        assertThrows(IllegalStateException.class, () -> m.forward());
    }

    @Test
    void aFrozenCopyGivesThePlainModulesOutputAndHasNoParameters() throws Exception {
        try (NativeScope scope = new NativeScope();
             TorchScriptModule m = TorchScriptModule.load(Fixtures.python("conv.pt"), Device.CPU)) {
            m.train(true);
            Tensor x = TensorFiles.read(Fixtures.python("conv_input.pt"));
            Tensor t = TensorFiles.read(Fixtures.python("conv_timesteps.pt"));
            float[] expected = TensorFiles.read(Fixtures.python("conv_output.pt")).toFloatArray();
            try (TorchScriptModule frozen = m.frozen()) {
                assertTrue(m.isTraining(), "freezing leaves the module's own training mode alone");
                assertEquals(m.forwardArguments(), frozen.forwardArguments());
                assertEquals(0, frozen.parameters().size(), "the weights are constants of the frozen graph");
                assertEquals(2, m.parameters().size(), "the plain module keeps its parameters");
                try (InferenceGuard g = Torch.inferenceMode()) {
                    for (int call = 0; call < 3; call++) { // the profiling executor optimizes after the first calls
                        float[] got = frozen.forward(x, t).toFloatArray();
                        for (int i = 0; i < got.length; i++) {
                            assertEquals(expected[i], got[i], 1e-6, "call " + call + ", element " + i);
                        }
                    }
                }
            }
            m.close();
            assertThrows(IllegalStateException.class, m::frozen);
        }
    }

    @Test
    void freezesOnAThreadWhereATrainerTurnedGraphOptimizationOff() throws Exception {
        boolean before = TorchScriptRuntime.graphOptimization();
        try (NativeScope scope = new NativeScope();
             TorchScriptModule m = TorchScriptModule.load(Fixtures.python("conv.pt"), Device.CPU)) {
            TorchScriptRuntime.setGraphOptimization(false);
            Tensor x = TensorFiles.read(Fixtures.python("conv_input.pt"));
            Tensor t = TensorFiles.read(Fixtures.python("conv_timesteps.pt"));
            float[] expected = m.forward(x, t).toFloatArray();
            try (TorchScriptModule frozen = m.frozen()) {
                assertEquals(false, TorchScriptRuntime.graphOptimization(), "the thread's setting is restored");
                assertArrayEquals(expected, frozen.forward(x, t).toFloatArray());
            }
        } finally {
            TorchScriptRuntime.setGraphOptimization(before);
        }
    }

    @Test
    void eachGraphExecutorRunsAPythonModuleToPyTorchsOutput() throws Exception {
        assertEquals(TorchScriptRuntime.GraphExecutor.PROFILING, TorchScriptRuntime.graphExecutor(), "the default");
        try (NativeScope scope = new NativeScope(); InferenceGuard g = Torch.inferenceMode()) {
            Tensor x = TensorFiles.read(Fixtures.python("conv_input.pt"));
            Tensor t = TensorFiles.read(Fixtures.python("conv_timesteps.pt"));
            float[] expected = TensorFiles.read(Fixtures.python("conv_output.pt")).toFloatArray();
            for (TorchScriptRuntime.GraphExecutor e : TorchScriptRuntime.GraphExecutor.values()) {
                try {
                    TorchScriptRuntime.setGraphExecutor(e);
                    assertEquals(e, TorchScriptRuntime.graphExecutor());
                    try (TorchScriptModule m = TorchScriptModule.load(Fixtures.python("conv.pt"), Device.CPU)) {
                        for (int call = 0; call < 3; call++) { // executors specialise after the first calls
                            float[] got = m.forward(x, t).toFloatArray();
                            for (int i = 0; i < got.length; i++) {
                                assertEquals(expected[i], got[i], 1e-6, e + ", call " + call + ", element " + i);
                            }
                        }
                    }
                } finally {
                    TorchScriptRuntime.setGraphExecutor(TorchScriptRuntime.GraphExecutor.PROFILING);
                }
            }
        }
        assertThrows(IllegalArgumentException.class, () -> TorchScriptRuntime.setGraphExecutor(null));
    }
}
