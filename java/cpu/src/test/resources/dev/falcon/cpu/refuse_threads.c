/* LD_PRELOAD shim for ThreadLimitTest: pthread_create with default attributes (std::thread's) succeeds
 * FALCON_TEST_THREADS_ALLOWED times, then fails with EAGAIN, as it does at the system's thread limit. Threads created
 * with attributes (the JVM's) are left alone. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*), void* arg) {
    static int defaultAttrCalls = 0;
    int (*real)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*) =
        (int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*))dlsym(RTLD_NEXT, "pthread_create");
    const char* allowed = getenv("FALCON_TEST_THREADS_ALLOWED");
    if (allowed != NULL && attr == NULL && __atomic_fetch_add(&defaultAttrCalls, 1, __ATOMIC_SEQ_CST) >= atoi(allowed)) return EAGAIN;
    return real(thread, attr, start, arg);
}
