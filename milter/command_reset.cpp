#include "milter/commands.h"

#include <cstdio>

namespace quotamilter::cli {

int run_reset(const Args&) {
    std::fputs("quotamilter reset: not implemented yet\n", stderr);
    return 2;
}

}  // namespace quotamilter::cli
