// The Redis key layout of a counter, both ways, and the SCAN patterns that
// find a tracked value's counters. The layout (see docs/STORE.md):
//   <prefix>{<escaped tracked value>}:<policy>:<track>:<unit>:<window>s
// The tracked value is the Redis Cluster hash tag, so every counter of one
// tracked value lives in one slot.
#pragma once

#include <optional>
#include <string>

#include "store/quota_store.h"

namespace quotamilter::store::key_layout {

// `{ } %`, space and control characters as %XX; "" (the null sender) as "<>".
std::string escape_tracked_value(const std::string& value);
std::string unescape_tracked_value(const std::string& escaped);

// Escapes the glob characters of SCAN MATCH (`* ? [ ] \`).
std::string glob_escape(const std::string& literal);

// MATCH pattern for the counters of one tracked value (of one policy if given).
std::string scan_pattern(const std::string& prefix, const std::string& tracked_value,
                         const std::optional<std::string>& policy);

// The CounterId a key names, or nullopt if it is not one of ours.
std::optional<CounterId> parse_counter_key(const std::string& prefix, const std::string& key);

// A prefix must not open a hash tag of its own.
bool valid_prefix(const std::string& prefix);

}  // namespace quotamilter::store::key_layout
