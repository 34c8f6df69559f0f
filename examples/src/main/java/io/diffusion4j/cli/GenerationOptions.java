package io.diffusion4j.cli;

import io.diffusion4j.bindings.DType;
import io.diffusion4j.bindings.Device;
import io.diffusion4j.bindings.Torch;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Options shared by sample, img2img and inpaint. */
final class GenerationOptions {
    @Option(names = {"-m", "--model"}, required = true, paramLabel = "NAME|DIR",
            description = "A built-in model (see 'diffusion4j info') or a model folder (model.pt + scheduler_config.json"
                    + " [+ diffusion4j.json]).")
    String model;

    @Option(names = "--sample-shape", paramLabel = "D[,D...]",
            description = "Shape of one sample, e.g. 3,32,32, for a model folder without diffusion4j.json (default: "
                    + "its sample_shape; --init-noise also fixes it).")
    String sampleShape;

    @Option(names = "--value-range", paramLabel = "MIN,MAX",
            description = "The data's range, for a model folder without diffusion4j.json (default: -1,1 when "
                    + "--sample-shape is C,H,W, diffusers' convention).")
    String valueRange;

    @Option(names = "--scheduler", paramLabel = "NAME",
            description = "ddpm, ddim, euler, euler-a, heun, dpmsolver++, sde-dpmsolver++, adaptive, unipc, pndm, lms, "
                    + "deis, lcm, kdpm2 or dpmsolver-single (default: the config's _class_name).")
    String scheduler;

    @Option(names = "--steps", paramLabel = "N",
            description = "Inference steps (default: the length of the timesteps list if there is one; the config's "
                    + "num_inference_steps if it names one, as a distilled model does; else 1000 for ddpm, 50 for ddim, 4 for lcm, 20 for the other fixed-step solvers; "
                    + "the adaptive solver picks its own).")
    Integer steps;

    @Option(names = "--timesteps", paramLabel = "T[,T...]", split = ",",
            description = "Run exactly these timesteps, noisiest first (strictly decreasing, in 0..num_train_timesteps-1; "
                    + "diffusers' custom timesteps; default: the config's timesteps list if it has one, as a "
                    + "tune-schedule folder does, else the scheduler's spacing). Not with adaptive or pndm.")
    long[] timesteps;

    @Option(names = "--order", paramLabel = "K", description = "DPM-Solver++ (multistep or dpmsolver-single) or UniPC order: 1, 2 or 3 (default: the config's "
            + "solver_order, else 2).")
    Integer order;

    @Option(names = "--karras", description = "Karras et al.'s sigma schedule (euler, euler-a, heun, dpmsolver++, unipc, "
            + "lms, kdpm2, dpmsolver-single).")
    boolean karras;

    @Option(names = "--rtol", paramLabel = "R", description = "Relative tolerance of the adaptive solver (default 0.05).")
    Double rtol;

    @Option(names = "--atol", paramLabel = "A", description = "Absolute tolerance of the adaptive solver (default 0.0078).")
    Double atol;

    @Option(names = "--eta", paramLabel = "E", defaultValue = "0",
            description = "DDIM eta: 0 deterministic, 1 DDPM-like (default: ${DEFAULT-VALUE}).")
    double eta;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0",
            description = "Sample i uses seed S+i, as a diffusers pipeline with one generator per sample (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = {"-b", "--batch"}, paramLabel = "B", defaultValue = "1", description = "Number of samples (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--class", paramLabel = "C", split = ",",
            description = "Class id for a class-conditional model (one for all, or one per sample, comma-separated); "
                    + "left out: unconditional (the null class).")
    int[] classes;

    @Option(names = "--guidance", paramLabel = "G", defaultValue = "1",
            description = "Classifier-free guidance scale; on above 1 (default: ${DEFAULT-VALUE}).")
    double guidance;

    @Option(names = "--device", paramLabel = "D", defaultValue = "cpu", description = "cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--dtype", paramLabel = "T", defaultValue = "float32",
            description = "Model dtype: float32, float16 or bfloat16 (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--threads", paramLabel = "N", description = "LibTorch intra-op threads (default: 1 when batch x sample "
            + "elements < 1024, else up to 2; OpenBLAS stays at 1).")
    Integer threads;

    @Option(names = "--freeze", negatable = true, description = "Run a TorchScript model as a frozen copy "
            + "(torch.jit.freeze) or, with --no-freeze, as loaded. Default: frozen for runs of more than "
            + ShortRun.MAX_EVALUATIONS + " model evaluations; shorter runs start faster as loaded, on TorchScript's "
            + "simple executor (the same outputs either way).")
    Boolean freeze;

    @Option(names = "--save-tensor", paramLabel = "FILE",
            description = "Also write the final samples as a tensor file (what Python's torch.load reads).")
    Path saveTensor;

    @Option(names = "--save-latent", paramLabel = "FILE",
            description = "Latent models: also write the final latent (before decoding) as a tensor file (torch.load).")
    Path saveLatent;

    @Option(names = "--tiled-decode", description = "Latent models with an AutoencoderKL: decode tile by tile "
            + "(diffusers' enable_tiling), so memory stays bounded for latents larger than the VAE's sample size.")
    boolean tiledDecode;

    @Option(names = "--check-numerics", description = "Check for NaN/Inf after every step (a device sync per step).")
    boolean checkNumerics;

    @Option(names = "--shard", paramLabel = "I/N",
            description = "Generate only shard I of N of the batch: samples j with j % N == I, each with its own seed "
                    + "S+j; output files get .shard-I-of-N before their extension (row k is sample I+k*N).")
    String shard;

    /** {@code --shard I/N} as {index, count}, or null. */
    int[] shard() {
        if (shard == null) {
            return null;
        }
        String[] parts = shard.strip().split("/");
        try {
            if (parts.length == 2) {
                int i = Integer.parseInt(parts[0].strip());
                int n = Integer.parseInt(parts[1].strip());
                if (n >= 1 && i >= 0 && i < n) {
                    return new int[] {i, n};
                }
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new UsageException("--shard must be I/N with 0 <= I < N (e.g. 0/2), got " + shard);
    }

    /** {@code file} with {@code .shard-I-of-N} before its extension (the output of one shard). */
    static java.nio.file.Path shardFile(java.nio.file.Path file, int[] shard) {
        if (file == null || shard == null) {
            return file;
        }
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String tag = ".shard-" + shard[0] + "-of-" + shard[1];
        String sharded = dot > 0 ? name.substring(0, dot) + tag + name.substring(dot) : name + tag;
        return file.resolveSibling(sharded);
    }

    Device device() {
        try {
            return Torch.device(device);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--device: " + e.getMessage());
        }
    }

    DType dtype() {
        DType d = null;
        try {
            d = DType.parse(dtype);
        } catch (IllegalArgumentException e) {
            // reported below
        }
        if (d != DType.FLOAT32 && d != DType.FLOAT16 && d != DType.BFLOAT16) {
            throw new UsageException("--dtype must be float32, float16 or bfloat16, got '" + dtype + "'");
        }
        return d;
    }
}
