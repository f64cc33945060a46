// The keys the loader accepts at each level of a rule file. One list, used by
// the loader (unknown-key errors, "did you mean") and by the test that keeps
// rules/schema.json in sync.
#pragma once

#include <array>
#include <span>
#include <string_view>

namespace quotamilter::rules::keys {

inline constexpr std::array<std::string_view, 6> top_level = {"$schema", "version", "description", "groups", "defaults",
                                                              "policies"};
inline constexpr std::array<std::string_view, 5> defaults = {"verdict", "mode", "reply", "code", "xcode"};
inline constexpr std::array<std::string_view, 12> policy = {"name",   "priority", "description", "match",
                                                            "exempt", "mode",     "quotas",      "verdict",
                                                            "reply",  "code",     "xcode",       "tag_header"};
inline constexpr std::array<std::string_view, 5> match = {"sender", "recipient", "client", "sasl", "header"};
// One condition of match.header (rules-v1.md, "Content rules: headers").
inline constexpr std::array<std::string_view, 4> header_condition = {"name", "regex", "absent", "negate"};
inline constexpr std::array<std::string_view, 12> quota = {"track",  "prefix_v4", "prefix_v6", "messages",
                                                           "recipients", "bytes", "window",  "verdict",
                                                           "reply",  "code",      "xcode",     "description"};

}  // namespace quotamilter::rules::keys
