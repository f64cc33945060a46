// The store on a Redis Cluster: each message's quotas are decided per slot
// (all counters of one tracked value share a slot, through the hash tag).
// A charge over several slots charges slot by slot and refunds the earlier
// slots when a later one refuses or fails, so nothing is ever over-admitted
// and a refused message leaves nothing charged (but see docs/STORE.md for a
// crash between the two). check() combines the per-slot answers; status,
// reset and most_loaded SCAN every master.
#pragma once

#include <memory>

#include "store/store_backend.h"
#include "store/redis_url.h"

namespace quotamilter::store {

std::unique_ptr<StoreBackend> make_cluster_store(const RedisTopology& topology,
                                                 const StoreOptions& options, const TestHooks& hooks);

}  // namespace quotamilter::store
