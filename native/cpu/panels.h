// The panel layout of X shared by the dispatcher and the per-ISA kernels.
#ifndef FALCON_PANELS_H
#define FALCON_PANELS_H
#include <stdint.h>

namespace falcon {
/**
 * Columns [col, col + len) of one row-major panel: element (i, col + c) is at base[i * stride + c]. A block of the
 * block-diagonal model is one piece when it coincides with a panel, several when it spans panels.
 */
struct PanelPiece {
    const float* base;
    int64_t stride;
    int64_t len;
    int64_t col;
};
}  // namespace falcon
#endif
