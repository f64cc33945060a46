#include "cli/cli_args.h"

namespace quotamilter::cli {

ParsedArgs::ParsedArgs(const std::vector<std::string>& args, const std::set<std::string>& with_value,
                       const std::set<std::string>& flags) {
    bool only_positional = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (only_positional || arg.size() < 2 || arg.rfind("--", 0) != 0) {
            if (arg == "--") { only_positional = true; continue; }
            positional_.push_back(arg);
            continue;
        }
        std::string name = arg.substr(2);
        std::optional<std::string> inline_value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            inline_value = name.substr(eq + 1);
            name.resize(eq);
        }
        if (with_value.count(name)) {
            if (inline_value) {
                values_[name].push_back(*inline_value);
            } else if (i + 1 < args.size()) {
                values_[name].push_back(args[++i]);
            } else {
                throw UsageError("option --" + name + " needs a value");
            }
        } else if (flags.count(name) && !inline_value) {
            flags_.insert(name);
        } else {
            throw UsageError("unknown option --" + name);
        }
    }
}

std::optional<std::string> ParsedArgs::value(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
}

std::vector<std::string> ParsedArgs::values(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
}

}  // namespace quotamilter::cli
