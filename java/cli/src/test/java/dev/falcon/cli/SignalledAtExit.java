package dev.falcon.cli;

/**
 * falcon's {@link Main} in a child JVM that gets a SIGTERM at the moment the run has ended: as main calls System.exit,
 * the JVM raises the signal in itself and lets the exit go on only once the JVM's shutdown has begun (the signal's exit
 * went first) or a while has passed (the signal was let go). A batch system's time limit or a `kill` that comes just
 * after the run is done meets the same race, in a window too narrow to hit from outside.
 */
final class SignalledAtExit {
    public static void main(String[] args) {
        @SuppressWarnings("removal")
        SecurityManager atExit = new SecurityManager() {
            private volatile boolean raised;

            @Override public void checkPermission(java.security.Permission p) {}

            @Override public void checkPermission(java.security.Permission p, Object context) {}

            @Override public void checkExit(int status) {
                if (raised) return;
                raised = true;
                sun.misc.Signal.raise(new sun.misc.Signal("TERM"));
                long deadline = System.nanoTime() + 3_000_000_000L;
                while (!Main.shuttingDown() && System.nanoTime() < deadline) pause();
            }
        };
        System.setSecurityManager(atExit);
        Main.main(args);
    }

    private static void pause() {
        try {
            Thread.sleep(10);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
