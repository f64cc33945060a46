// The headers a message's content rules look at, kept between the header
// callbacks and end of message. Only the names some rule uses are kept, and
// within bounds whatever a client sends (documented in docs/CONFIG.md):
//   - each value is unfolded and RFC 2047-decoded, then cut to 64 KiB;
//   - at most 256 KiB of values in all, and at most 1000 headers, per message.
// Past a bound, a header is still recorded (with an empty value) if no header
// of its name was kept yet, so that "absent" stays true to the message.
#pragma once

#include "rules/header_match.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace quotamilter::filter {

inline constexpr std::size_t kMaxKeptHeaderBytes = 256 * 1024;
inline constexpr std::size_t kMaxKeptHeaders = 1000;

class HeaderCollector {
public:
    // `wanted`: lower-case names (RuleSet::header_names()).
    explicit HeaderCollector(std::vector<std::string> wanted) : wanted_(std::move(wanted)) {}

    // One header as the MTA sent it (name, raw value with its folding).
    void add(std::string_view name, std::string_view raw_value);

    const std::vector<rules::HeaderField>& headers() const { return headers_; }
    std::size_t kept_bytes() const { return kept_bytes_; }
    bool truncated() const { return truncated_; }  // some value was cut or left out

private:
    std::vector<std::string> wanted_;
    std::vector<rules::HeaderField> headers_;
    std::size_t kept_bytes_ = 0;
    bool truncated_ = false;
};

}  // namespace quotamilter::filter
