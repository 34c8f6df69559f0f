package io.diffusion4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code distill --method guidance}: a (tiny) run whose folder samples guided in one forward, and its usage errors. */
class GuidanceDistillCommandTest {
    static final String FIXTURE = "io/diffusion4j/fixtures/digits-guidance-student/";

    @TempDir
    Path tmp;

    private Path resource(String resource, Path to) throws IOException {
        try (InputStream in = getClass().getClassLoader().getResourceAsStream(resource)) {
            Files.createDirectories(to.getParent());
            Files.copy(in, to);
        }
        return to;
    }

    @Test
    void guidanceStudentFolderSamplesGuided() throws IOException {
        Path x = resource("io/diffusion4j/reference/training/digits_data.pt", tmp.resolve("x.pt"));
        Path y = resource("io/diffusion4j/reference/training/digits_labels.pt", tmp.resolve("y.pt"));
        Path init = tmp.resolve("init");
        for (String f : new String[] {"model.pt", "scheduler_config.json", "diffusion4j.json"}) {
            resource(FIXTURE + f, init.resolve(f));
        }
        Path out = tmp.resolve("student");
        CommandsTest.Result r = CommandsTest.run("distill", "--teacher", "digits", "--method", "guidance", "--student",
                init.toString(), "--steps-to", "4", "--steps", "3", "--batch", "8", "--data", x.toString(), "--labels",
                y.toString(), "--threads", "1", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.readString(out.resolve("diffusion4j.json")).contains("\"guidance_scale\""));
        r = CommandsTest.run("sample", "--model", out.toString(), "--class", "3", "--guidance", "3", "--batch", "2",
                "--out", tmp.resolve("s.png").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("4 ddim steps"), r.out());

        TimestepsOptionTest.assertUsageError(CommandsTest.run("distill", "--teacher", "digits", "--method",
                "guidance", "--steps-to", "4", "--data", x.toString(), "--labels", y.toString(), "--out",
                tmp.resolve("o").toString()), "--student");
        TimestepsOptionTest.assertUsageError(CommandsTest.run("distill", "--teacher", "digits", "--method",
                "guidance", "--student", "digits", "--steps-to", "4", "--steps", "1", "--data", x.toString(),
                "--labels", y.toString(), "--out", tmp.resolve("o").toString()), "takes no guidance scale");
        TimestepsOptionTest.assertUsageError(CommandsTest.run("distill", "--teacher", "digits", "--method",
                "guidance", "--student", init.toString(), "--guidance-range", "5,1", "--steps-to", "4", "--data",
                x.toString(), "--labels", y.toString(), "--out", tmp.resolve("o").toString()), "guidance range");
    }

    @Test
    void aJavaBuiltUNetTeacherGetsItsGuidanceStudentWithoutStudentFolder() throws IOException {
        Path x = resource("io/diffusion4j/reference/training/digits_data.pt", tmp.resolve("x.pt"));
        Path y = resource("io/diffusion4j/reference/training/digits_labels.pt", tmp.resolve("y.pt"));
        Path teacher = tmp.resolve("unet");
        CommandsTest.Result r = CommandsTest.run("train", "--arch", "unet", "--width", "8", "--depth", "1", "--data",
                x.toString(), "--labels", y.toString(), "--steps", "2", "--batch", "8", "--threads", "1", "--out",
                teacher.toString());
        assertEquals(0, r.code(), r.err());
        Path out = tmp.resolve("student");
        r = CommandsTest.run("distill", "--teacher", teacher.toString(), "--method", "guidance", "--steps-to", "4",
                "--steps", "2", "--batch", "8", "--data", x.toString(), "--labels", y.toString(), "--threads", "1",
                "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        String spec = Files.readString(out.resolve("diffusion4j.json"));
        assertTrue(spec.contains("\"guidance_embedding\" : true") && spec.contains("\"guidance_scale\" ]"), spec);
        assertTrue(Files.isRegularFile(out.resolve("weights.pt")));
        r = CommandsTest.run("sample", "--model", out.toString(), "--class", "3", "--guidance", "3", "--batch", "2",
                "--save-tensor", tmp.resolve("s.pt").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("4 ddim steps"), r.out());

        // progressive rounds at per-example w: the students keep the guidance input and take --guidance
        Path rounds = tmp.resolve("rounds");
        r = CommandsTest.run("distill", "--teacher", out.toString(), "--method", "progressive", "--teacher-steps", "4",
                "--steps-to", "2", "--guidance-range", "1,5", "--steps", "2", "--batch", "8", "--data", x.toString(),
                "--labels", y.toString(), "--threads", "1", "--out", rounds.toString());
        assertEquals(0, r.code(), r.err());
        spec = Files.readString(rounds.resolve("diffusion4j.json"));
        assertTrue(spec.contains("\"guidance_embedding\" : true") && spec.contains("\"guidance_scale_max\" : 5.0")
                && !spec.contains("distilled_guidance_scale"), spec);
        r = CommandsTest.run("sample", "--model", rounds.toString(), "--class", "3", "--guidance", "3", "--batch", "2",
                "--save-tensor", tmp.resolve("p.pt").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("2 ddim steps"), r.out());

        String[] common = {"--method", "progressive", "--teacher-steps", "4", "--steps-to", "2", "--steps", "1",
            "--data", x.toString(), "--labels", y.toString(), "--out", tmp.resolve("o").toString()};
        TimestepsOptionTest.assertUsageError(CommandsTest.run(concat(new String[] {"distill", "--teacher",
                out.toString(), "--guidance", "3", "--guidance-range", "1,5"}, common)), "a fixed guidance scale (3.0) "
                + "and a guidance range [1.0, 5.0] exclude each other");
        TimestepsOptionTest.assertUsageError(CommandsTest.run(concat(new String[] {"distill", "--teacher",
                teacher.toString(), "--guidance-range", "1,5"}, common)), "takes no guidance scale: a guidance range "
                + "needs a guidance-conditioned teacher");
        TimestepsOptionTest.assertUsageError(CommandsTest.run(concat(new String[] {"distill", "--teacher",
                out.toString(), "--guidance-range", "1"}, common)), "--guidance-range must be MIN,MAX");
        TimestepsOptionTest.assertUsageError(CommandsTest.run("distill", "--teacher", out.toString(), "--method",
                "consistency", "--steps-to", "2", "--guidance-range", "1,5", "--data", x.toString(), "--labels",
                y.toString(), "--out", tmp.resolve("o").toString()), "--guidance-range applies to --method guidance "
                + "or progressive only");
        assertTrue(!Files.exists(tmp.resolve("o")), "no output for a usage error");
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
