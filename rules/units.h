// Durations and sizes as written in rule files ("30m", "10MB") and as shown in
// logs and replies.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace quotamilter::rules {

// "90s", "30m", "1h", "1d", "1w" (a positive integer and one unit letter).
// nullopt when malformed or when the number does not fit.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

// "500MB", "10 KiB", "1GiB", "42" or "42B": decimal (kB/KB, MB, GB, TB) and
// binary (KiB, MiB, GiB, TiB) units, case-insensitive. nullopt when malformed
// or beyond 2^63.
std::optional<std::uint64_t> parse_size(std::string_view text);

// The most readable exact form: 1800 s -> "30m", 3600 -> "1h", 86400 -> "1d",
// 604800 -> "1w", 90 -> "90s", 5400 -> "90m". Zero and negative -> "0s".
std::string format_duration(std::chrono::seconds duration);

}  // namespace quotamilter::rules
