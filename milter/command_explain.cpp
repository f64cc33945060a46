#include "milter/commands.h"

#include <cstdio>

namespace quotamilter::cli {

int run_explain(const Args&) {
    std::fputs("quotamilter explain: not implemented yet\n", stderr);
    return 2;
}

}  // namespace quotamilter::cli
