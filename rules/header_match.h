// Header conditions of content rules (rules-v1.md, "Content rules: headers"):
// compiled once at load time, RE2 only (linear-time matching, so no rule file
// can make the filter hang on a hostile header).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace re2 {
class RE2;
}

namespace quotamilter::rules {

// One header of the message as content rules see it.
struct HeaderField {
    std::string name;   // lower case
    std::string value;  // unfolded, encoded words decoded (rules/header_text.h)
};

// `{ "name": H, "regex": R }`, `{ "name": H, "absent": true }`, either with
// `"negate": true`.
struct HeaderCondition {
    std::string name;                     // lower case
    std::string name_as_written;          // for explain: "From"
    std::shared_ptr<const re2::RE2> regex;  // null for `absent`
    std::string regex_text;               // as written
    bool absent = false;
    bool negate = false;
};

struct HeaderConditionResult {
    bool holds = false;
    std::string reason;  // for explain; empty unless asked for
};

// Whether `condition` holds for `headers` (some header of that name matches;
// or, with `absent`, none exists), after `negate`.
HeaderConditionResult evaluate_header_condition(const HeaderCondition& condition,
                                                const std::vector<HeaderField>& headers, bool explain);

// RE2 as the loader compiles it (UTF-8, no logging, bounded memory). On
// failure: null, with RE2's message and the fragment it blames.
struct CompiledRegex {
    std::shared_ptr<const re2::RE2> regex;
    std::string error;
    std::string error_fragment;
};
CompiledRegex compile_header_regex(std::string_view pattern);

}  // namespace quotamilter::rules
