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
inline constexpr std::array<std::string_view, 7> policy = {"name", "priority", "description", "match",
                                                           "exempt", "mode",     "quotas"};
inline constexpr std::array<std::string_view, 4> match = {"sender", "recipient", "client", "sasl"};
inline constexpr std::array<std::string_view, 12> quota = {"track",  "prefix_v4", "prefix_v6", "messages",
                                                           "recipients", "bytes", "window",  "verdict",
                                                           "reply",  "code",      "xcode",     "description"};

// Keys of the content-rule stage (rules-v1.md "Content rules: headers"),
// recognised so that the error says "not supported yet" instead of "unknown".
inline constexpr std::array<std::string_view, 5> policy_later = {"verdict", "reply", "code", "xcode", "tag_header"};
inline constexpr std::array<std::string_view, 1> match_later = {"header"};

}  // namespace quotamilter::rules::keys
