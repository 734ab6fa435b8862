#define FALCON_NS avx2
#include "kernels_impl.h"
