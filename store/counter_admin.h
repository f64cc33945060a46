// The administrative side of the counters: what `quotamilter status` and
// `quotamilter reset` (cli/) ask of the store. Not on the hot path: each call
// may SCAN the key space (bounded; see docs/STORE.md). The filter core never
// sees this interface; it uses store/quota_store.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/quota_store.h"

namespace quotamilter::store {

// Whether an admin call did what it was asked (Outcome is for decisions).
enum class AdminStatus { ok, store_error };

struct CounterStatus {
    CounterId counter;
    std::uint64_t count = 0;     // units counted in the window now
    std::optional<std::chrono::milliseconds> next_free;  // when the oldest counted units stop counting
};

struct StatusResult {
    AdminStatus status = AdminStatus::store_error;
    std::vector<CounterStatus> counters;
    std::string error;           // store_error: what failed
    // The key space was larger than one bounded scan: the list may be partial.
    bool truncated = false;
};

struct ResetResult {
    AdminStatus status = AdminStatus::store_error;
    std::string error;           // store_error: what failed, or that the scan was truncated
};

// Every call is thread-safe and bounded by the store timeout (per SCAN step).
// No call throws: failures are AdminStatus::store_error with `error` set.
class CounterAdmin {
public:
    virtual ~CounterAdmin() = default;

    // Counters whose tracked value is `tracked_value` (all policies), for `status`.
    virtual StatusResult counters_of(const std::string& tracked_value) = 0;
    // The `max` counters with the most units, for `status` without a key.
    virtual StatusResult most_loaded(std::size_t max) = 0;
    // Deletes the counters of `tracked_value` (of one policy when given).
    // A scan that hit its bound is a store_error: not everything was deleted.
    virtual ResetResult reset(const std::string& tracked_value, const std::optional<std::string>& policy) = 0;
};

// The admin interface of the store `options` name; same rules as open_store().
std::unique_ptr<CounterAdmin> open_counter_admin(const StoreOptions& options);

}  // namespace quotamilter::store
