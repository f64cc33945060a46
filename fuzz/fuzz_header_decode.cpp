// Header values come from whoever sends mail. Decoding (unfolding, RFC 2047)
// and matching must never crash, stay within the value cap, and produce one
// line; the tracked value of a header:NAME quota stays bounded.
#include "rules/header_match.h"
#include "rules/header_text.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

using namespace quotamilter::rules;

std::vector<HeaderCondition> conditions() {
    std::vector<HeaderCondition> out;
    for (const char* pattern : {"(?i)@hudedu\\.net>?\\s*$", "^(bulk|list)$", "\\p{Cyrillic}", "(a+)+b", ".*.*=.*"}) {
        HeaderCondition condition;
        condition.name = "from";
        condition.name_as_written = "From";
        condition.regex_text = pattern;
        condition.regex = compile_header_regex(pattern).regex;
        if (!condition.regex) std::abort();
        out.push_back(condition);
    }
    HeaderCondition absent;
    absent.name = "from";
    absent.name_as_written = "From";
    absent.absent = true;
    absent.negate = true;
    out.push_back(absent);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::vector<HeaderCondition> kConditions = conditions();
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    const std::string value = decode_header_value(raw);
    if (value.size() > kMaxHeaderValueBytes) std::abort();
    if (value.find_first_of(std::string_view("\r\n", 2)) != std::string::npos) std::abort();
    const std::string small = decode_header_value(raw, 16);
    if (small.size() > 16) std::abort();
    const std::string tracked = header_tracked_value(value);
    if (tracked.size() > 320) std::abort();
    (void)decode_encoded_words(raw);
    const std::vector<HeaderField> headers = {{"from", value}, {"subject", small}};
    for (const HeaderCondition& condition : kConditions) (void)evaluate_header_condition(condition, headers, true);
    // The input as a pattern: RE2 either compiles it or says why, never hangs.
    if (size <= 256) {
        CompiledRegex compiled = compile_header_regex(raw);
        if (compiled.regex) {
            HeaderCondition condition;
            condition.name = "from";
            condition.regex = compiled.regex;
            (void)evaluate_header_condition(condition, headers, false);
        }
    }
    return 0;
}
