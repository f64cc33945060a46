// Internal to store/ (and, through store/testing.h, to its tests): what every
// implementation (store/memory_store.h, store/redis_store.h,
// store/cluster_store.h) is. One object serves the hot path (QuotaStore) and
// the admin operations (CounterAdmin); the factory (store/store_factory.cpp)
// hands each user only the face it needs.
//
// Refunds live here, not in the public interfaces: a charge is atomic on one
// Redis (one script), so nothing outside store/ ever needs to undo one. The
// cluster store refunds internally the slots that admitted when another slot
// of the same message refused (store/cluster_store.cpp, store/lua/refund.lua);
// the memory store models the same refund so that the step-by-step comparison
// of the two (tests/store/store_redis_test.cpp) covers refund.lua too.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "store/counter_admin.h"
#include "store/quota_store.h"

namespace quotamilter::store {

// What a charge did, so that it can be undone by refund().
struct ChargeReceipt {
    struct Entry {
        CounterId counter;
        std::int64_t bucket_ms = 0;  // which bucket was charged
        std::uint64_t cost = 0;
    };
    std::vector<Entry> entries;      // in request order, requests of cost 0 left out
};

// Knobs only tests set (through store/testing.h); production passes {}.
struct TestHooks {
    // A simulated clock in ms since the epoch, used instead of Redis' TIME
    // (or the system clock for memory:).
    std::function<std::int64_t()> simulated_clock_ms;
    // A deliberately broken window that counts this many buckets more (+1)
    // or fewer (-1) than it should, so that the property test can show it
    // catches over-admission (-1) and unjustified refusals (+1).
    int counted_buckets_offset = 0;
};

class StoreBackend : public QuotaStore, public CounterAdmin {
public:
    // charge(), also saying what was charged (`receipt` is replaced; empty
    // unless admitted).
    virtual Decision charge_with_receipt(std::span<const CounterRequest> requests,
                                         ChargeReceipt& receipt) = 0;
    // Undoes a charge: units still in the window are removed, units already
    // out of it are left alone. False (no throw) when the store failed.
    virtual bool refund(const ChargeReceipt& receipt) = 0;
};

// open_store() with test hooks: checks the options, picks the implementation
// from the URL. Throws std::invalid_argument like open_store().
std::unique_ptr<StoreBackend> open_store_backend(const StoreOptions& options, const TestHooks& hooks);

}  // namespace quotamilter::store
