#include "store/key_layout.h"

#include <charconv>

namespace quotamilter::store {

namespace key_layout {
namespace {

bool needs_escape(unsigned char c) {
    return c < 0x20 || c == 0x7f || c == ' ' || c == '{' || c == '}' || c == '%';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

std::string escape_tracked_value(const std::string& value) {
    if (value.empty()) return "<>";  // never an empty hash tag
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(value.size());
    for (unsigned char c : value) {
        if (needs_escape(c)) {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xf];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

std::string unescape_tracked_value(const std::string& escaped) {
    std::string out;
    out.reserve(escaped.size());
    for (std::size_t i = 0; i < escaped.size(); ++i) {
        if (escaped[i] == '%' && i + 2 < escaped.size()) {
            const int hi = hex_value(escaped[i + 1]);
            const int lo = hex_value(escaped[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out += escaped[i];
    }
    return out;
}

std::string glob_escape(const std::string& literal) {
    std::string out;
    for (char c : literal) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

std::string scan_pattern(const std::string& prefix, const std::string& tracked_value,
                         const std::optional<std::string>& policy) {
    std::string pattern = glob_escape(prefix) + "{" +
                          glob_escape(escape_tracked_value(tracked_value)) + "}:";
    if (policy) pattern += glob_escape(*policy) + ":";
    return pattern + "*";
}

std::optional<CounterId> parse_counter_key(const std::string& prefix, const std::string& key) {
    if (key.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
    std::size_t pos = prefix.size();
    if (pos >= key.size() || key[pos] != '{') return std::nullopt;
    const std::size_t close = key.find('}', pos + 1);
    if (close == std::string::npos || close + 1 >= key.size() || key[close + 1] != ':')
        return std::nullopt;
    CounterId id;
    id.tracked_value = unescape_tracked_value(key.substr(pos + 1, close - pos - 1));
    // The rest is policy:track:unit:Ws; policy names have no ':', tracks may.
    const std::string rest = key.substr(close + 2);
    const std::size_t first = rest.find(':');
    const std::size_t last = rest.rfind(':');
    if (first == std::string::npos || last == first) return std::nullopt;
    const std::size_t unit_start = rest.rfind(':', last - 1);
    if (unit_start == std::string::npos || unit_start <= first) return std::nullopt;
    id.policy = rest.substr(0, first);
    id.track = rest.substr(first + 1, unit_start - first - 1);
    id.unit = rest.substr(unit_start + 1, last - unit_start - 1);
    const std::string window = rest.substr(last + 1);
    if (window.size() < 2 || window.back() != 's') return std::nullopt;
    const auto [end, ec] = std::from_chars(window.data(), window.data() + window.size() - 1,
                                           id.window_seconds);
    if (ec != std::errc{} || end != window.data() + window.size() - 1 || id.window_seconds == 0)
        return std::nullopt;
    if (id.policy.empty() || id.track.empty() || id.unit.empty()) return std::nullopt;
    return id;
}

bool valid_prefix(const std::string& prefix) {
    return prefix.find_first_of("{}") == std::string::npos;
}

}  // namespace key_layout

std::string counter_key(const std::string& prefix, const CounterId& counter) {
    return prefix + "{" + key_layout::escape_tracked_value(counter.tracked_value) + "}:" +
           counter.policy + ":" + counter.track + ":" + counter.unit + ":" +
           std::to_string(counter.window_seconds) + "s";
}

}  // namespace quotamilter::store
