#define FALCON_NS generic
#include "kernels_impl.h"
