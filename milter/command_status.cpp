#include "milter/commands.h"

#include <cstdio>

namespace quotamilter::cli {

int run_status(const Args&) {
    std::fputs("quotamilter status: not implemented yet\n", stderr);
    return 2;
}

}  // namespace quotamilter::cli
