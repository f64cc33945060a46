// quotamilter: one binary, subcommands in the style of postfix/postconf.
#include "cli/cli_args.h"
#include "cli/commands.h"

#include <cstdio>
#include <exception>
#include <map>
#include <string>

namespace {

constexpr const char* kUsage =
    "usage: quotamilter COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  serve     run the milter in the foreground (until SIGTERM/SIGINT; SIGUSR1 reloads rules)\n"
    "  check     validate rule files: FILE:LINE:COL: message per error\n"
    "  explain   show which policies and quotas apply to a sender (touches no store)\n"
    "  status    show counters of a key, or the most loaded keys\n"
    "  reset     clear the counters of a key\n"
    "\n"
    "quotamilter COMMAND --help for the options of a command; quotamilter --version.\n";

}  // namespace

int main(int argc, char** argv) {
    using namespace quotamilter::cli;
    const std::map<std::string, int (*)(const Args&)> commands = {
        {"serve", run_serve}, {"check", run_check}, {"explain", run_explain},
        {"status", run_status}, {"reset", run_reset},
    };
    if (argc < 2) {
        std::fputs(kUsage, stderr);
        return 2;
    }
    const std::string name = argv[1];
    if (name == "--help" || name == "-h" || name == "help") {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (name == "--version") {
        std::printf("quotamilter %s\n", QUOTAMILTER_VERSION);
        return 0;
    }
    auto command = commands.find(name);
    if (command == commands.end()) {
        std::fprintf(stderr, "quotamilter: unknown command '%s'\n%s", name.c_str(), kUsage);
        return 2;
    }
    try {
        return command->second(Args(argv + 2, argv + argc));
    } catch (const UsageError& e) {
        std::fprintf(stderr, "quotamilter %s: %s (see quotamilter %s --help)\n", name.c_str(), e.what(), name.c_str());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "quotamilter %s: %s\n", name.c_str(), e.what());
        return 1;
    }
}
