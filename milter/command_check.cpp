#include "milter/commands.h"

#include <cstdio>

namespace quotamilter::cli {

int run_check(const Args&) {
    std::fputs("quotamilter check: not implemented yet\n", stderr);
    return 2;
}

}  // namespace quotamilter::cli
