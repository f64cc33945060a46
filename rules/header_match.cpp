#include "rules/header_match.h"

#include <re2/re2.h>

#include <cstdint>

namespace quotamilter::rules {
namespace {

// RE2's default is 8 MiB per regex; a rule file may hold many of them, and a
// header regex that needs more is surely a mistake.
constexpr std::int64_t kRegexMemory = 2 * 1024 * 1024;

std::string shorten(std::string_view value) {
    constexpr std::size_t kShown = 60;
    if (value.size() <= kShown) return std::string(value);
    return std::string(value.substr(0, kShown)) + "...";
}

}  // namespace

CompiledRegex compile_header_regex(std::string_view pattern) {
    RE2::Options options;
    options.set_log_errors(false);
    options.set_max_mem(kRegexMemory);
    options.set_encoding(RE2::Options::EncodingUTF8);
    auto regex = std::make_shared<const RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
    CompiledRegex result;
    if (!regex->ok()) {
        result.error = regex->error();
        result.error_fragment = regex->error_arg();
        return result;
    }
    result.regex = std::move(regex);
    return result;
}

HeaderConditionResult evaluate_header_condition(const HeaderCondition& condition,
                                                const std::vector<HeaderField>& headers, bool explain) {
    const HeaderField* found = nullptr;   // the first header of that name (absent), or the one that matched
    std::size_t seen = 0;
    for (const HeaderField& header : headers) {
        if (header.name != condition.name) continue;
        ++seen;
        if (condition.absent) {
            found = &header;
            break;
        }
        if (RE2::PartialMatch(re2::StringPiece(header.value.data(), header.value.size()), *condition.regex)) {
            found = &header;
            break;
        }
    }
    const bool raw = condition.absent ? found == nullptr : found != nullptr;
    HeaderConditionResult result;
    result.holds = condition.negate ? !raw : raw;
    if (!explain) return result;
    const std::string& name = condition.name_as_written;
    std::string what;
    if (condition.absent) {
        what = found ? "header " + name + " is present" : "header " + name + " is absent";
    } else if (found) {
        what = "header " + name + ": \"" + shorten(found->value) + "\" matches /" + condition.regex_text + "/";
    } else if (seen == 0) {
        what = "no header " + name + " (so nothing matches /" + condition.regex_text + "/)";
    } else {
        what = "no header " + name + " matches /" + condition.regex_text + "/ (" + std::to_string(seen) +
               (seen == 1 ? " header" : " headers") + ")";
    }
    if (condition.negate) what += raw ? ", negated: does not hold" : ", negated: holds";
    result.reason = std::move(what);
    return result;
}

}  // namespace quotamilter::rules
