package dev.falcon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * --lambda-convention says how --lambda is read. Without --lambda it reread the default 1e-3 as the authors' l2, so
 * lambda was 1e-3 n (0.006 here) with exit 0 and no word; an option not read is refused, as the README promises.
 */
class LambdaConventionTest extends SmallModel {
    @Test
    void aConventionWithoutLambdaIsRefused() throws IOException {
        for (String convention : new String[] {"falcon", "ridge"}) {
            assertRefused(prune("--grads", x.toString(), "--lambda-convention", convention), 2,
                    "--lambda-convention: option: says how --lambda is read, and --lambda is not given", "give --lambda with it");
        }
        // with --lambda it is read as before: l2 = 1e-3 is lambda = 1e-3 n
        MainTest.Run r = prune("--grads", x.toString(), "--lambda", "1e-3", "--lambda-convention", "falcon");
        assertEquals(0, r.code(), r.err());
        assertEquals(1e-3 * MainTest.N, report().at("/objective/ours/lambda").asDouble(), 1e-15);
    }
}
