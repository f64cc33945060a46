// quotamilter check FILE...: validate rule files, one line per problem.
#include "cli/cli_args.h"
#include "cli/commands.h"
#include "rules/load.h"

#include <cstdio>

namespace quotamilter::cli {

namespace {
constexpr const char* kCheckHelp =
    "usage: quotamilter check FILE...\n"
    "\n"
    "Validates rule files (rules-v1). Prints nothing when every file is valid;\n"
    "otherwise one line per problem on stderr: FILE:LINE:COL: message.\n"
    "Exit status: 0 all valid, 1 some file is invalid, 2 usage error.\n";
}  // namespace

int run_check(const Args& args) {
    const ParsedArgs parsed(args, {}, {"help"});
    if (parsed.has("help")) {
        std::fputs(kCheckHelp, stdout);
        return 0;
    }
    if (parsed.positional().empty()) throw UsageError("expected at least one rule FILE");
    int status = 0;
    for (const std::string& path : parsed.positional()) {
        auto result = rules::load_rules_file(path);
        if (auto* errors = std::get_if<std::vector<rules::Diagnostic>>(&result)) {
            for (const rules::Diagnostic& diagnostic : *errors) std::fprintf(stderr, "%s\n", diagnostic.str().c_str());
            status = 1;
        }
    }
    return status;
}

}  // namespace quotamilter::cli
