// The bucket arithmetic of the sliding windows, shared by the in-memory store
// (which runs it here) and the Redis store (which computes the per-quota
// constants here and passes them to every Lua script as ARGV), so that the two
// implementations cannot drift apart. bucket_width_ms() is the authority for
// the width: store/lua/count.lua repeats the rule only for operators who run
// it by hand with the window alone (tests/store/store_redis_test.cpp pins the
// two to each other).
//
// A window of W ms is cut into k buckets of g = W/k ms, k being the smallest
// divisor of W in [60, 100] (100 always divides W = 1000 * seconds), so
// g <= W/60. At time t the current bucket starts at b = t - t mod g (or at the
// key's newest bucket, if that is later: a clock stepped back only makes the
// count stricter), and the count is the sum of every bucket starting at or
// after b - W. Those buckets cover [b - W, t], a superset of the true window
// (t - W, t] that is at most g longer: never an under-count, an over-count of
// at most W/60 in time.
#pragma once

#include <cstdint>

namespace quotamilter::store::window_math {

inline constexpr std::int64_t window_ms(std::uint32_t window_seconds) {
    return static_cast<std::int64_t>(window_seconds) * 1000;
}

// Bucket width g in ms for a window of w_ms (> 0).
inline constexpr std::int64_t bucket_width_ms(std::int64_t w_ms) {
    for (std::int64_t k = 60; k <= 100; ++k)
        if (w_ms % k == 0) return w_ms / k;
    return w_ms / 100;  // unreachable for whole seconds: 100 divides 1000*s
}

inline constexpr std::int64_t bucket_start(std::int64_t now_ms, std::int64_t g) {
    return now_ms - now_ms % g;
}

// Start of the current bucket, kept monotonic per key by the newest bucket.
inline constexpr std::int64_t current_bucket(std::int64_t now_ms, std::int64_t g,
                                             std::int64_t newest_bucket) {
    const std::int64_t b = bucket_start(now_ms, g);
    return b > newest_bucket ? b : newest_bucket;
}

// The oldest bucket start that still counts when the current bucket is b.
// `offset` != 0 counts that many buckets more (or fewer): the deliberately
// broken variants the property test must catch (tests only).
inline constexpr std::int64_t first_counted_bucket(std::int64_t b, std::int64_t w_ms,
                                                   std::int64_t g,
                                                   int offset = 0) {
    return b - w_ms - offset * g;
}

// The time at which a bucket starting at s stops counting, given that the
// counted range starts `lag = b - first_counted` before the current bucket.
inline constexpr std::int64_t bucket_stops_counting_at(std::int64_t s, std::int64_t lag,
                                                       std::int64_t g) {
    return s + lag + g;
}

}  // namespace quotamilter::store::window_math
