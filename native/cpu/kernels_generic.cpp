#define FALCON_NS generic
#define FALCON_VBYTES 16
#include "kernels_impl.h"
