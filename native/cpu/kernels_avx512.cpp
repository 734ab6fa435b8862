#define FALCON_NS avx512
#define FALCON_VBYTES 64
#include "kernels_impl.h"
