// A small option parser shared by the subcommands: `--name value`,
// `--name=value`, repeatable options, flags, and positional arguments.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace quotamilter::cli {

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class ParsedArgs {
public:
    // `with_value`: options that take a value; `flags`: options that do not.
    // Throws UsageError for an unknown option or a missing value.
    ParsedArgs(const std::vector<std::string>& args, const std::set<std::string>& with_value,
               const std::set<std::string>& flags);

    bool has(const std::string& name) const { return values_.count(name) || flags_.count(name); }
    std::optional<std::string> value(const std::string& name) const;       // last occurrence
    std::vector<std::string> values(const std::string& name) const;        // every occurrence
    const std::vector<std::string>& positional() const { return positional_; }

private:
    std::map<std::string, std::vector<std::string>> values_;
    std::set<std::string> flags_;
    std::vector<std::string> positional_;
};

}  // namespace quotamilter::cli
