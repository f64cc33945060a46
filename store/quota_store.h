// Counters behind the quotas, as the filter core uses them on every message:
// check (read-only) and charge (all or none). Knows nothing of rule files or
// libmilter: a counter is identified by plain strings and numbers.
//
// The admin operations (`status`, `reset`) are another interface,
// store/counter_admin.h; both are opened from the same StoreOptions and may
// be the same object (every implementation is both: store/store_backend.h).
// Tests open a store with a simulated clock through store/testing.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace quotamilter::store {

// One counter: (policy, quota, tracked value). Every field appears in the
// Redis key, so redis-cli users can read it.
struct CounterId {
    std::string policy;          // "user1_ratelimit"
    std::string track;           // "sender", "client_net", "header:from"
    std::string unit;            // "messages" | "recipients" | "bytes"
    std::uint32_t window_seconds = 0;
    std::string tracked_value;   // "user1@hudedu.net", "192.0.2.0/24", "<>"

    bool operator==(const CounterId&) const = default;
};

struct CounterRequest {
    CounterId counter;
    std::uint64_t limit = 0;
    std::uint64_t cost = 0;      // units this message adds
};

// What check() and charge() decided.
enum class Outcome { admitted, refused, store_error };

struct Decision {
    Outcome outcome = Outcome::store_error;

    // refused: the first request (in request order) that does not fit
    std::size_t refused_index = 0;
    std::uint64_t count = 0;     // units counted in its window, before this message
    std::uint64_t limit = 0;
    // when `cost` would fit again; unset when cost > limit (it never will).
    // With several refusing quotas: the latest of their times, i.e. when the
    // whole message would fit (barring new traffic); see docs/STORE.md.
    std::optional<std::chrono::milliseconds> retry_after;

    std::string error;           // store_error: what failed, for the log
};

// The hot path. Every call is thread-safe and bounded by the store timeout.
// No call throws: failures are Outcome::store_error.
class QuotaStore {
public:
    virtual ~QuotaStore() = default;

    // Read-only: would every request's cost fit now? (fast refusal at MAIL/RCPT)
    virtual Decision check(std::span<const CounterRequest> requests) = 0;
    // All or none: charges every request if all fit, else charges nothing.
    virtual Decision charge(std::span<const CounterRequest> requests) = 0;
};

struct StoreOptions {
    std::string url = "redis://127.0.0.1:6379/0";   // or "memory:", "unix:///path?db=N", ...
    std::chrono::milliseconds timeout{250};          // connect and command
    std::string key_prefix = "qm:";
    std::size_t pool_size = 64;                      // most Redis connections shared by worker threads (opened as needed)
};

// Throws std::invalid_argument for a malformed URL or option. Never connects
// eagerly: a Redis that is down at start is a store_error on first use, not
// a crash.
std::unique_ptr<QuotaStore> open_store(const StoreOptions& options);

// The Redis key of a counter, e.g. "qm:{user1@hudedu.net}:user1_ratelimit:sender:messages:1800s".
std::string counter_key(const std::string& prefix, const CounterId& counter);

}  // namespace quotamilter::store
