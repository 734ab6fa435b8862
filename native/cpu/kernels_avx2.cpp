#define FALCON_NS avx2
#define FALCON_VBYTES 32
#include "kernels_impl.h"
