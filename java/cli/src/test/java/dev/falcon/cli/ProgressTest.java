package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.falcon.io.RunPhase;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ProgressTest {
    @AfterEach
    void clearPhase() {
        RunPhase.set(null);
    }

    /**
     * falcon++'s progress lines name the stage while a later stage's X loads, as they do during its solve: the review saw
     * "falcon: pruning (falcon++) ... 76 s" alone while stage 1's 1.5 GiB X was copied.
     */
    @Test
    void aLaterStagesLoadIsNamedInTheProgressLine() throws InterruptedException {
        StringWriter text = new StringWriter();
        try (Progress progress = new Progress(new PrintWriter(text, true), false)) {
            progress.begin("pruning (falcon++)");
            RunPhase.set("while getting stage 1's X (falcon++)");
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (!text.toString().contains("pruning (falcon++) ...") && System.nanoTime() < deadline) Thread.sleep(50);
        }
        assertTrue(text.toString().contains(" s (getting stage 1's X)"), text.toString());
    }
}
