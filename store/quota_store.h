// Counters behind the quotas: one interface, a Redis implementation and an
// in-memory one. Knows nothing of rule files or libmilter: a counter is
// identified by plain strings and numbers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

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

enum class Outcome { admitted, refused, store_error };

// What charge() did, so it can be undone by refund().
struct ChargeReceipt {
    struct Entry {
        CounterId counter;
        std::int64_t bucket_ms = 0;  // which bucket was charged
        std::uint64_t cost = 0;
    };
    std::vector<Entry> entries;
};

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
    ChargeReceipt receipt;       // admitted by charge(): what refund() undoes
};

struct CounterStatus {
    CounterId counter;
    std::uint64_t count = 0;     // units counted in the window now
    std::optional<std::chrono::milliseconds> next_free;  // when the oldest counted units stop counting
};

struct StatusResult {
    Outcome outcome = Outcome::store_error;  // admitted = ok
    std::vector<CounterStatus> counters;
    std::string error;
    // The key space was larger than one bounded scan: the list may be partial.
    bool truncated = false;
};

// Every call is thread-safe and bounded by the store timeout. No call throws:
// failures are Outcome::store_error.
class QuotaStore {
public:
    virtual ~QuotaStore() = default;

    // Read-only: would every request's cost fit now? (fast refusal at MAIL/RCPT)
    virtual Decision check(std::span<const CounterRequest> requests) = 0;
    // All or none: charges every request if all fit, else charges nothing.
    virtual Decision charge(std::span<const CounterRequest> requests) = 0;
    // Undoes a charge (units still in the window are removed). admitted = ok.
    virtual Outcome refund(const ChargeReceipt& receipt) = 0;

    // Counters whose tracked value is `tracked_value` (all policies), for `status`.
    virtual StatusResult counters_of(const std::string& tracked_value) = 0;
    // The `max` counters with the most units, for `status` without a key.
    virtual StatusResult most_loaded(std::size_t max) = 0;
    // Deletes the counters of `tracked_value` (of one policy when given); admitted = ok.
    virtual Outcome reset(const std::string& tracked_value, const std::optional<std::string>& policy) = 0;
};

struct StoreOptions {
    std::string url = "redis://127.0.0.1:6379/0";   // or "memory:", "unix:///path?db=N", ...
    std::chrono::milliseconds timeout{250};          // connect and command
    std::string key_prefix = "qm:";
    std::size_t pool_size = 64;                      // most Redis connections shared by worker threads (opened as needed)
    // Tests only: a simulated clock in ms since the epoch, used instead of
    // Redis' TIME (or the system clock for memory:).
    std::function<std::int64_t()> simulated_clock_ms;
    // Tests only: a deliberately broken window that counts this many buckets
    // more (+1) or fewer (-1) than it should, so that the property test can
    // show it catches over-admission (-1) and unjustified refusals (+1).
    int test_counted_buckets_offset = 0;
};

// Throws std::invalid_argument for a malformed URL. Never connects eagerly:
// a Redis that is down at start is a store_error on first use, not a crash.
std::unique_ptr<QuotaStore> open_store(const StoreOptions& options);

// The Redis key of a counter, e.g. "qm:{user1@hudedu.net}:user1_ratelimit:sender:messages:1800s".
std::string counter_key(const std::string& prefix, const CounterId& counter);

}  // namespace quotamilter::store
