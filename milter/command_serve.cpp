#include "milter/commands.h"

#include <cstdio>

namespace quotamilter::cli {

int run_serve(const Args&) {
    std::fputs("quotamilter serve: not implemented yet\n", stderr);
    return 2;
}

}  // namespace quotamilter::cli
