#include "rules/units.h"

#include <cctype>
#include <limits>

namespace quotamilter::rules {
namespace {

// Parses leading decimal digits; nullopt on none or overflow.
std::optional<std::uint64_t> leading_number(std::string_view& text) {
    std::uint64_t value = 0;
    std::size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
        const std::uint64_t digit = static_cast<std::uint64_t>(text[digits] - '0');
        if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
        value = value * 10 + digit;
        ++digits;
    }
    if (digits == 0) return std::nullopt;
    text.remove_prefix(digits);
    return value;
}

std::string lower_ascii(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
    auto number = leading_number(text);
    if (!number || text.size() != 1) return std::nullopt;
    std::uint64_t factor = 0;
    switch (text[0]) {
        case 's': factor = 1; break;
        case 'm': factor = 60; break;
        case 'h': factor = 3600; break;
        case 'd': factor = 86400; break;
        case 'w': factor = 7 * 86400; break;
        default: return std::nullopt;
    }
    // Anything beyond ~292 years is out of range anyway; avoid overflow.
    if (*number > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / factor) return std::nullopt;
    return std::chrono::seconds(static_cast<std::int64_t>(*number * factor));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    auto number = leading_number(text);
    if (!number) return std::nullopt;
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    const std::string unit = lower_ascii(text);
    std::uint64_t factor = 0;
    if (unit.empty() || unit == "b") factor = 1;
    else if (unit == "kb") factor = 1000ULL;
    else if (unit == "mb") factor = 1000ULL * 1000;
    else if (unit == "gb") factor = 1000ULL * 1000 * 1000;
    else if (unit == "tb") factor = 1000ULL * 1000 * 1000 * 1000;
    else if (unit == "kib") factor = 1ULL << 10;
    else if (unit == "mib") factor = 1ULL << 20;
    else if (unit == "gib") factor = 1ULL << 30;
    else if (unit == "tib") factor = 1ULL << 40;
    else return std::nullopt;
    if (*number > (std::uint64_t{1} << 63) / factor) return std::nullopt;
    return *number * factor;
}

std::string format_duration(std::chrono::seconds duration) {
    const std::int64_t seconds = duration.count();
    if (seconds <= 0) return "0s";
    // Largest unit that divides exactly; a week is only used when exact.
    static constexpr struct { std::int64_t seconds; char letter; } kUnits[] = {
        {7 * 86400, 'w'}, {86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
    for (const auto& unit : kUnits) {
        if (seconds % unit.seconds == 0) return std::to_string(seconds / unit.seconds) + unit.letter;
    }
    return std::to_string(seconds) + "s";
}

}  // namespace quotamilter::rules
