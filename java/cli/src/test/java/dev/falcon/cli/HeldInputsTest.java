package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.falcon.io.ArrayFiles;
import dev.falcon.io.InputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The checksums of falcon++'s stage files. They were watched from the start and hashed by path at the end: a stage file
 * replaced by a rename before its stage (what the message of a changed input advises) ended a finished run with exit 2,
 * "changed during the run". Each stage now holds its file while it reads it and hashes that file.
 */
class HeldInputsTest {
    @TempDir Path dir;

    private static void replace(Path file, String contents) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, contents);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    @Test
    void aStageFileReplacedBeforeItsStageIsHashedAsTheStageReadIt() throws IOException {
        Path stage1 = dir.resolve("X_1.npy"), stage2 = dir.resolve("X_2.npy");
        Files.writeString(stage1, "stage 1 as exported first");
        Files.writeString(stage2, "stage 2, never read");
        try (HeldInputs held = new HeldInputs()) {
            held.watchArray("--grads stage 1", stage1.toString());
            held.watchArray("--grads stage 2", stage2.toString());
            replace(stage1, "stage 1 as exported again, longer");
            String read = ArrayFiles.sha256(stage1);

            held.loadingStage("--grads stage 1", stage1);
            held.loadedStage("--grads stage 1", 1L << 30);
            assertTrue(held.readByItsStage("--grads stage 1"));
            assertFalse(held.readByItsStage("--grads stage 2"), "stage 2 was not reached: it has no checksum");
            Map<String, Object> entry = held.checksum("--grads stage 1", 1L << 30);
            assertEquals(read, entry.get("sha256"), entry.toString());
            assertFalse(entry.containsKey("note"), entry.toString());

            // replaced again after its stage read it: still the checksum of the file read, with the note of a replaced input
            replace(stage1, "a third export");
            entry = held.checksum("--grads stage 1", 1L << 30);
            assertEquals(read, entry.get("sha256"), entry.toString());
            assertTrue(String.valueOf(entry.get("note")).contains("names another file now"), entry.toString());
        }
    }

    /**
     * A stage file there when the run started (the run checks them all then) and removed before its stage read it was
     * "--grads stage 3: X_stage3.npy: file: does not exist; check the path", which reads like a typo.
     */
    @Test
    void aStageFileRemovedAfterTheStartIsSaidToHaveGoneDuringTheRun() throws IOException {
        Path stage3 = dir.resolve("X_stage3.npy");
        Files.writeString(stage3, "stage 3");
        try (HeldInputs held = new HeldInputs()) {
            held.watchArray("--grads stage 3", stage3.toString());
            Files.delete(stage3);
            InputException e = assertThrows(InputException.class, () -> held.loadingStage("--grads stage 3", stage3));
            assertTrue(e.getMessage().startsWith("--grads stage 3: " + stage3 + ": file: was present when the run started and is missing now:"
                    + " it was moved or deleted during the run") && !e.getMessage().contains("check the path"), e.getMessage());
        }
    }

    @Test
    void aStageFileRewrittenInPlaceWhileItsStageReadsItIsRefused() throws IOException {
        Path stage1 = dir.resolve("X_1.npy");
        Files.writeString(stage1, "stage 1");
        try (HeldInputs held = new HeldInputs()) {
            held.watchArray("--grads stage 1", stage1.toString());
            held.loadingStage("--grads stage 1", stage1);
            Files.writeString(stage1, "stage 1, rewritten in place");
            Files.setLastModifiedTime(stage1, FileTime.fromMillis(Files.getLastModifiedTime(stage1).toMillis() + 5000));
            InputException e = assertThrows(InputException.class, () -> held.loadedStage("--grads stage 1", 1L << 30));
            assertTrue(e.getMessage().contains("X_1.npy") && e.getMessage().contains("changed while its stage read it"), e.getMessage());
        }
    }
}
