package dev.falcon.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;

/** Raw copies take void*: JavaCPP would offset a positioned pointer in bytes, so the backend makes it absolute. */
class AbsolutePointerTest {
    @Test
    void positionBecomesAddress() {
        try (FloatPointer x = new FloatPointer(10); FloatPointer dst = new FloatPointer(2)) {
            for (int i = 0; i < 10; i++) x.put(i, i);
            FloatPointer y = new FloatPointer(x).position(6);
            Pointer a = CudaBackend.absolute(y);
            assertEquals(0, a.position());
            assertEquals(x.address() + 24, a.address());
            Pointer.memcpy(dst, a, 8);
            assertEquals(6f, dst.get(0));
            assertEquals(7f, dst.get(1));
            Pointer.memcpy(dst, CudaBackend.absolute(y).getPointer(2), 4);
            assertEquals(8f, dst.get(0));
        }
    }
}
