// The quotamilter subcommands (docs/spec/cli-v1.md). Each takes the
// arguments after its name and returns the process exit code:
// 0 success, 1 the answer is "no" (invalid file, over quota), 2 usage error.
#pragma once

#include <string>
#include <vector>

namespace quotamilter::cli {

using Args = std::vector<std::string>;

int run_serve(const Args& args);    // cli/command_serve.cpp
int run_check(const Args& args);    // cli/command_check.cpp
int run_explain(const Args& args);  // cli/command_explain.cpp
int run_status(const Args& args);   // cli/command_status.cpp
int run_reset(const Args& args);    // cli/command_reset.cpp

}  // namespace quotamilter::cli
