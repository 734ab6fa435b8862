package dev.falcon.cli;

import dev.falcon.io.RunPhase;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * falcon's {@link Main} in a child JVM, with another thread that has output under way when the run is stopped, as a
 * library or a long line may: once the run is pruning it begins its output, creates the file named by
 * {@code -Dfalcon.test.marker} (the test then sends the signal) and finishes that output only once the stop is being
 * reported. {@code -Dfalcon.test.output=log}: a JUL WARNING whose message is still being formatted (JUL holds its console
 * handler meanwhile); {@code partial}: the first part of a line on stdout, flushed, and the rest after. {@code hold}, with
 * no stop: System.err's lock held (as println holds it across its writes) over the moment the first progress line is due,
 * 2 s into the phase, and a line printed under it.
 */
final class PrintsWhenStopped {
    static final String LOG_TEXT = "a warning from a library", PARTIAL_TEXT = "  wrote a line in two writes",
            HELD_TEXT = "a line printed holding System.err's lock";

    public static void main(String[] args) {
        Path marker = Path.of(System.getProperty("falcon.test.marker"));
        String output = System.getProperty("falcon.test.output");
        Thread t = new Thread(() -> {
            while (RunPhase.where() == null || !RunPhase.where().startsWith("while pruning")) pause(10);
            if (output.equals("log")) {
                Object slow = new Object() {
                    @Override public String toString() {
                        reachedAndAwaitStop(marker);
                        return "formatted";
                    }
                };
                java.util.logging.Logger.getLogger("org.example.library").log(java.util.logging.Level.WARNING, LOG_TEXT + " {0}", slow);
            } else if (output.equals("hold")) {
                synchronized (System.err) {
                    reached(marker);
                    pause(3000);
                    System.err.println(HELD_TEXT);
                }
            } else {
                System.out.print(PARTIAL_TEXT.substring(0, 10));
                System.out.flush();
                reachedAndAwaitStop(marker);
                System.out.println(PARTIAL_TEXT.substring(10));
            }
        }, "prints-when-stopped");
        t.setDaemon(true);
        t.start();
        Main.main(args);
    }

    /** Tells the test to signal, and returns a while after the stop report has begun (its line takes milliseconds). */
    private static void reachedAndAwaitStop(Path marker) {
        reached(marker);
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (!RunPhase.stopping() && System.nanoTime() < deadline) pause(5);
        pause(500);
    }

    private static void reached(Path marker) {
        try {
            Files.createFile(marker);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
