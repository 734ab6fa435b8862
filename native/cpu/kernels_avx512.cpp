#define FALCON_NS avx512
#include "kernels_impl.h"
