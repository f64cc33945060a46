// Reading rule files: parse, validate, report every problem as FILE:LINE:COL.
#pragma once

#include "rules/rule_set.h"

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace quotamilter::rules {

struct Diagnostic {
    std::string file;
    int line = 0;      // 1-based
    int column = 0;    // 1-based, in bytes
    std::string message;

    std::string str() const;  // "FILE:LINE:COL: message"
};

// Either the rules, or every error found (never both, never neither).
using LoadResult = std::variant<RuleSet, std::vector<Diagnostic>>;

LoadResult load_rules_file(const std::string& path);
LoadResult load_rules_text(std::string_view text, const std::string& file_name);

}  // namespace quotamilter::rules
